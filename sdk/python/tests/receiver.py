"""A local stand-in for Sawmill's /v1/ingest, for the SDK's tests.

It records every request (headers, decoded NDJSON lines, arrival time) and
answers from a script of responses, then 200 with the ingest answer.
"""

from __future__ import annotations

import gzip
import http.server
import json
import socket
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple


class Request:
    """One request the receiver saw."""

    def __init__(self, headers: Dict[str, str], lines: List[Dict[str, Any]], at: float, status: int) -> None:
        self.headers = headers
        self.lines = lines
        self.at = at
        self.status = status


class Receiver:
    """An HTTP server on 127.0.0.1 (a free port, or ``port``) in a thread.

    ``script`` is a list of (status, headers) answered in order, one per
    request; ``rule`` (request lines → (status, headers) or None) is asked
    before the script. After both, 200 with ``{"accepted": n}``.
    """

    def __init__(self, port: int = 0) -> None:
        self.requests: List[Request] = []
        self.script: List[Tuple[int, Dict[str, str]]] = []
        self.rule: Optional[Callable[[List[Dict[str, Any]]], Optional[Tuple[int, Dict[str, str]]]]] = None
        self.cond = threading.Condition()
        recv = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *a: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                n = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(n)
                if self.headers.get("Content-Encoding") == "gzip":
                    raw = gzip.decompress(raw)
                lines = [json.loads(x) for x in raw.decode("utf-8").splitlines() if x.strip()]
                status, hdrs = recv._answer(lines)
                # Recorded before answering: once the client has its answer,
                # the test may look.
                with recv.cond:
                    recv.requests.append(Request(dict(self.headers), lines, time.monotonic(), status))
                    recv.cond.notify_all()
                body = json.dumps({"accepted": len(lines), "rejected": 0, "errors": []} if status == 200
                                  else {"code": "x", "message": "scripted %d" % status}).encode()
                self.send_response(status)
                for k, v in hdrs.items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        class S(http.server.ThreadingHTTPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = S(("127.0.0.1", port), H)
        self.port = self.server.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def _answer(self, lines: List[Dict[str, Any]]) -> Tuple[int, Dict[str, str]]:
        with self.cond:
            if self.rule is not None:
                r = self.rule(lines)
                if r is not None:
                    return r
            if self.script:
                return self.script.pop(0)
        return 200, {}

    def accepted(self) -> List[Dict[str, Any]]:
        """Lines of the requests answered 200, in arrival order."""
        with self.cond:
            return [x for r in self.requests if r.status == 200 for x in r.lines]

    def wait_lines(self, n: int, timeout: float = 10.0) -> List[Dict[str, Any]]:
        """Wait until n lines were accepted (or timeout) and return them."""
        end = time.monotonic() + timeout
        with self.cond:
            while sum(len(r.lines) for r in self.requests if r.status == 200) < n:
                left = end - time.monotonic()
                if left <= 0:
                    break
                self.cond.wait(left)
        return self.accepted()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def free_port() -> int:
    """A port nothing listens on (for a service that is down)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p
