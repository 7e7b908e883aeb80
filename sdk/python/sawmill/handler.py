"""The logging handler that ships records to Sawmill.

``emit`` never touches the network: it turns the record into one JSON line
(in the caller's thread, so later changes to the record's values cannot
change what is sent, and context variables are read where they were set)
and appends it to a bounded in-memory queue. One background thread per
handler and process cuts batches by count, bytes and time, gzips them as
NDJSON and POSTs them to ``/v1/ingest``.

Overflow drops the OLDEST queued record: when the service is down the
newest logs are the ones worth keeping. Drops are counted
(:meth:`Handler.stats`), warned about on stderr at most every ten seconds,
and reported to the server as the attribute ``sawmill.dropped`` on the first
event of the next batch that gets through.

The handler never logs through :mod:`logging`: its diagnostics go straight
to stderr, so it cannot feed on its own output.
"""

from __future__ import annotations

import atexit
import collections
import email.utils
import gzip
import http.client
import json
import logging
import os
import random
import socket
import sys
import threading
import time
import urllib.parse
import uuid
import weakref
from typing import Any, Deque, Dict, List, Optional, Tuple

from . import record as _record

__all__ = ["Handler", "flush_all", "close_all"]

#: Server limits the defaults stay inside: a body of 10 MiB decompressed,
#: an event of 256 KiB.
MAX_BODY_BYTES = 10 << 20
MAX_EVENT_BYTES = 256 << 10

_WARN_EVERY = 10.0
_RETRYABLE = frozenset({408, 429})

_handlers: "weakref.WeakSet[Handler]" = weakref.WeakSet()
_handlers_lock = threading.Lock()
_exiting = False


class _Conn:
    """One persistent HTTP(S) connection to the server, reopened after errors."""

    def __init__(self, url: str, timeout: float) -> None:
        u = urllib.parse.urlsplit(url)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ValueError("sawmill: url must be http(s)://host[:port], got %r" % url)
        self.https = u.scheme == "https"
        self.host = u.hostname
        self.port = u.port
        self.path = (u.path.rstrip("/") or "") + "/v1/ingest"
        self.timeout = timeout
        self.conn: Optional[http.client.HTTPConnection] = None

    def post(self, body: bytes, headers: Dict[str, str]) -> Tuple[int, Dict[str, Any], str]:
        """Send one request; return status, decoded JSON answer (or {}) and
        the Retry-After header. Raises OSError/HTTPException on transport
        failure (and drops the connection)."""
        try:
            if self.conn is None:
                cls = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
                conn = cls(self.host, self.port, timeout=self.timeout)
                conn.connect()
                # Headers and body go out in separate writes: without
                # TCP_NODELAY, Nagle and delayed ACKs cost ~40 ms a request.
                conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self.conn = conn
            self.conn.request("POST", self.path, body=body, headers=headers)
            resp = self.conn.getresponse()
            raw = resp.read(4 << 20)  # read to the end so the connection is reused
            status, retry_after = resp.status, resp.getheader("Retry-After", "")
            if resp.getheader("Connection", "").lower() == "close":
                self.close()
        except Exception:
            self.close()
            raise
        try:
            ans = json.loads(raw) if raw else {}
            if not isinstance(ans, dict):
                ans = {}
        except ValueError:
            ans = {}
        return status, ans, retry_after

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:  # noqa: BLE001
                pass
            self.conn = None


def parse_retry_after(value: str, now: Optional[float] = None) -> float:
    """Return the pause a Retry-After value asks for, in seconds: delay
    seconds or an HTTP date; 0 when absent, malformed or past."""
    value = (value or "").strip()
    if not value:
        return 0.0
    if value.isdigit():
        return float(int(value))
    try:
        t = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return 0.0
    if t is None:
        return 0.0
    if now is None:
        now = time.time()
    return max(t.timestamp() - now, 0.0)


class Handler(logging.Handler):
    """A :class:`logging.Handler` that ships records to Sawmill.

    Every argument is optional, so ``'class': 'sawmill.Handler'`` in a
    ``LOGGING`` dict is enough with ``SAWMILL_API_KEY`` (and ``SAWMILL_URL``)
    in the environment.

    :param url: server base URL. None: ``$SAWMILL_URL``, else
        ``http://127.0.0.1:8080``.
    :param api_key: sent as ``Authorization: Bearer``. None: ``$SAWMILL_API_KEY``.
    :param level: minimum level handled (``logging.NOTSET``: everything).
    :param service, environment: added to every event that does not carry
        its own. None: ``$SAWMILL_SERVICE`` / ``$SAWMILL_ENVIRONMENT``.
    :param host: added likewise. None: ``socket.gethostname()``.
    :param queue_size: records waiting to be sent; when full the oldest is
        dropped and counted. Default 10,000.
    :param queue_bytes: encoded bytes waiting to be sent, the same way.
        Default 64 MiB.
    :param batch_size, batch_bytes, flush_interval: a batch is sent when it
        holds ``batch_size`` records (1,000) or would exceed ``batch_bytes``
        uncompressed (1 MiB, capped at 8 MiB), or ``flush_interval`` seconds
        (1.0) after its records arrived.
    :param timeout: seconds for one HTTP request (10).
    :param max_retry_time: seconds spent retrying one batch (network errors,
        408, 429, 5xx) before it is counted as failed (60).
    :param max_retry_after: cap on the pause one Retry-After imposes (60).
    :param retry_backoff: first backoff step in seconds (0.2), doubled per
        attempt up to 10 s, upper half jittered.
    :param close_timeout: seconds :meth:`close` (and interpreter exit)
        waits for the queue to drain (2.0).

    Thread-safe; ``emit`` takes no lock shared with the network thread
    except for a few microseconds. Safe across ``os.fork``: the child starts
    with an empty queue and its own thread.
    """

    def __init__(
        self,
        url: Optional[str] = None,
        api_key: Optional[str] = None,
        level: int = logging.NOTSET,
        service: Optional[str] = None,
        environment: Optional[str] = None,
        host: Optional[str] = None,
        queue_size: int = 10000,
        queue_bytes: int = 64 << 20,
        batch_size: int = 1000,
        batch_bytes: int = 1 << 20,
        flush_interval: float = 1.0,
        timeout: float = 10.0,
        max_retry_time: float = 60.0,
        max_retry_after: float = 60.0,
        retry_backoff: float = 0.2,
        close_timeout: float = 2.0,
    ) -> None:
        super().__init__(level)
        self.url = (url or os.environ.get("SAWMILL_URL") or "http://127.0.0.1:8080").rstrip("/")
        self.api_key = api_key if api_key is not None else os.environ.get("SAWMILL_API_KEY", "")
        self.defaults = {
            "service": service if service is not None else os.environ.get("SAWMILL_SERVICE", ""),
            "environment": environment if environment is not None else os.environ.get("SAWMILL_ENVIRONMENT", ""),
            "host": host if host is not None else socket.gethostname(),
        }
        self.queue_size = max(1, int(queue_size))
        self.queue_bytes = max(1, int(queue_bytes))
        self.batch_size = max(1, int(batch_size))
        self.batch_bytes = max(1, min(int(batch_bytes), 8 << 20))
        self.flush_interval = max(0.01, float(flush_interval))
        self.timeout = float(timeout)
        self.max_retry_time = float(max_retry_time)
        self.max_retry_after = float(max_retry_after)
        self.retry_backoff = max(0.001, float(retry_backoff))
        self.close_timeout = float(close_timeout)
        _Conn(self.url, self.timeout)  # validate the URL now, not in the thread
        self._closed = False
        self._init_state()
        with _handlers_lock:
            _handlers.add(self)

    def _init_state(self) -> None:
        """(Re)create everything a process owns: queue, locks, thread, counters."""
        self._pid = os.getpid()
        self._qlock = threading.Lock()
        self._q: Deque[str] = collections.deque()
        self._qbytes = 0
        self._wake = threading.Event()
        self._abort = threading.Event()
        self._waiters: List[threading.Event] = []
        self._worker: Optional[threading.Thread] = None
        self._worker_ident: Optional[int] = None
        self._close_deadline: Optional[float] = None
        self._sent = self._dropped = self._failed = self._reported = 0
        self._inflight = 0
        self._last_warn: Dict[str, float] = {}
        self._conn: Optional[_Conn] = None

    # -- the caller's side ------------------------------------------------

    def handle(self, record: logging.LogRecord) -> Any:
        """Filter and emit ``record`` without taking the handler's lock:
        :meth:`emit` is thread-safe by itself, and a flush in progress must
        not block application threads."""
        rv = self.filter(record)
        if isinstance(rv, logging.LogRecord):  # Python 3.12+: a filter may replace the record
            record = rv
        if rv:
            self.emit(record)
        return rv

    def to_dict(self, record: logging.LogRecord) -> Dict[str, Any]:
        """Return the event ``record`` becomes (see :mod:`sawmill.record`)."""
        return _record.to_dict(record, self.defaults)

    def emit(self, record: logging.LogRecord) -> None:
        """Encode ``record`` and queue it; never blocks on I/O, never raises."""
        if threading.get_ident() == self._worker_ident and self._pid == os.getpid():
            return  # recursion guard: something logged from our own thread
        try:
            line = self._encode(record)
        except Exception:  # noqa: BLE001
            self.handleError(record)
            return
        if line is None:
            self._drop(1, "record over 256 KiB")
            return
        self._enqueue(line)

    def _encode(self, record: logging.LogRecord) -> Optional[str]:
        d = self.to_dict(record)
        line = _record.dumps(d)
        if len(line) <= MAX_EVENT_BYTES // 4 or len(line.encode("utf-8")) <= MAX_EVENT_BYTES:
            return line
        # Too big: shorten the long free-text fields, keep the rest.
        d["message"] = _cut(d.get("message", ""), 64 << 10)
        exc = d.get("exception")
        if isinstance(exc, dict):
            exc["stack"] = _cut(exc.get("stack", ""), 64 << 10)
            exc.pop("frames", None)
        d["sawmill.truncated"] = True
        line = _record.dumps(d)
        return line if len(line.encode("utf-8")) <= MAX_EVENT_BYTES else None

    def _enqueue(self, line: str) -> None:
        n = len(line)
        dropped = 0
        with self._qlock:
            if self._pid != os.getpid():
                self._after_fork_locked()
            if self._closed or _exiting:
                dropped = 1
            else:
                q = self._q
                while q and (len(q) >= self.queue_size or self._qbytes + n > self.queue_bytes):
                    self._qbytes -= len(q.popleft())
                    dropped += 1
                q.append(line)
                self._qbytes += n
                if self._worker is None:
                    self._start_locked()
                if len(q) >= self.batch_size:
                    self._wake.set()
        if dropped:
            self._drop(dropped, "queue full (oldest dropped) or handler closed")

    def _after_fork_locked(self) -> None:
        # A fork the at-fork hook missed (it runs for os.fork; this also
        # covers anything that copied the process another way).
        closed = self._closed
        self._init_state()
        self._closed = closed

    def _start_locked(self) -> None:
        if getattr(sys, "is_finalizing", lambda: False)():
            return  # no threads may start at interpreter shutdown
        t = threading.Thread(target=self._run, name="sawmill-sender", daemon=True)
        try:
            t.start()
        except RuntimeError:
            return  # interpreter shutting down (3.12+); close() sends inline
        self._worker = t

    def _drop(self, n: int, why: str) -> None:
        with self._qlock:
            self._dropped += n
            total = self._dropped
        self._warn("drop", "sawmill: dropping records: %s (%d dropped so far)" % (why, total))

    def _warn(self, kind: str, msg: str) -> None:
        now = time.monotonic()
        last = self._last_warn.get(kind)
        if last is not None and now - last < _WARN_EVERY:
            return
        self._last_warn[kind] = now
        try:
            sys.stderr.write(msg + "\n")
        except Exception:  # noqa: BLE001
            pass

    # -- flushing and closing ---------------------------------------------

    def flush(self, timeout: Optional[float] = None) -> bool:
        """Send every record queued before the call and wait for the
        answers, at most ``timeout`` seconds (default ``close_timeout``).
        Returns True when everything was sent (or nothing was queued), False
        on timeout or when records failed meanwhile (see :meth:`stats`)."""
        if timeout is None:
            timeout = self.close_timeout
        ev = threading.Event()
        with self._qlock:
            if self._pid != os.getpid():
                self._after_fork_locked()
            if self._worker is None or not self._worker.is_alive():
                return not self._q
            failed = self._failed
            self._waiters.append(ev)
            self._wake.set()
        return ev.wait(timeout) and self._failed == failed

    def close(self, timeout: Optional[float] = None) -> None:
        """Flush (at most ``timeout`` seconds, default ``close_timeout``),
        stop the background thread and detach. Idempotent; later records are
        dropped and counted. Called while :mod:`logging`'s module lock is
        held (``dictConfig`` replacing handlers), it does not wait: the
        thread drains the queue by itself, within the same time cap."""
        if timeout is None:
            timeout = self.close_timeout
        with self._qlock:
            first = not self._closed
            self._closed = True
            if first:
                self._close_deadline = time.monotonic() + timeout
            worker = self._worker if self._pid == os.getpid() else None
            self._wake.set()
        if first and not _module_lock_held():
            if worker is not None and worker.is_alive():
                worker.join(timeout)
                if worker.is_alive():
                    self._abort.set()  # give up retries; the rest counts as failed
                    worker.join(1.0)
            elif self._q and self._pid == os.getpid():
                # No thread could be started (records logged during
                # interpreter shutdown): send from here, within the cap.
                self._worker_ident = threading.get_ident()
                self._conn = _Conn(self.url, self.timeout)
                try:
                    self._ship_queued(None)
                finally:
                    self._conn.close()
        with _handlers_lock:
            _handlers.discard(self)
        super().close()

    def stats(self) -> Dict[str, int]:
        """Counters since the handler was created (in this process):
        ``sent`` accepted by the server, ``dropped`` never sent (queue full,
        handler closed, record too big), ``failed`` sent but rejected or
        given up on, ``queued`` waiting or in flight."""
        with self._qlock:
            return {
                "sent": self._sent,
                "dropped": self._dropped,
                "failed": self._failed,
                "queued": len(self._q) + self._inflight,
            }

    # -- the background thread -------------------------------------------

    def _run(self) -> None:
        self._worker_ident = threading.get_ident()
        try:
            self._conn = _Conn(self.url, self.timeout)
            while True:
                self._wake.wait(self.flush_interval)
                with self._qlock:
                    self._wake.clear()
                    waiters, self._waiters = self._waiters, []
                    n = len(self._q)
                    closing = self._closed
                self._ship_queued(n if not closing else None)
                for ev in waiters:
                    ev.set()
                if closing:
                    return
        finally:
            with self._qlock:
                for ev in self._waiters:
                    ev.set()
                self._waiters = []
            if self._conn is not None:
                self._conn.close()

    def _ship_queued(self, limit: Optional[int]) -> None:
        """Send up to ``limit`` queued records (all of them when None) in
        batches; stops early on abort."""
        while limit is None or limit > 0:
            batch = self._take(limit)
            if not batch:
                return
            if limit is not None:
                limit -= len(batch)
            self._ship(batch)
            with self._qlock:
                self._inflight -= len(batch)

    def _take(self, limit: Optional[int]) -> List[str]:
        out: List[str] = []
        size = 0
        cap = self.batch_size if limit is None else min(self.batch_size, limit)
        with self._qlock:
            q = self._q
            while q and len(out) < cap:
                n = len(q[0]) + 1
                if out and size + n > self.batch_bytes:
                    break
                line = q.popleft()
                self._qbytes -= len(line)
                out.append(line)
                size += n
            self._inflight += len(out)
        return out

    def _ship(self, batch: List[str]) -> None:
        """Deliver batch (splitting on 413) and account for the outcome."""
        if self._abort.is_set():
            self._count("failed", len(batch))
            return
        with self._qlock:
            drops = self._dropped - self._reported
        body = _encode_body(batch, drops)
        if len(batch) > 1 and len(body[1]) > MAX_BODY_BYTES:
            h = len(batch) // 2
            self._ship(batch[:h])
            self._ship(batch[h:])
            return
        try:
            status, ans, err = self._post(body[0])
        except Exception as e:  # noqa: BLE001 - the thread must survive anything
            self._conn.close()  # type: ignore[union-attr]
            status, ans, err = 0, {}, "unexpected %s: %s" % (type(e).__name__, e)
        if err is None and 200 <= status < 300:
            accepted = int(ans.get("accepted", 0) or 0)
            rejected = int(ans.get("rejected", 0) or 0)
            if accepted + rejected == 0:
                accepted = len(batch)  # not the ingest answer (a proxy?)
            with self._qlock:
                self._sent += accepted
                self._failed += rejected
                self._reported += drops
            if rejected:
                errs = ans.get("errors") or [{}]
                self._warn("rejected", "sawmill: server rejected %d of %d records: %s"
                           % (rejected, len(batch), errs[0].get("reason", "") if isinstance(errs[0], dict) else ""))
        elif err is None and status == 413 and len(batch) > 1:
            h = len(batch) // 2
            self._ship(batch[:h])
            self._ship(batch[h:])
        else:
            self._count("failed", len(batch))
            why = err or "status %d: %s" % (status, ans.get("message", ""))
            self._warn("lost", "sawmill: batch of %d records lost: %s" % (len(batch), why))

    def _count(self, what: str, n: int) -> None:
        with self._qlock:
            setattr(self, "_" + what, getattr(self, "_" + what) + n)

    def _post(self, body: bytes) -> Tuple[int, Dict[str, Any], Optional[str]]:
        """POST body, retrying transient failures with jittered exponential
        backoff or for as long as Retry-After says, within max_retry_time
        (shortened to the close deadline while closing). The thread sleeps
        meanwhile, so a pause holds up the whole pipeline. The
        Idempotency-Key is the same for every attempt."""
        headers = {
            "Content-Type": "application/x-ndjson",
            "Content-Encoding": "gzip",
            "Idempotency-Key": uuid.uuid4().hex,
            "User-Agent": "sawmill-python",
        }
        if self.api_key:
            headers["Authorization"] = "Bearer " + self.api_key
        start = time.monotonic()
        attempt = 0
        while True:
            retry_after = 0.0
            try:
                status, ans, ra = self._conn.post(body, headers)  # type: ignore[union-attr]
                if not (status in _RETRYABLE or status >= 500):
                    return status, ans, None
                retry_after = parse_retry_after(ra)
                err = "status %d" % status
            except (OSError, http.client.HTTPException) as e:
                status, ans, err = 0, {}, "%s: %s" % (type(e).__name__, e)
            wait = self._backoff(attempt)
            if retry_after > 0:
                wait = min(retry_after, self.max_retry_after)
            deadline = start + self.max_retry_time
            if self._close_deadline is not None:
                deadline = min(deadline, self._close_deadline)
            if self._abort.is_set() or time.monotonic() + wait > deadline:
                return status, ans, "gave up after %.1fs: %s" % (time.monotonic() - start, err)
            self._warn("retry", "sawmill: sending batch failed (%s); retrying in %.2fs" % (err, wait))
            if self._abort.wait(wait):
                return status, ans, "handler closed while retrying: " + err
            attempt += 1

    def _backoff(self, attempt: int) -> float:
        d = min(self.retry_backoff * (2 ** min(attempt, 16)), 10.0)
        return d / 2 + random.uniform(0, d / 2)


def _cut(s: Any, n: int) -> Any:
    if isinstance(s, str) and len(s) > n:
        return s[:n] + "…"
    return s


def _encode_body(batch: List[str], drops: int) -> Tuple[bytes, bytes]:
    """Return (gzip'd body, raw NDJSON); a nonzero drop count rides on the
    first record as ``sawmill.dropped``."""
    if drops:
        first = '{"sawmill.dropped":%d,' % drops + batch[0][1:]
        batch = [first] + batch[1:]
    raw = ("\n".join(batch) + "\n").encode("utf-8")
    return gzip.compress(raw, compresslevel=5), raw


def _module_lock_held() -> bool:
    """Whether this thread holds logging's module lock (dictConfig does
    while it closes the handlers it replaces)."""
    lock = getattr(logging, "_lock", None)
    owned = getattr(lock, "_is_owned", None)
    try:
        return bool(owned and owned())
    except Exception:  # noqa: BLE001
        return False


def _live() -> List[Handler]:
    with _handlers_lock:
        return list(_handlers)


def flush_all(timeout: float = 2.0) -> bool:
    """Flush every Sawmill handler in this process, sharing one time cap.
    Returns True when all of them finished. Call it before ``os._exit`` (or
    from Celery's ``worker_process_shutdown``: :func:`sawmill.celery.install`
    does)."""
    deadline = time.monotonic() + timeout
    ok = True
    for h in _live():
        ok = h.flush(max(0.0, deadline - time.monotonic())) and ok
    return ok


def close_all(timeout: float = 2.0) -> None:
    """Close every Sawmill handler in this process within one time cap."""
    deadline = time.monotonic() + timeout
    for h in _live():
        h.close(max(0.0, deadline - time.monotonic()))


def _at_exit() -> None:
    global _exiting
    _exiting = True
    close_all(max((h.close_timeout for h in _live()), default=2.0))


_fork_held: List[Handler] = []


def _before_fork() -> None:
    # Hold every lock the child inherits, so none is copied mid-update.
    _handlers_lock.acquire()
    _fork_held[:] = list(_handlers)
    for h in _fork_held:
        h._qlock.acquire()


def _after_fork_parent() -> None:
    for h in _fork_held:
        h._qlock.release()
    _fork_held.clear()
    _handlers_lock.release()


def _after_fork_child() -> None:
    # The parent's queue belongs to the parent (sending it here would
    # duplicate it) and its thread does not exist here: start afresh, with
    # new locks (the inherited ones are held by the forking thread's hook).
    global _handlers_lock
    _handlers_lock = threading.Lock()
    for h in _fork_held:
        closed = h._closed
        h._init_state()
        h._closed = closed
    _fork_held.clear()


atexit.register(_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_parent,
                        after_in_child=_after_fork_child)
