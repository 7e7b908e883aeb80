"""A :class:`logging.Filter` that redacts secrets before any handler sees them.

Keys that look like secrets (password, passwd, pwd, token, secret, api_key,
apikey, authorization, cookie, session id, csrf, private key, credit card
...) have their values replaced by ``"[REDACTED]"`` wherever they appear:
``extra`` fields, dicts and lists nested in them (any depth up to 16), a dict
passed as the message argument, and ``key=value`` / ``key: value`` pairs in
the message text.

The application's own objects are never modified: a scrubbed value is a new
copy set on the record. On Python 3.12+ the filter returns a scrubbed copy of
the record, so even the record other handlers see is untouched when the
filter is attached to one handler only.
"""

from __future__ import annotations

import copy
import logging
import re
import sys
from typing import Any, Iterable, Optional, Pattern

#: What a secret's value becomes.
REDACTED = "[REDACTED]"

# Matched against the key in snake_case (camelCase split), between word
# boundaries or "_", so "user_password" and "apiKey" match and "author" or
# "is_authenticated" do not.
_DEFAULT_KEYS = (
    r"(?:^|_)(?:pass(?:word|wd)?|pwd|secrets?|token|api_?key|access_?key|secret_?key|auth|authorization"
    r"|cookies?|session_?(?:id|key)|csrf|csrf_?token|xsrf|private_?key|credit_?card|card_?number|cvv|ssn)(?:_|$)"
)

_STANDARD = frozenset(
    vars(logging.LogRecord("n", logging.INFO, "p", 1, "m", None, None)).keys()
) | {"message", "asctime", "taskName"}

_MAX_DEPTH = 16
_CAMEL = re.compile(r"([a-z0-9])([A-Z])")
_SEP = re.compile(r"[-.\s]+")
_RETURNS_RECORD = sys.version_info >= (3, 12)


class ScrubFilter(logging.Filter):
    """Redacts secret-like keys in records (see the module doc).

    :param keys: a regular expression (searched, case-insensitive) that
        marks a key as secret; None: the built-in list.
    :param extra_keys: more exact key names (case-insensitive) to redact.
    :param name: passed to :class:`logging.Filter` (logger name prefix).

    Usable in a ``LOGGING`` dict: ``'filters': {'scrub': {'()':
    'sawmill.ScrubFilter'}}``.
    """

    def __init__(self, keys: Optional[str] = None, extra_keys: Iterable[str] = (), name: str = "") -> None:
        super().__init__(name)
        self.key_re: Pattern[str] = re.compile(keys or _DEFAULT_KEYS, re.IGNORECASE)
        self.extra = frozenset(k.lower() for k in extra_keys)
        self.text_re = re.compile(r"(?P<k>[A-Za-z_][\w.-]*)(?P<sep>[\"']?\s*[=:]\s*[\"']?)(?P<v>[^\s,;&\"'}]+)")

    def is_secret(self, key: Any) -> bool:
        """Whether a key names a secret."""
        if not isinstance(key, str):
            return False
        if key.lower() in self.extra:
            return True
        norm = _SEP.sub("_", _CAMEL.sub(r"\1_\2", key)).lower()
        return bool(self.key_re.search(norm))

    def scrub(self, v: Any, depth: int = 0) -> Any:
        """Return v with secret-keyed values redacted (a copy when anything
        inside changed, v itself otherwise)."""
        if depth >= _MAX_DEPTH:
            return v
        if isinstance(v, dict):
            out = {}
            changed = False
            for k, x in v.items():
                y = REDACTED if self.is_secret(k) and x is not None else self.scrub(x, depth + 1)
                changed = changed or y is not x
                out[k] = y
            return out if changed else v
        if isinstance(v, (list, tuple)):
            items = [self.scrub(x, depth + 1) for x in v]
            if any(a is not b for a, b in zip(items, v)):
                return type(v)(items) if isinstance(v, list) else tuple(items)
            return v
        if isinstance(v, str):
            return self.scrub_text(v)
        return v

    def scrub_text(self, s: str) -> str:
        """Redact ``key=value`` pairs whose key names a secret."""
        if "=" not in s and ":" not in s:
            return s
        return self.text_re.sub(
            lambda m: m.group("k") + m.group("sep") + REDACTED if self.is_secret(m.group("k")) else m.group(0), s)

    def filter(self, record: logging.LogRecord) -> Any:
        if not super().filter(record):
            return False
        changes = {}
        for k, v in record.__dict__.items():
            if k in _STANDARD:
                continue
            y = REDACTED if self.is_secret(k) and v is not None else self.scrub(v)
            if y is not v:
                changes[k] = y
        msg, args = record.msg, record.args
        if args:
            new_args = self.scrub(args)
            if new_args is not args:
                changes["args"] = new_args
        if isinstance(msg, str):
            new_msg = self.scrub_text(msg)
            if new_msg is not msg and new_msg != msg:
                changes["msg"] = new_msg
            if not args or "args" in changes:
                pass
            else:
                # A secret may be formatted in from the arguments.
                try:
                    full = msg % args
                except Exception:  # noqa: BLE001
                    full = None
                if full is not None and self.scrub_text(full) != full:
                    changes["msg"], changes["args"] = self.scrub_text(full), None
        if not changes:
            return True
        if _RETURNS_RECORD:
            record = copy.copy(record)
            record.__dict__.update(changes)
            return record
        record.__dict__.update(changes)
        return True
