"""Celery integration: one line per task state, and task ids in context.

``sawmill.celery.install(app)`` connects Celery's signals so that

- the request id bound where a task was published travels with it (a
  ``sawmill_request_id`` message header, set in ``before_task_publish``)
  and is bound again in the worker;
- while a task runs, ``task_id`` and ``task_name`` are bound in
  :mod:`sawmill.context`, so every line logged inside it carries them;
  they are cleared at ``task_postrun``;
- the ``sawmill.task`` logger gets ``task started`` (INFO),
  ``task succeeded`` (INFO, with ``duration_ms``), ``task failed`` (ERROR,
  with ``duration_ms`` and the structured exception) and ``task retried``
  (WARNING, with the reason);
- every Sawmill handler is flushed at ``worker_process_shutdown`` (prefork
  children leave through ``os._exit``, which skips ``atexit``).

With an ``app``, ``worker_hijack_root_logger`` is set to False (unless
``keep_root_logger=False``) so the worker keeps the handlers your logging
configuration installed on the root logger.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Dict, List, Optional, Tuple

from . import context
from .handler import flush_all

task_log = logging.getLogger("sawmill.task")

HEADER = "sawmill_request_id"

_lock = threading.Lock()
# task id → stack of (start, context token): an eager retry runs the same
# task id again inside the first run.
_running: Dict[str, List[Tuple[float, Any]]] = {}
_installed = False


def _before_publish(sender: Any = None, headers: Optional[Dict[str, Any]] = None, **kw: Any) -> None:
    rid = context.get("request_id")
    if rid and headers is not None and HEADER not in headers:
        headers[HEADER] = rid


def _header(task: Any, name: str) -> Any:
    req = getattr(task, "request", None)
    if req is None:
        return None
    v = getattr(req, name, None)
    if v is None:
        hdrs = getattr(req, "headers", None) or {}
        v = hdrs.get(name) if isinstance(hdrs, dict) else None
    return v


def _prerun(sender: Any = None, task_id: Optional[str] = None, task: Any = None, **kw: Any) -> None:
    task = task or sender
    fields = {"task_id": task_id, "task_name": getattr(task, "name", None)}
    rid = _header(task, HEADER)
    if rid:
        fields["request_id"] = rid
    token = context.set_fields(**fields)
    with _lock:
        _running.setdefault(task_id or "", []).append((time.perf_counter(), token))
    task_log.info("task started", extra={"task_id": task_id, "task_name": fields["task_name"]})


def _elapsed(task_id: Optional[str]) -> Optional[float]:
    with _lock:
        v = _running.get(task_id or "")
        start = v[-1][0] if v else None
    return None if start is None else round((time.perf_counter() - start) * 1000.0, 3)


def _success(sender: Any = None, result: Any = None, **kw: Any) -> None:
    tid = _header(sender, "id")
    task_log.info(
        "task succeeded",
        extra={"task_id": tid, "task_name": getattr(sender, "name", None), "duration_ms": _elapsed(tid)},
    )


def _failure(sender: Any = None, task_id: Optional[str] = None, exception: Any = None, traceback: Any = None,
             einfo: Any = None, **kw: Any) -> None:
    exc_info = None
    if exception is not None:
        exc_info = (type(exception), exception, traceback if traceback is not None else exception.__traceback__)
    task_log.error(
        "task failed: %s", _short(exception),
        exc_info=exc_info,
        extra={"task_id": task_id, "task_name": getattr(sender, "name", None), "duration_ms": _elapsed(task_id)},
    )


def _retry(sender: Any = None, request: Any = None, reason: Any = None, einfo: Any = None, **kw: Any) -> None:
    tid = getattr(request, "id", None)
    task_log.warning(
        "task retried: %s", _short(reason),
        extra={"task_id": tid, "task_name": getattr(sender, "name", None), "duration_ms": _elapsed(tid),
               "retries": getattr(request, "retries", None)},
    )


def _postrun(sender: Any = None, task_id: Optional[str] = None, **kw: Any) -> None:
    with _lock:
        stack = _running.get(task_id or "")
        v = stack.pop() if stack else None
        if stack is not None and not stack:
            del _running[task_id or ""]
    if v is not None:
        try:
            context.reset(v[1])
        except (ValueError, RuntimeError):
            # Set in another context (should not happen): unbind by hand.
            context.set_fields(task_id=None, task_name=None)


def _short(v: Any) -> str:
    try:
        s = str(v)
    except Exception:  # noqa: BLE001
        s = type(v).__name__
    return s if len(s) <= 200 else s[:200] + "…"


def _process_shutdown(**kw: Any) -> None:
    flush_all(2.0)


def install(app: Any = None, keep_root_logger: bool = True) -> None:
    """Connect the task signals (idempotent; see the module doc)."""
    global _installed
    from celery import signals

    if app is not None and keep_root_logger:
        app.conf.worker_hijack_root_logger = False
    if _installed:
        return
    signals.before_task_publish.connect(_before_publish, weak=False, dispatch_uid="sawmill.publish")
    signals.task_prerun.connect(_prerun, weak=False, dispatch_uid="sawmill.prerun")
    signals.task_success.connect(_success, weak=False, dispatch_uid="sawmill.success")
    signals.task_failure.connect(_failure, weak=False, dispatch_uid="sawmill.failure")
    signals.task_retry.connect(_retry, weak=False, dispatch_uid="sawmill.retry")
    signals.task_postrun.connect(_postrun, weak=False, dispatch_uid="sawmill.postrun")
    signals.worker_process_shutdown.connect(_process_shutdown, weak=False, dispatch_uid="sawmill.shutdown")
    _installed = True
