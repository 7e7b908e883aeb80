"""Mapping of a :class:`logging.LogRecord` onto one Sawmill event (a dict).

Field names are the ones the server recognises (python-json-logger's names
for the rest): ``timestamp``, ``level``, ``message``, ``logger``,
``request_id``, ``trace_id``, ``span_id``, ``service``, ``environment``,
``host``, and ``exception.type`` / ``exception.message`` /
``exception.stack`` (sent as a nested ``exception`` object, which the server
flattens). Everything else becomes an attribute.

Records are never mutated; values that are not JSON are converted with
``repr`` (``datetime``/``date`` with ``isoformat``).
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import math
import os
import traceback
from typing import Any, Dict, List, Optional

from . import context

# Attributes every LogRecord has; anything else on a record came from
# ``extra`` (or a filter) and is sent as an attribute.
_STANDARD = frozenset(
    vars(logging.LogRecord("n", logging.INFO, "p", 1, "m", None, None)).keys()
) | {"message", "asctime", "taskName", "created_ns"}

#: Frames sent per exception in ``exception.frames`` (the stack text keeps all).
MAX_FRAMES = 50
#: Exceptions followed along ``__cause__``/``__context__``.
MAX_CHAIN = 5
#: Depth up to which nested extra values are kept as JSON.
MAX_DEPTH = 8

_STDLIB_DIR = os.path.dirname(os.__file__)


def iso_time(created: float) -> str:
    """Format a ``time.time()`` value as RFC 3339 UTC with microseconds."""
    secs = int(created)
    micros = int(round((created - secs) * 1e6))
    if micros >= 1000000:
        secs, micros = secs + 1, micros - 1000000
    t = _dt.datetime.fromtimestamp(secs, _dt.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S") + ".%06dZ" % micros


def _qualname(t: type) -> str:
    mod = getattr(t, "__module__", None)
    name = getattr(t, "__qualname__", None) or getattr(t, "__name__", "?")
    if mod in (None, "builtins", "__main__"):
        return name
    return mod + "." + name


def _safe_str(v: Any) -> str:
    try:
        return str(v)
    except Exception:  # noqa: BLE001 - a broken __str__ must not lose the record
        return "<unprintable %s>" % type(v).__name__


def _frames(tb: Any) -> List[Dict[str, Any]]:
    out = []
    for fs in traceback.extract_tb(tb)[-MAX_FRAMES:]:
        fn = fs.filename or ""
        in_app = not (
            fn.startswith(_STDLIB_DIR)
            or "site-packages" in fn
            or "dist-packages" in fn
            or fn.startswith("<")
        )
        out.append({"file": fn, "function": fs.name, "line": fs.lineno, "in_app": in_app})
    return out


def exception_dict(exc_info: Any, handled: bool = True) -> Optional[Dict[str, Any]]:
    """Return the structured form of ``exc_info`` (a ``sys.exc_info()``
    triple or an exception): type, message, stack, module, handled, frames
    (innermost last, at most :data:`MAX_FRAMES`) and the chain of causes."""
    if isinstance(exc_info, BaseException):
        exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
    if not isinstance(exc_info, tuple) or len(exc_info) != 3 or exc_info[0] is None:
        return None
    etype, value, tb = exc_info
    try:
        stack = "".join(traceback.format_exception(etype, value, tb)).rstrip("\n")
    except Exception:  # noqa: BLE001
        stack = "%s: %s" % (_qualname(etype), _safe_str(value))
    d: Dict[str, Any] = {
        "type": _qualname(etype),
        "message": _safe_str(value) if value is not None else "",
        "stack": stack,
        "module": getattr(etype, "__module__", ""),
        "handled": handled,
        "frames": _frames(tb),
    }
    chain = []
    seen = {id(value)}
    cur = value
    while cur is not None and len(chain) < MAX_CHAIN:
        nxt = cur.__cause__ or (None if cur.__suppress_context__ else cur.__context__)
        if nxt is None or id(nxt) in seen:
            break
        seen.add(id(nxt))
        chain.append({"type": _qualname(type(nxt)), "message": _safe_str(nxt)})
        cur = nxt
    if chain:
        d["chain"] = chain
    return d


def _jsonable(v: Any, depth: int = 0) -> Any:
    """Return a JSON-safe copy of v: containers copied, NaN/inf as strings,
    everything else that json cannot encode through repr."""
    if v is None or isinstance(v, (str, bool, int)):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else repr(v)
    if depth >= MAX_DEPTH:
        return _repr(v)
    if isinstance(v, dict):
        return {k if isinstance(k, str) else _repr(k): _jsonable(x, depth + 1) for k, x in v.items()}
    if isinstance(v, (list, tuple, set, frozenset)):
        return [_jsonable(x, depth + 1) for x in v]
    return _default(v)


def _repr(v: Any) -> str:
    try:
        return repr(v)
    except Exception:  # noqa: BLE001
        return "<unrepresentable %s>" % type(v).__name__


def _default(v: Any) -> Any:
    if isinstance(v, (_dt.datetime, _dt.date, _dt.time)):
        return v.isoformat()
    if isinstance(v, BaseException):
        return "%s: %s" % (_qualname(type(v)), _safe_str(v))
    return _repr(v)


def dumps(d: Dict[str, Any]) -> str:
    """Encode an event dict as one line of compact JSON; never raises for
    odd values (they go through :func:`_jsonable`)."""
    try:
        return json.dumps(d, default=_default, allow_nan=False, separators=(",", ":"), ensure_ascii=False)
    except (ValueError, TypeError, RecursionError):
        return json.dumps(_jsonable(d), separators=(",", ":"), ensure_ascii=False)


def to_dict(
    record: logging.LogRecord,
    defaults: Optional[Dict[str, Any]] = None,
) -> Dict[str, Any]:
    """Return the event for ``record``: its own fields first, then its
    ``extra`` fields, then the context fields (:mod:`sawmill.context`) and
    ``defaults`` (service, environment, host) for names still free. The
    record is not modified."""
    d: Dict[str, Any] = {
        "timestamp": iso_time(record.created),
        "level": record.levelname,
        "message": _message(record),
        "logger": record.name,
    }
    if record.args and isinstance(record.msg, str):
        # The template lets the server group "Post %s published" across values.
        d["message_template"] = record.msg
    d.update(
        module=record.module,
        funcName=record.funcName,
        lineno=record.lineno,
        pathname=record.pathname,
        process=record.process,
        processName=record.processName,
        thread=record.thread,
        threadName=record.threadName,
    )
    if record.levelno not in (10, 20, 30, 40, 50):
        d["severity_number"] = _severity(record.levelno)
    if record.exc_info:
        exc = exception_dict(record.exc_info)
        if exc is not None:
            d["exception"] = exc
    elif record.exc_text:
        d["exception"] = {"stack": record.exc_text}
    if record.stack_info:
        d["stack_info"] = record.stack_info
    for k, v in record.__dict__.items():
        if k not in _STANDARD and k not in d and not k.startswith("_"):
            d[k] = v
    for k, v in context.fields().items():
        d.setdefault(k, v)
    if defaults:
        for k, v in defaults.items():
            if v:
                d.setdefault(k, v)
    return d


def _message(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()
    except Exception:  # noqa: BLE001 - bad args must not lose the record
        return "%s %% %s" % (_safe_str(record.msg), _repr(record.args))


def _severity(levelno: int) -> int:
    """Map a custom level onto the OpenTelemetry scale (DEBUG 10 → 5,
    INFO 20 → 9, WARNING 30 → 13, ERROR 40 → 17, CRITICAL 50 → 21)."""
    if levelno < 10:
        return 1
    return max(1, min(24, 5 + (levelno - 10) * 4 // 10))
