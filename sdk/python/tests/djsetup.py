"""Configures Django once per test process from djangoapp.settings, without
its LOGGING (tests capture records themselves)."""

from __future__ import annotations

import json
import logging
import os
import sys
import unittest
from typing import Any, Dict, List

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import django  # noqa: E402
from django.conf import settings  # noqa: E402

import sawmill  # noqa: E402


def setup() -> None:
    """Configure Django and create the in-memory database (idempotent)."""
    if settings.configured:
        return
    from djangoapp import settings as s

    names = [n for n in dir(s) if n.isupper() and n != "LOGGING"]
    settings.configure(LOGGING_CONFIG=None, **{n: getattr(s, n) for n in names})
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


class Capture(logging.Handler):
    """Keeps the events sawmill.Handler would send, made at emit time."""

    def __init__(self) -> None:
        super().__init__()
        self.events: List[Dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.events.append(json.loads(sawmill.record.dumps(sawmill.to_dict(record))))

    def find(self, **kw: Any) -> List[Dict[str, Any]]:
        return [e for e in self.events if all(e.get(k) == v for k, v in kw.items())]


def capture(tc: unittest.TestCase, *names: str) -> Capture:
    """Capture the named loggers' records for the test's duration."""
    c = Capture()
    for n in names:
        log = logging.getLogger(n)
        old = (log.level, log.propagate)
        log.setLevel(logging.INFO)
        log.propagate = False
        log.addHandler(c)

        def undo(log: logging.Logger = log, old: Any = old) -> None:
            log.removeHandler(c)
            log.setLevel(old[0])
            log.propagate = old[1]
        tc.addCleanup(undo)
    return c
