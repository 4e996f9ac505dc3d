"""A loopback HTTP service for the corpus's http providers.

Each run uses its own path prefix (``http://127.0.0.1:PORT/<run>/``) so chaos's and
drill's runs of one experiment never see each other's state. ``GET health`` is 200
until ``POST break``; ``POST repair`` heals it; ``GET status.json`` is JSON.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Handler(BaseHTTPRequestHandler):
    broken: set[str] = set()

    def log_message(self, *args: object) -> None:  # keep test output clean
        pass

    def _reply(self, code: int, body: object, ctype: str = "application/json") -> None:
        data = (json.dumps(body) if ctype == "application/json" else str(body)).encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        prefix, _, leaf = self.path.strip("/").rpartition("/")
        down = prefix in self.broken
        if leaf == "health":
            self._reply(503 if down else 200, "down" if down else "up", "text/plain")
        elif leaf == "status.json":
            self._reply(
                200,
                {
                    "status": "degraded" if down else "ok",
                    "replicas": [{"name": "a", "lag": 0}, {"name": "b", "lag": 3}],
                },
            )
        else:
            self._reply(404, {"error": "no such path"})

    def do_POST(self) -> None:
        prefix, _, leaf = self.path.strip("/").rpartition("/")
        if leaf == "break":
            self.broken.add(prefix)
        elif leaf == "repair":
            self.broken.discard(prefix)
        else:
            self._reply(404, {"error": "no such path"})
            return
        self._reply(200, {"ok": True})


class Service:
    """Start on a free loopback port; ``close`` stops it."""

    def __init__(self) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def base(self, prefix: str) -> str:
        return f"http://127.0.0.1:{self.port}/{prefix}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
