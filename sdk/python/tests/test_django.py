"""sawmill.django: request ids, access lines, security events."""

from __future__ import annotations

import re
import unittest

import djsetup

djsetup.setup()

from django.contrib.auth.models import User  # noqa: E402
from django.test import Client  # noqa: E402

LOGGERS = ("sawmill.request", "sawmill.security", "djangoapp", "django.request")


class Middleware(unittest.TestCase):
    def test_request_id_honoured_or_generated_and_echoed(self) -> None:
        cases = [
            ("honoured", "req-abc.123:x", "req-abc.123:x"),
            ("generated", None, None),
            ("bad header replaced", "has spaces and <tags>", None),
            ("too long replaced", "a" * 129, None),
        ]
        for name, sent, want in cases:
            with self.subTest(name):
                c = djsetup.capture(self, *LOGGERS)
                hdr = {"HTTP_X_REQUEST_ID": sent} if sent is not None else {}
                resp = Client().get("/hello?q=secret", **hdr)
                self.assertEqual(resp.status_code, 200)
                rid = resp["X-Request-ID"]
                if want is not None:
                    self.assertEqual(rid, want)
                else:
                    self.assertRegex(rid, r"^[0-9a-f]{32}$")
                (inside,) = c.find(message="saying hello")
                self.assertEqual(inside["request_id"], rid, "lines logged in the view carry the request id")
                (access,) = c.find(logger="sawmill.request")
                self.assertEqual((access["method"], access["path"], access["status"], access["request_id"]),
                                 ("GET", "/hello", 200, rid))
                self.assertIsInstance(access["duration_ms"], float)
                self.assertGreaterEqual(access["duration_ms"], 0)
                self.assertEqual(access["level"], "INFO")
                self.assertNotIn("user_id", access)

    def test_exception_in_view(self) -> None:
        c = djsetup.capture(self, *LOGGERS)
        resp = Client(raise_request_exception=False).get("/boom", HTTP_X_REQUEST_ID="req-boom")
        self.assertEqual(resp.status_code, 500)
        self.assertEqual(resp["X-Request-ID"], "req-boom")
        (err,) = c.find(logger="django.request")
        self.assertEqual(err["request_id"], "req-boom")
        self.assertEqual(err["exception"]["type"], "RuntimeError")
        self.assertEqual(err["exception"]["message"], "view exploded")
        self.assertIn("in boom", err["exception"]["stack"])
        (access,) = c.find(logger="sawmill.request")
        self.assertEqual((access["status"], access["level"]), (500, "ERROR"))

    def test_user_id_and_security_events(self) -> None:
        user = User.objects.create_user("ann", "ann@example.com", "pw-ann-1")
        self.addCleanup(user.delete)
        c = djsetup.capture(self, *LOGGERS)
        cl = Client(REMOTE_ADDR="203.0.113.9")
        self.assertEqual(cl.post("/login", {"username": "ann", "password": "wrong"}).status_code, 401)
        self.assertEqual(cl.post("/login", {"username": "ann", "password": "pw-ann-1"}).status_code, 200)
        self.assertEqual(cl.get("/me", HTTP_X_REQUEST_ID="req-me").content, str(user.pk).encode())
        self.assertEqual(cl.get("/logout").status_code, 200)

        failed, ok, out = (c.find(security_event=k) for k in ("login_failed", "login", "logout"))
        self.assertEqual(len(failed), 1)
        self.assertEqual(failed[0]["client_address"], "203.0.113.9")
        self.assertEqual(failed[0]["level"], "WARNING")
        self.assertNotIn("user_id", failed[0])
        self.assertEqual((ok[0]["user_id"], ok[0]["client_address"]), (user.pk, "203.0.113.9"))
        self.assertEqual((out[0]["user_id"], out[0]["client_address"]), (user.pk, "203.0.113.9"))
        (inside,) = c.find(message="who am i")
        self.assertEqual((inside["user_id"], inside["request_id"]), (user.pk, "req-me"))
        (access,) = c.find(logger="sawmill.request", request_id="req-me")
        self.assertEqual(access["user_id"], user.pk)
        blob = repr(c.events)
        for pii in ("ann@example.com", "'ann'", "pw-ann-1", "wrong"):
            self.assertNotIn(pii, blob)
        self.assertFalse(re.search(r"\bann\b", " ".join(str(e.get("message")) for e in c.events)))

    def test_context_reset_after_request(self) -> None:
        import sawmill.context

        Client().get("/hello", HTTP_X_REQUEST_ID="req-gone")
        self.assertIsNone(sawmill.context.get("request_id"))
        self.assertIsNone(sawmill.context.get("user_id"))


if __name__ == "__main__":
    unittest.main()
