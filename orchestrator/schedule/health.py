"""A tiny health endpoint for `drill scheduler run --health-port N` (127.0.0.1 only).

``GET /health`` → 200 and the service's :meth:`SchedulerService.health` JSON while it
runs, 503 while it stops, stalls or cannot reach its evidence database (the reason in
the JSON). ``HEAD`` answers the same status and headers, without the body: monitoring
tools ask with HEAD (the standard library's server answered it 501). ``GET /metrics``
→ the same Prometheus text as `drill serve`'s (given as ``metrics``), so a
scheduler-only deployment is scraped too.
Container health checks and scrapers need exactly this and nothing more, so it is the
standard library's threading HTTP server.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orchestrator.errors import DrillError


class HealthServer:
    def __init__(
        self,
        health: Callable[[], dict[str, Any]],
        port: int = 0,
        host: str = "127.0.0.1",
        metrics: Callable[[], bytes] | None = None,
        explain: Callable[[Exception], DrillError | None] = lambda _exc: None,
    ) -> None:
        provider = health
        one_scrape = threading.Lock()  # the store's connections are opened lazily, once

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._answer(body=True)

            def do_HEAD(self) -> None:
                self._answer(body=False)

            def _answer(self, body: bool) -> None:
                path = self.path.split("?")[0]
                if path == "/metrics" and metrics is not None:
                    try:
                        with one_scrape:
                            text = metrics()
                    except Exception as exc:  # e.g. the database is down: say so, no trace
                        self._unavailable(exc, body)
                        return
                    self.send_response(200)
                    self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
                    self.send_header("Content-Length", str(len(text)))
                    self.end_headers()
                    if body:
                        self.wfile.write(text)
                    return
                if path not in ("/health", "/healthz", "/"):
                    self.send_error(404)
                    return
                doc = provider()
                data = json.dumps(doc).encode()
                self.send_response(200 if doc.get("status") == "ok" else 503)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if body:
                    self.wfile.write(data)

            def _unavailable(self, exc: Exception, body: bool) -> None:
                """503 "metrics unavailable: …" (the database is down); what ``explain``
                makes of it in drill's words, as the dashboard says it (the schema
                changed under this process: which revision, what to do) — 503, or 500
                for tables changed outside drill."""
                from orchestrator.errors import StoreUnavailable
                from orchestrator.secrets import redact_text

                explained = explain(exc)
                if explained is None:
                    self.send_error(503, redact_text(f"metrics unavailable: {exc}")[:200])
                    return
                message = redact_text(f"metrics unavailable: {explained.message}")
                hint = f"hint: {redact_text(explained.hint)}\n" if explained.hint else ""
                data = f"{message}\n{hint}".encode()
                self.send_response(503 if isinstance(explained, StoreUnavailable) else 500)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if body:
                    self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        try:
            self._server = ThreadingHTTPServer((host, port), Handler)
        except OSError as exc:  # a port in use is the operator's to change, not a bug
            from orchestrator.errors import UsageError

            raise UsageError(
                f"--health-port: cannot listen on {host}:{port}: {exc.strerror or exc}",
                "pick another --health-port, or 0 for a free one",
            ) from None
        self._thread = threading.Thread(
            target=self._server.serve_forever, daemon=True, name="drill-health"
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/health"

    def start(self) -> HealthServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():  # shutdown() of a server never started would hang
            self._server.shutdown()
        self._server.server_close()
