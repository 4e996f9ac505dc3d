"""A tiny application instance of the lab (one per AZ): HTTP in front, PostgreSQL behind.

Run as ``python -m orchestrator.providers.lab.app --name N --az AZ --port P --dsn DSN``.
It reaches the database only through the database endpoint, like the real app tier
reaches RDS through its DNS name, so a database outage is an application outage:

* ``GET /health`` — 200 when a fresh connection answers ``SELECT 1`` (the LB check);
* ``POST /write`` — inserts a row into ``app_events`` and returns its id;
* ``GET /read`` — number of rows in ``app_events``;
* ``GET /`` — which instance answered (no database).
"""

from __future__ import annotations

import argparse
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Handler(BaseHTTPRequestHandler):
    server: AppServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _reply(self, code: int, body: dict[str, Any]) -> None:
        data = json.dumps({"instance": self.server.name, "az": self.server.az, **body}).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _db(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        import psycopg

        with psycopg.connect(self.server.dsn, connect_timeout=2, autocommit=True) as conn:
            row = conn.execute(sql, params).fetchone()
            return row[0] if row else None

    def do_GET(self) -> None:
        if self.path == "/health":
            self._query("SELECT 1", (), "db")
        elif self.path == "/read":
            self._query("SELECT count(*) FROM app_events", (), "rows")
        else:
            self._reply(200, {"ok": True})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        if self.path == "/write":
            self._query(
                "INSERT INTO app_events (instance) VALUES (%s) RETURNING id",
                (self.server.name,),
                "id",
            )
        else:
            self._reply(404, {"error": "not found"})

    def _query(self, sql: str, params: tuple[Any, ...], key: str) -> None:
        try:
            value = self._db(sql, params)
        except Exception as exc:
            self._reply(503, {"ok": False, "error": str(exc).strip()[:200]})
            return
        self._reply(200, {"ok": True, key: value})


class AppServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, name: str, az: str, dsn: str) -> None:
        super().__init__(("127.0.0.1", port), Handler)
        self.name, self.az, self.dsn = name, az, dsn


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--name", required=True)
    p.add_argument("--az", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--dsn", required=True)
    a = p.parse_args()
    AppServer(a.port, a.name, a.az, a.dsn).serve_forever()


if __name__ == "__main__":
    main()
