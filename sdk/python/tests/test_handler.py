"""Delivery semantics of sawmill.Handler against a local receiver."""

from __future__ import annotations

import email.utils
import logging
import logging.config
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import sawmill  # noqa: E402
from receiver import Receiver, free_port  # noqa: E402


def new_logger(tc: unittest.TestCase, handler: logging.Handler) -> logging.Logger:
    """A private logger writing only to handler; closed at test end."""
    log = logging.getLogger("t.%s.%d" % (tc.id(), id(handler)))
    log.propagate = False
    log.setLevel(logging.DEBUG)
    log.addHandler(handler)
    tc.addCleanup(log.removeHandler, handler)
    tc.addCleanup(handler.close, 1.0)
    return log


def receiver(tc: unittest.TestCase, port: int = 0) -> Receiver:
    r = Receiver(port)
    tc.addCleanup(r.close)
    return r


class Batching(unittest.TestCase):
    def test_batches_by_count_gzip_and_headers(self) -> None:
        r = receiver(self)
        h = sawmill.Handler(url=r.url, api_key="sm_k_s", batch_size=10, flush_interval=30)
        log = new_logger(self, h)
        for i in range(35):
            log.info("line %d", i, extra={"i": i})
        self.assertTrue(h.flush(5))
        self.assertEqual([len(q.lines) for q in r.requests], [10, 10, 10, 5])
        self.assertEqual([x["i"] for x in r.accepted()], list(range(35)))
        keys = set()
        for q in r.requests:
            self.assertEqual(q.headers["Content-Encoding"], "gzip")
            self.assertEqual(q.headers["Content-Type"], "application/x-ndjson")
            self.assertEqual(q.headers["Authorization"], "Bearer sm_k_s")
            keys.add(q.headers["Idempotency-Key"])
        self.assertEqual(len(keys), 4, "one Idempotency-Key per batch")
        self.assertEqual(h.stats(), {"sent": 35, "dropped": 0, "failed": 0, "queued": 0})

    def test_batches_by_time(self) -> None:
        r = receiver(self)
        h = sawmill.Handler(url=r.url, flush_interval=0.1)
        log = new_logger(self, h)
        for i in range(3):
            log.warning("tick %d", i)
        got = r.wait_lines(3)  # no flush: the interval sends them
        self.assertEqual([x["message"] for x in got], ["tick 0", "tick 1", "tick 2"])
        self.assertEqual(len(r.requests), 1)

    def test_batches_by_bytes(self) -> None:
        r = receiver(self)
        h = sawmill.Handler(url=r.url, batch_bytes=4000, flush_interval=30)
        log = new_logger(self, h)
        for i in range(20):
            log.info("x" * 900, extra={"i": i})
        self.assertTrue(h.flush(5))
        self.assertEqual(len(r.accepted()), 20)
        self.assertGreater(len(r.requests), 4)
        for q in r.requests:
            size = sum(len(sawmill.record.dumps(x)) + 1 for x in q.lines)
            self.assertLessEqual(size, 4000 + 50)

    def test_logging_from_the_sender_thread_does_not_loop(self) -> None:
        from unittest import mock

        r = receiver(self)
        h = sawmill.Handler(url=r.url, flush_interval=30)
        log = new_logger(self, h)
        post = sawmill.handler._Conn.post

        def noisy(conn, body, headers):  # an HTTP library that logs, at DEBUG
            log.debug("sending %d bytes", len(body))
            return post(conn, body, headers)

        with mock.patch.object(sawmill.handler._Conn, "post", noisy):
            log.info("one")
            self.assertTrue(h.flush(5))
            self.assertTrue(h.flush(5))
        self.assertEqual([x["message"] for x in r.accepted()], ["one"])
        self.assertEqual(len(r.requests), 1)

    def test_oversize_record_is_cut(self) -> None:
        r = receiver(self)
        h = sawmill.Handler(url=r.url)
        log = new_logger(self, h)
        log.info("y" * (300 << 10))
        self.assertTrue(h.flush(5))
        (got,) = r.accepted()
        self.assertTrue(got["sawmill.truncated"])
        self.assertLess(len(got["message"]), 70 << 10)


class Retries(unittest.TestCase):
    def test_transient_failures_reuse_idempotency_key(self) -> None:
        r = receiver(self)
        r.script = [(503, {}), (500, {}), (408, {})]
        h = sawmill.Handler(url=r.url, retry_backoff=0.01, flush_interval=30)
        log = new_logger(self, h)
        log.info("once")
        self.assertTrue(h.flush(5))
        self.assertEqual([q.status for q in r.requests], [503, 500, 408, 200])
        self.assertEqual(len({q.headers["Idempotency-Key"] for q in r.requests}), 1)
        self.assertEqual([x["message"] for x in r.accepted()], ["once"])
        self.assertEqual(h.stats()["sent"], 1)

    def test_client_error_not_retried(self) -> None:
        r = receiver(self)
        r.script = [(400, {})]
        h = sawmill.Handler(url=r.url, retry_backoff=0.01, flush_interval=30)
        log = new_logger(self, h)
        log.info("bad")
        log.info("bad too")
        self.assertFalse(h.flush(5), "flush reports the failure")
        self.assertEqual(len(r.requests), 1)
        self.assertEqual(h.stats()["failed"], 2)

    def test_retry_after_pauses_pipeline(self) -> None:
        # Retry-After is a time bound by definition: the gap must be at least
        # what the server asked (minus scheduling slack), in both forms.
        for name, value, min_gap in [
            ("seconds", lambda: "1", 0.9),
            # An HTTP date has whole seconds: now+3 s is at least 2 s away.
            ("http date", lambda: email.utils.formatdate(time.time() + 3, usegmt=True), 1.9),
        ]:
            with self.subTest(name):
                r = receiver(self)
                r.script = [(429, {"Retry-After": value()})]
                h = sawmill.Handler(url=r.url, retry_backoff=0.01, batch_size=1, flush_interval=30)
                log = new_logger(self, h)
                log.info("first")
                time.sleep(0.2)  # the 429 has been answered; the pipeline is paused
                log.info("second")
                self.assertTrue(h.flush(10))
                first = r.requests[0]
                self.assertEqual(first.status, 429)
                for q in r.requests[1:]:
                    self.assertGreaterEqual(q.at - first.at, min_gap, "a request during the pause")
                self.assertEqual(r.requests[1].headers["Idempotency-Key"], first.headers["Idempotency-Key"])
                self.assertEqual([x["message"] for x in r.accepted()], ["first", "second"])

    def test_parse_retry_after(self) -> None:
        now = 1_800_000_000.0
        cases = [
            ("", 0.0),
            ("7", 7.0),
            (" 3 ", 3.0),
            ("-1", 0.0),
            ("soon", 0.0),
            (email.utils.formatdate(now + 30, usegmt=True), 30.0),
            (email.utils.formatdate(now - 30, usegmt=True), 0.0),
        ]
        for value, want in cases:
            with self.subTest(value=value):
                self.assertAlmostEqual(sawmill.parse_retry_after(value, now), want, delta=1.0)

    def test_413_splits_batch(self) -> None:
        r = receiver(self)
        r.rule = lambda lines: (413, {}) if len(lines) > 4 else None
        h = sawmill.Handler(url=r.url, batch_size=20, flush_interval=30)
        log = new_logger(self, h)
        for i in range(20):
            log.info("split %d", i, extra={"i": i})
        self.assertTrue(h.flush(5))
        self.assertEqual(sorted(x["i"] for x in r.accepted()), list(range(20)))
        self.assertTrue(all(len(q.lines) <= 4 for q in r.requests if q.status == 200))
        self.assertEqual(h.stats()["sent"], 20)


class ServiceDown(unittest.TestCase):
    def test_fast_bounded_drop_oldest_then_delivery(self) -> None:
        port = free_port()
        total, qsize, bsize = 5000, 100, 50
        h = sawmill.Handler(url="http://127.0.0.1:%d" % port, queue_size=qsize, batch_size=bsize,
                            retry_backoff=0.05, flush_interval=0.05, max_retry_time=120)
        log = new_logger(self, h)
        start = time.perf_counter()
        for i in range(total):
            log.info("while down %d", i, extra={"i": i})
        mean_us = (time.perf_counter() - start) / total * 1e6
        # Generous bound for a loaded 2-core machine; typically 15-40 µs.
        self.assertLess(mean_us, 200, "logging must not wait for the network")
        dropped = h.stats()["dropped"]
        self.assertGreaterEqual(dropped, total - qsize - bsize)

        r = receiver(self, port)  # the service comes back
        self.assertTrue(h.flush(15))
        got = r.accepted()
        ids = [x["i"] for x in got]
        self.assertEqual(len(ids), len(set(ids)), "duplicates")
        self.assertEqual(len(ids) + h.stats()["dropped"], total)
        self.assertTrue(set(range(total - qsize, total)) <= set(ids), "the newest records are kept")
        self.assertEqual(sum(x.get("sawmill.dropped", 0) for x in got), h.stats()["dropped"])
        self.assertEqual(h.stats()["failed"], 0)

    def test_flush_and_close_are_time_capped(self) -> None:
        h = sawmill.Handler(url="http://127.0.0.1:%d" % free_port(), retry_backoff=0.05)
        log = new_logger(self, h)
        log.info("nobody listens")
        start = time.monotonic()
        self.assertFalse(h.flush(0.3))
        h.close(0.3)
        h.close(0.3)  # idempotent
        self.assertLess(time.monotonic() - start, 3.0)
        log.info("after close")
        self.assertEqual(h.stats()["dropped"], 1)
        self.assertEqual(h.stats()["failed"], 1)


EXIT_SCRIPT = r"""
import atexit, logging, sys
sys.path.insert(0, sys.argv[2])
mode = sys.argv[3]
log = logging.getLogger("exit")
log.setLevel(logging.INFO)
if mode == "late":
    # Registered before sawmill's own hook, so it runs after it: the handler
    # is closed by then and the record is dropped, without an error.
    atexit.register(lambda: log.info("after close"))
import sawmill
log.addHandler(sawmill.Handler(url=sys.argv[1], flush_interval=30))
if mode == "first-at-exit":
    # The first record arrives while the interpreter shuts down (a thread
    # may no longer start, depending on the version and the moment; then
    # close() sends inline): it must still be delivered.
    atexit.register(lambda: log.info("logged at exit"))
else:
    for i in range(3):
        log.info("before exit %d", i)
"""


class Exit(unittest.TestCase):
    def test_records_delivered_at_interpreter_exit(self) -> None:
        import subprocess

        sdk = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
        cases = [
            ("normal exit", "plain", ["before exit 0", "before exit 1", "before exit 2"]),
            ("logged after close", "late", ["before exit 0", "before exit 1", "before exit 2"]),
            ("first record at exit", "first-at-exit", ["logged at exit"]),
        ]
        for name, mode, want in cases:
            with self.subTest(name):
                r = receiver(self)
                p = subprocess.run([sys.executable, "-c", EXIT_SCRIPT, r.url, sdk, mode],
                                   capture_output=True, text=True, timeout=60)
                self.assertEqual(p.returncode, 0, p.stderr)
                self.assertNotIn("Traceback", p.stderr)
                self.assertEqual([x["message"] for x in r.accepted()], want)


class Fork(unittest.TestCase):
    @unittest.skipUnless(hasattr(os, "fork"), "needs os.fork")
    def test_child_gets_fresh_queue_and_thread(self) -> None:
        r = receiver(self)
        h = sawmill.Handler(url=r.url, flush_interval=30)
        log = new_logger(self, h)
        log.info("parent before fork")  # queued, not sent yet
        pid = os.fork()
        if pid == 0:  # child: log, flush, leave without atexit
            ok = False
            try:
                log.info("child line")
                ok = h.flush(5) and h.stats()["sent"] == 1
            finally:
                os._exit(0 if ok else 1)
        _, status = os.waitpid(pid, 0)
        self.assertEqual(os.waitstatus_to_exitcode(status) if hasattr(os, "waitstatus_to_exitcode") else status, 0)
        log.info("parent after fork")
        self.assertTrue(h.flush(5))
        got = r.accepted()
        msgs = sorted(x["message"] for x in got)
        self.assertEqual(msgs, ["child line", "parent after fork", "parent before fork"])
        child = [x for x in got if x["message"] == "child line"][0]
        self.assertEqual(child["process"], pid)


class Config(unittest.TestCase):
    def test_bad_url_is_a_clear_error(self) -> None:
        for url in ["ftp://logs.example", "logs.example:8080", "http://"]:
            with self.subTest(url=url):
                with self.assertRaisesRegex(ValueError, "url must be http"):
                    sawmill.Handler(url=url)

    def test_logging_dict_and_environment(self) -> None:
        r = receiver(self)
        env = {"SAWMILL_URL": r.url, "SAWMILL_API_KEY": "sm_env_key"}
        old = {k: os.environ.get(k) for k in env}
        os.environ.update(env)

        def restore() -> None:
            for k, v in old.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        self.addCleanup(restore)
        cfg = {
            "version": 1,
            "disable_existing_loggers": False,
            "handlers": {"sawmill": {"class": "sawmill.Handler", "service": "shop", "flush_interval": 30}},
            "loggers": {"cfgtest": {"handlers": ["sawmill"], "level": "INFO", "propagate": False}},
        }
        logging.config.dictConfig(cfg)
        logging.getLogger("cfgtest").info("configured")
        start = time.monotonic()
        # Reconfiguring closes the handler under logging's module lock: it
        # must not wait there, and its thread still delivers the record.
        logging.config.dictConfig({"version": 1, "disable_existing_loggers": False, "loggers": {"cfgtest": {"handlers": []}}})
        self.assertLess(time.monotonic() - start, 1.0)
        (got,) = r.wait_lines(1)
        self.assertEqual(got["message"], "configured")
        self.assertEqual(got["service"], "shop")
        self.assertEqual(r.requests[0].headers["Authorization"], "Bearer sm_env_key")


if __name__ == "__main__":
    unittest.main()
