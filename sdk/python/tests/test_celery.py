"""sawmill.celery: task lines, task ids in context (eager mode)."""

from __future__ import annotations

import unittest

import djsetup

djsetup.setup()

import sawmill  # noqa: E402
import sawmill.context  # noqa: E402
from djangoapp import celeryapp  # noqa: E402

LOGGERS = ("sawmill.task", "djangoapp")


class Tasks(unittest.TestCase):
    def test_success(self) -> None:
        c = djsetup.capture(self, *LOGGERS)
        r = celeryapp.add.delay(2, 3)
        self.assertEqual(r.get(), 5)
        started, inside, ok = c.events
        self.assertEqual((started["message"], started["task_id"], started["task_name"]), ("task started", r.id, "djangoapp.add"))
        self.assertEqual((inside["message"], inside["task_id"], inside["task_name"]), ("adding", r.id, "djangoapp.add"))
        self.assertEqual((ok["message"], ok["task_id"], ok["level"]), ("task succeeded", r.id, "INFO"))
        self.assertIsInstance(ok["duration_ms"], float)
        self.assertIsNone(sawmill.context.get("task_id"), "task id cleared after the task")

    def test_failure_with_structured_exception_and_request_id(self) -> None:
        c = djsetup.capture(self, *LOGGERS)
        with sawmill.bind(request_id="req-task"):
            r = celeryapp.charge.delay(17)
        self.assertEqual(r.state, "FAILURE")
        (inside,) = c.find(message="charging order 17")
        self.assertEqual((inside["task_id"], inside["request_id"], inside["order_id"]), (r.id, "req-task", 17))
        (failed,) = c.find(logger="sawmill.task", level="ERROR")
        self.assertEqual(failed["task_id"], r.id)
        self.assertEqual(failed["task_name"], "djangoapp.charge")
        self.assertEqual(failed["request_id"], "req-task")
        self.assertIsInstance(failed["duration_ms"], float)
        ex = failed["exception"]
        self.assertEqual(ex["type"], "djangoapp.celeryapp.PaymentDeclined")
        self.assertEqual(ex["message"], "card declined for order 17")
        self.assertIn("in charge", ex["stack"])

    def test_retry(self) -> None:
        c = djsetup.capture(self, *LOGGERS)
        r = celeryapp.flaky.delay()
        self.assertEqual(r.get(), "ok")
        (retried,) = c.find(level="WARNING")
        self.assertEqual(retried["task_name"], "djangoapp.flaky")
        self.assertIn("upstream busy", retried["message"])
        self.assertEqual((retried["task_id"], retried["retries"]), (r.id, 0))
        self.assertTrue(c.find(message="task succeeded", task_name="djangoapp.flaky"))
        self.assertIsNone(sawmill.context.get("task_id"), "task id cleared after an eager retry")

    def test_request_id_travels_from_publish_to_worker(self) -> None:
        from celery.app.task import Context

        from sawmill import celery as sc

        headers = {}
        with sawmill.bind(request_id="req-pub"):
            sc._before_publish(headers=headers)
        self.assertEqual(headers, {sc.HEADER: "req-pub"})

        # A worker builds the task's request from the message headers.
        class Task:
            name = "djangoapp.remote"
            request = Context(dict(headers, id="t-remote"))

        c = djsetup.capture(self, *LOGGERS)
        sc._prerun(task_id="t-remote", task=Task())
        try:
            logging_in_task = sawmill.context.fields()
            self.assertEqual((logging_in_task["request_id"], logging_in_task["task_id"]), ("req-pub", "t-remote"))
        finally:
            sc._postrun(task_id="t-remote")
        self.assertEqual(c.events[0]["request_id"], "req-pub")
        self.assertIsNone(sawmill.context.get("request_id"))
        self.assertIsNone(sawmill.context.get("task_id"))


if __name__ == "__main__":
    unittest.main()
