"""Shared helpers of the scheduling tests (no tests here).

* :func:`make_project` — a test-local drill project: drill.yaml with a SQLite evidence
  DB, a plain Chaos Toolkit experiment with python probes, and a quarterly drill.
* :class:`HookServer` — a real HTTP server on 127.0.0.1 that records webhook posts
  (optionally failing the first N with a status code).
* :class:`RecordingLauncher` — the launcher seam of the scheduler, for the
  controlled-time tests: it records which run would start and when. The real child
  process launcher is exercised by tests/integration/test_scheduler_*.py.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

TINY_EXPERIMENT = """\
version: 1.0.0
title: tiny python probe
description: a plain Chaos Toolkit experiment with python probes
steady-state-hypothesis:
  title: the file system answers
  probes:
    - type: probe
      name: tmp-is-a-directory
      tolerance: true
      provider: {type: python, module: os.path, func: isdir, arguments: {s: /tmp}}
method:
  - type: probe
    name: root-is-a-directory
    provider: {type: python, module: os.path, func: isdir, arguments: {s: /}}
"""

QUARTERLY_DRILL = """\
id: qdr
title: quarterly test drill
schedule: quarterly
scenarios:
  - experiment: tiny
"""


def make_project(root: Path, database: str | None = None, extra: str = "") -> Path:
    (root / "experiments").mkdir(parents=True, exist_ok=True)
    (root / "drills").mkdir(exist_ok=True)
    (root / "experiments" / "tiny.yaml").write_text(TINY_EXPERIMENT)
    (root / "drills" / "qdr.yaml").write_text(QUARTERLY_DRILL)
    db = database or "sqlite:///state/evidence.db"
    (root / "drill.yaml").write_text(f"database: {db}\n{extra}")
    return root / "drill.yaml"


def wait_for(pred: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
    """Poll (real time) until ``pred()`` is truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class RecordingLauncher:
    def __init__(self, clock: Callable[[], datetime], exit_code: int = 0) -> None:
        self.clock, self.exit_code = clock, exit_code
        self.calls: list[tuple[Any, datetime]] = []

    def run(self, req: Any) -> Any:
        from orchestrator.schedule.launcher import RunResult

        self.calls.append((req, self.clock()))
        status = "succeeded" if self.exit_code == 0 else "failed"
        return RunResult(
            self.exit_code,
            {"run_id": None, "status": status, "scenarios": []},
            None if self.exit_code == 0 else "drill: error: step failed",
        )

    def signal_all(self, sig: int) -> int:
        return 0

    def close(self) -> None:
        pass


class HookServer:
    """Records POSTed JSON bodies; the first ``fail_first`` requests get ``fail_code``."""

    def __init__(
        self, fail_first: int = 0, fail_code: int = 500, hold: threading.Event | None = None
    ) -> None:
        """``hold``: each request is answered only once it is set (a webhook that hangs)."""
        self.posts: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.attempts = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                server.attempts += 1
                if hold is not None:
                    hold.wait(60)
                if server.attempts <= fail_first:
                    self.send_response(fail_code)
                    self.end_headers()
                    return
                server.posts.append(json.loads(body))
                server.paths.append(self.path)
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True).start()

    def url(self, path: str = "/services/T0/B0/s3cr3tT0ken") -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}{path}"

    def events(self) -> list[str]:
        return [p["metadata"]["event_type"] for p in self.posts]

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
