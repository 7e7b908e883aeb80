"""Context fields that every record logged in the current context carries.

The fields (``request_id``, ``user_id``, ``task_id``, ``trace_id`` ...) live
in one :mod:`contextvars` variable, so they follow threads, asyncio tasks and
Celery tasks without leaking between them. The Django middleware and the
Celery integration set them; applications may add their own with
:func:`bind` or :func:`set_fields`.

This module must stay free of I/O and of logging calls: the handler reads it
on every record.
"""

from __future__ import annotations

import contextlib
import contextvars
from typing import Any, Dict, Iterator, Mapping, Optional

_fields: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar(
    "sawmill_fields", default={}
)


def fields() -> Mapping[str, Any]:
    """Return the fields bound in the current context (read-only; do not mutate)."""
    return _fields.get()


def get(name: str, default: Any = None) -> Any:
    """Return one bound field, or ``default`` when it is not bound."""
    return _fields.get().get(name, default)


def set_fields(**kw: Any) -> contextvars.Token:
    """Bind ``kw`` on top of the current fields and return a token for
    :func:`reset`. A value of ``None`` unbinds that name."""
    cur: Dict[str, Any] = dict(_fields.get())
    for k, v in kw.items():
        if v is None:
            cur.pop(k, None)
        else:
            cur[k] = v
    return _fields.set(cur)


def reset(token: contextvars.Token) -> None:
    """Restore the fields as they were before the :func:`set_fields` call
    that returned ``token``."""
    _fields.reset(token)


@contextlib.contextmanager
def bind(**kw: Any) -> Iterator[None]:
    """Bind ``kw`` for the duration of a ``with`` block::

        with sawmill.bind(request_id="r-1", user_id=42):
            log.info("charged")   # carries request_id and user_id
    """
    token = set_fields(**kw)
    try:
        yield
    finally:
        _fields.reset(token)


def request_id() -> Optional[str]:
    """Return the current request id, or None."""
    return _fields.get().get("request_id")
