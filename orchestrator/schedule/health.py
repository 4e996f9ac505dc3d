"""A tiny health endpoint for `drill scheduler run --health-port N` (127.0.0.1 only).

``GET /health`` → 200 and the service's :meth:`SchedulerService.health` JSON while it
runs, 503 while it stops. Container health checks and load balancers need exactly
this and nothing more, so it is the standard library's threading HTTP server.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class HealthServer:
    def __init__(self, health: Callable[[], dict[str, Any]], port: int = 0,
                 host: str = "127.0.0.1") -> None:
        provider = health

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?")[0] not in ("/health", "/healthz", "/"):
                    self.send_error(404)
                    return
                doc = provider()
                body = json.dumps(doc).encode()
                self.send_response(200 if doc.get("status") == "ok" else 503)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name="drill-health")

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/health"

    def start(self) -> HealthServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
