"""The lab's health-checked load balancer (the ALB analogue).

Run as ``python -m orchestrator.providers.lab.lb --port P --backend NAME=PORT …``.
Every backend's ``/health`` is checked every 0.25 s, each in its own thread so a hung
instance (SIGSTOP) cannot delay the others; two failed checks take a target out, one
good check puts it back. Requests go round-robin to healthy targets (next one on a
connection error); none healthy → 503, as an ALB answers. ``GET /lb/status`` shows
target health; every forwarded answer names its backend in ``X-Drill-Backend``.
A target can be out of rotation while it runs (``--out NAME``, or ``POST /lb/targets``
with ``{"out": [NAME…]}``, answered once applied): as a target deregistered from an
ALB's target group, it gets no new requests, and the ones in flight finish.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CHECK_INTERVAL_S = 0.25
CHECK_TIMEOUT_S = 0.6


class Backend:
    def __init__(self, name: str, port: int) -> None:
        self.name, self.port = name, port
        self.healthy = False
        self.failures = 0
        self.registered = True

    def check_forever(self) -> None:
        while True:
            ok = False
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=CHECK_TIMEOUT_S)
                conn.request("GET", "/health")
                ok = conn.getresponse().status == 200
                conn.close()
            except (OSError, http.client.HTTPException):
                ok = False
            if ok:
                self.healthy, self.failures = True, 0
            else:
                self.failures += 1
                if self.failures >= 2:
                    self.healthy = False
            time.sleep(CHECK_INTERVAL_S)


class Handler(BaseHTTPRequestHandler):
    server: LoadBalancer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, code: int, body: bytes, backend: str | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if backend:
            self.send_header("X-Drill-Backend", backend)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/lb/status":
            doc = [
                {"name": b.name, "port": b.port, "healthy": b.healthy, "registered": b.registered}
                for b in self.server.backends
            ]
            self._send(200, json.dumps({"backends": doc}).encode())
            return
        self._forward()

    def do_POST(self) -> None:
        if self.path == "/lb/targets":
            length = int(self.headers.get("Content-Length") or 0)
            out = set(json.loads(self.rfile.read(length) or b"{}").get("out") or [])
            for b in self.server.backends:
                b.registered = b.name not in out
            self._send(200, json.dumps({"out": sorted(out)}).encode())
            return
        self._forward()

    def _forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        for backend in self.server.pick():
            try:
                conn = http.client.HTTPConnection("127.0.0.1", backend.port, timeout=5)
                conn.request(self.command, self.path, body=body)
                resp = conn.getresponse()
                data = resp.read()
                conn.close()
            except (OSError, http.client.HTTPException):
                continue
            self._send(resp.status, data, backend.name)
            return
        self._send(503, b'{"ok": false, "error": "no healthy target"}')


class LoadBalancer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, backends: list[Backend]) -> None:
        super().__init__(("127.0.0.1", port), Handler)
        self.backends = backends
        self._rr = itertools.count()
        for b in backends:
            threading.Thread(target=b.check_forever, daemon=True).start()

    def pick(self) -> list[Backend]:
        healthy = [b for b in self.backends if b.healthy and b.registered]
        if not healthy:
            return []
        start = next(self._rr) % len(healthy)
        return healthy[start:] + healthy[:start]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--backend", action="append", default=[], help="NAME=PORT")
    p.add_argument("--out", action="append", default=[], help="NAME: out of rotation")
    a = p.parse_args()
    backends = [Backend(n, int(port)) for n, _, port in (b.partition("=") for b in a.backend)]
    for b in backends:
        b.registered = b.name not in a.out
    LoadBalancer(a.port, backends).serve_forever()


if __name__ == "__main__":
    main()
