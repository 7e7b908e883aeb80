"""Record mapping and the scrubbing filter."""

from __future__ import annotations

import copy
import datetime
import json
import logging
import os
import sys
import threading
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import sawmill  # noqa: E402


class Capture(logging.Handler):
    """Keeps records and the events sawmill makes of them at emit time."""

    def __init__(self) -> None:
        super().__init__()
        self.records = []
        self.events = []
        self.snapshots = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.snapshots.append(dict(record.__dict__))
        self.events.append(json.loads(sawmill.record.dumps(sawmill.to_dict(record, {"service": "svc", "host": "h1"}))))


def capture(tc: unittest.TestCase, *filters: logging.Filter) -> "tuple[logging.Logger, Capture]":
    c = Capture()
    for f in filters:
        c.addFilter(f)
    log = logging.getLogger("rec.%s" % tc.id())
    log.propagate = False
    log.setLevel(logging.DEBUG)
    log.addHandler(c)
    tc.addCleanup(log.removeHandler, c)
    return log, c


class Odd:
    def __repr__(self) -> str:
        return "<Odd>"


class Mapping(unittest.TestCase):
    def test_fields(self) -> None:
        log, c = capture(self)
        cart = {"items": [1, 2], "when": datetime.date(2026, 11, 26)}
        with sawmill.bind(request_id="req-1", user_id=42):
            log.warning("checkout %s", "done", extra={"cart": cart, "odd": Odd(), "ratio": float("nan"), "service": "own"})
        e = c.events[0]
        want = {
            "level": "WARNING", "message": "checkout done", "message_template": "checkout %s",
            "logger": log.name, "module": "test_record", "funcName": "test_fields",
            "process": os.getpid(), "thread": threading.get_ident(), "request_id": "req-1", "user_id": 42,
            "cart": {"items": [1, 2], "when": "2026-11-26"}, "odd": "<Odd>", "ratio": "nan",
            "service": "own", "host": "h1",
        }
        for k, v in want.items():
            self.assertEqual(e.get(k), v, k)
        self.assertIsInstance(e["lineno"], int)
        self.assertTrue(e["timestamp"].endswith("Z"))
        self.assertEqual(cart, {"items": [1, 2], "when": datetime.date(2026, 11, 26)}, "extra value mutated")
        log.info("outside")
        self.assertNotIn("request_id", c.events[1])

    def test_timestamp_from_record(self) -> None:
        cases = [(0.0, "1970-01-01T00:00:00.000000Z"), (1764155739.5, "2025-11-26T11:15:39.500000Z"),
                 (1.9999999, "1970-01-01T00:00:02.000000Z")]
        for created, want in cases:
            with self.subTest(created=created):
                self.assertEqual(sawmill.record.iso_time(created), want)

    def test_structured_exception_with_chain(self) -> None:
        log, c = capture(self)

        def inner() -> None:
            raise KeyError("sku")

        try:
            try:
                inner()
            except KeyError as e:
                raise ValueError("bad cart") from e
        except ValueError:
            log.exception("payment failed")
        ex = c.events[0]["exception"]
        self.assertEqual(ex["type"], "ValueError")
        self.assertEqual(ex["message"], "bad cart")
        self.assertIn("Traceback (most recent call last)", ex["stack"])
        self.assertIn("KeyError: 'sku'", ex["stack"])
        self.assertTrue(ex["stack"].endswith("ValueError: bad cart"))
        self.assertEqual(ex["chain"], [{"type": "KeyError", "message": "'sku'"}])
        self.assertEqual(ex["frames"][-1]["function"], "test_structured_exception_with_chain")
        self.assertTrue(ex["frames"][-1]["in_app"])
        self.assertTrue(ex["handled"])

    def test_exception_type_is_qualified(self) -> None:
        log, c = capture(self)
        try:
            json.loads("{")
        except ValueError:
            log.error("parse", exc_info=True)
        self.assertEqual(c.events[0]["exception"]["type"], "json.decoder.JSONDecodeError")

    def test_record_not_mutated(self) -> None:
        log, c = capture(self)
        h = sawmill.Handler(url="http://127.0.0.1:1")
        self.addCleanup(h.close, 0.1)
        log.addHandler(h)
        self.addCleanup(log.removeHandler, h)
        try:
            1 / 0
        except ZeroDivisionError:
            log.exception("x %d", 1, extra={"k": [1]})
        before = c.snapshots[0]
        self.assertEqual(dict(c.records[0].__dict__), before)

    def test_custom_level_severity(self) -> None:
        log, c = capture(self)
        log.log(25, "notice")
        self.assertEqual(c.events[0]["severity_number"], 11)


class Scrub(unittest.TestCase):
    def test_keys(self) -> None:
        f = sawmill.ScrubFilter(extra_keys=["pin"])
        cases = {
            "password": True, "user_password": True, "apiKey": True, "API_KEY": True, "X-Auth-Token": True,
            "db.password": True, "stripe_secret_key": True, "sessionid": True, "csrftoken": True, "pin": True,
            "author": False, "is_authenticated": False, "passenger": False, "user_id": False, "tokens_used": False,
        }
        for key, want in cases.items():
            with self.subTest(key=key):
                self.assertEqual(f.is_secret(key), want)

    def test_redacts_nested_and_text_without_touching_app_objects(self) -> None:
        log, c = capture(self, sawmill.ScrubFilter())
        payload = {"user": {"name": "ann", "password": "hunter2"}, "cards": [{"cvv": "123", "last4": "4242"}]}
        orig = copy.deepcopy(payload)
        log.info("login password=%s for %s", "hunter2", "ann", extra={"payload": payload, "api_key": "sm_x", "n": 1})
        log.info("call with %(token)s", {"token": "abc", "page": 2})
        log.info("header Authorization: Bearer-xyz ok")
        e = c.events[0]
        self.assertEqual(e["payload"], {"user": {"name": "ann", "password": "[REDACTED]"},
                                        "cards": [{"cvv": "[REDACTED]", "last4": "4242"}]})
        self.assertEqual(e["api_key"], "[REDACTED]")
        self.assertEqual(e["n"], 1)
        self.assertEqual(e["message"], "login password=[REDACTED] for ann")
        self.assertNotIn("hunter2", json.dumps(c.events))
        self.assertEqual(payload, orig, "the application's dict was modified")
        self.assertEqual(c.events[1]["message"], "call with [REDACTED]")
        self.assertEqual(c.events[2]["message"], "header Authorization: [REDACTED] ok")

    def test_clean_record_passes_unchanged(self) -> None:
        log, c = capture(self, sawmill.ScrubFilter())
        log.info("plain %s", "words", extra={"count": 3})
        self.assertEqual(c.events[0]["message"], "plain words")
        self.assertEqual(c.events[0]["message_template"], "plain %s")


if __name__ == "__main__":
    unittest.main()
