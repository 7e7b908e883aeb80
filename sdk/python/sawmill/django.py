"""Django integration: request logging middleware and security events.

Add ``'sawmill.django.RequestLogMiddleware'`` at the top of ``MIDDLEWARE``.
For every request it

- takes the request id from an incoming ``X-Request-ID`` header (when it is
  1-128 characters of ``[A-Za-z0-9._:-]``) or makes one (32 hex digits),
  binds it in :mod:`sawmill.context` so every line logged while the request
  runs carries ``request_id``, sets ``request.request_id`` and echoes it in
  the response's ``X-Request-ID``;
- binds ``user_id`` (the user's primary key, once authentication has run)
  — never a user name, e-mail or other PII;
- logs one line on the ``sawmill.request`` logger when the response is
  ready: ``method``, ``path`` (without the query string), ``status``,
  ``duration_ms``, ``user_id``; INFO below 400, WARNING for 4xx, ERROR for
  5xx.

Creating the middleware also connects Django's authentication signals
(:func:`connect_signals`): logins, failed logins and logouts are logged on
the ``sawmill.security`` logger with ``security_event`` (``login``,
``login_failed``, ``logout``), ``user_id`` (not for failures: the attempted
user name is PII) and ``client_address`` (``REMOTE_ADDR``; set
``SAWMILL_TRUST_X_FORWARDED_FOR = True`` in settings behind a proxy you
trust to use the first ``X-Forwarded-For`` address).

Context fields are reset when the request ends, whatever happened.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any, Callable, Optional

from . import context

request_log = logging.getLogger("sawmill.request")
security_log = logging.getLogger("sawmill.security")

_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_DISPATCH = "sawmill.django.%s"


def request_id_from(header: Optional[str]) -> str:
    """Return the incoming request id when it is acceptable, else a new one."""
    if header and _VALID_ID.match(header):
        return header
    return uuid.uuid4().hex


def user_id(request: Any) -> Optional[Any]:
    """Return the authenticated user's primary key, or None. Only the pk:
    never names or e-mails."""
    user = getattr(request, "user", None)
    try:
        if user is not None and user.is_authenticated:
            return user.pk
    except Exception:  # noqa: BLE001 - a broken session must not break logging
        return None
    return None


def client_address(request: Any) -> str:
    """The client's address: REMOTE_ADDR, or the first X-Forwarded-For
    entry when settings.SAWMILL_TRUST_X_FORWARDED_FOR is true."""
    if request is None:
        return ""
    meta = getattr(request, "META", {}) or {}
    try:
        from django.conf import settings

        trust = getattr(settings, "SAWMILL_TRUST_X_FORWARDED_FOR", False)
    except Exception:  # noqa: BLE001
        trust = False
    if trust and meta.get("HTTP_X_FORWARDED_FOR"):
        return meta["HTTP_X_FORWARDED_FOR"].split(",")[0].strip()
    return meta.get("REMOTE_ADDR", "") or ""


class RequestLogMiddleware:
    """Request ids, user ids and one access line per request (module doc)."""

    sync_capable = True
    async_capable = False

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        self.get_response = get_response
        connect_signals()

    def __call__(self, request: Any) -> Any:
        rid = request_id_from(request.META.get("HTTP_X_REQUEST_ID"))
        request.request_id = rid
        token = context.set_fields(request_id=rid, user_id=None)
        start = time.perf_counter()
        status = 500
        try:
            response = self.get_response(request)
            status = getattr(response, "status_code", 500)
            response["X-Request-ID"] = rid
            return response
        finally:
            try:
                self._log(request, status, (time.perf_counter() - start) * 1000.0)
            finally:
                context.reset(token)

    def process_view(self, request: Any, view_func: Any, view_args: Any, view_kwargs: Any) -> None:
        """Bind user_id once authentication middleware has run."""
        uid = user_id(request)
        if uid is not None:
            context.set_fields(user_id=uid)  # reset with the request's token
        return None

    def _log(self, request: Any, status: int, duration_ms: float) -> None:
        level = logging.INFO if status < 400 else logging.WARNING if status < 500 else logging.ERROR
        extra = {
            "method": request.method,
            "path": request.path,
            "status": status,
            "duration_ms": round(duration_ms, 3),
        }
        uid = user_id(request)
        if uid is not None:
            extra["user_id"] = uid
        request_log.log(level, "%s %s %d", request.method, request.path, status, extra=extra)


def _on_login(sender: Any, request: Any = None, user: Any = None, **kw: Any) -> None:
    security_log.info(
        "login succeeded",
        extra={"security_event": "login", "user_id": getattr(user, "pk", None), "client_address": client_address(request)},
    )


def _on_login_failed(sender: Any, credentials: Any = None, request: Any = None, **kw: Any) -> None:
    # credentials hold the attempted user name: PII, not logged.
    security_log.warning(
        "login failed",
        extra={"security_event": "login_failed", "client_address": client_address(request)},
    )


def _on_logout(sender: Any, request: Any = None, user: Any = None, **kw: Any) -> None:
    security_log.info(
        "logout",
        extra={"security_event": "logout", "user_id": getattr(user, "pk", None), "client_address": client_address(request)},
    )


def connect_signals() -> None:
    """Connect the login, failed-login and logout receivers (idempotent)."""
    from django.contrib.auth import signals

    signals.user_logged_in.connect(_on_login, dispatch_uid=_DISPATCH % "login")
    signals.user_login_failed.connect(_on_login_failed, dispatch_uid=_DISPATCH % "login_failed")
    signals.user_logged_out.connect(_on_logout, dispatch_uid=_DISPATCH % "logout")
