"""Measures the SDK: the cost of one logger.info() with sawmill.Handler
attached (service up, and service down), and how many events per second
one process ships to a local receiver (a separate process that reads each
gzip'd body and answers 200).

Usage: /usr/bin/python3 sdk/python/bench.py [-n EVENTS]
"""

import argparse
import http.server
import logging
import multiprocessing
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import sawmill  # noqa: E402


class _Sink(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, *a):
        pass

    def do_POST(self):  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        body = b"{}"  # not the ingest answer: the SDK counts the batch as accepted
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _serve(sock):
    srv = http.server.HTTPServer(("127.0.0.1", 0), _Sink, bind_and_activate=False)
    srv.socket.close()
    srv.socket = sock
    srv.serve_forever()


def _logger(name, handler):
    log = logging.getLogger(name)
    log.propagate = False
    log.setLevel(logging.INFO)
    log.addHandler(handler)
    return log


def _per_call(log, n):
    start = time.perf_counter()
    for i in range(n):
        log.info("order %s charged", i, extra={"amount": 12.5, "user_id": 42})
    return (time.perf_counter() - start) / n * 1e6


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=100000, help="events to ship")
    args = ap.parse_args()

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    proc = multiprocessing.Process(target=_serve, args=(sock,), daemon=True)
    proc.start()
    url = "http://127.0.0.1:%d" % port

    # Service up: shipping rate, end to end (queue, encode, gzip, POST).
    h = sawmill.Handler(url=url, queue_size=args.n + 1, batch_size=1000)
    log = _logger("bench.up", h)
    start = time.perf_counter()
    us = _per_call(log, args.n)
    ok = h.flush(120)
    elapsed = time.perf_counter() - start
    st = h.stats()
    h.close()
    print("logger.info() with sawmill.Handler, service up:   %.1f µs/call" % us)
    print("shipped: %d events in %.2fs = %.0f events/s (flush ok: %s, stats %s)" % (st["sent"], elapsed, st["sent"] / elapsed, ok, st))

    # Service down: the call must stay cheap (queue bounded, oldest dropped).
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    down = "http://127.0.0.1:%d" % s.getsockname()[1]
    s.close()
    h = sawmill.Handler(url=down, queue_size=1000)
    log = _logger("bench.down", h)
    us = _per_call(log, min(args.n, 50000))
    print("logger.info() with sawmill.Handler, service down: %.1f µs/call (dropped %d)" % (us, h.stats()["dropped"]))
    h.close(0.2)

    # Baseline: the same call with no handler doing work.
    log = _logger("bench.null", logging.NullHandler())
    print("logger.info() with a NullHandler (baseline):      %.1f µs/call" % _per_call(log, min(args.n, 50000)))
    proc.terminate()


if __name__ == "__main__":
    main()
