"""A lab helper or server that dies at start-up is explained in one line (its log's last
error line and where the log is), never by a piece of its traceback."""

from __future__ import annotations

from pathlib import Path

from orchestrator.providers.lab.procs import reason

PYTHON = """Traceback (most recent call last):
  File "/usr/lib/python3.11/socketserver.py", line 472, in server_bind
    self.socket.bind(self.server_address)
OSError: [Errno 98] Address already in use
"""
POSTGRES = """2026-12-01 05:00:00.000 UTC [42] LOG:  starting PostgreSQL 16.4
2026-12-01 05:00:00.001 UTC [42] FATAL:  could not create lock file "postmaster.pid"
2026-12-01 05:00:00.002 UTC [42] HINT:  This error does *not* mean that you have run out
2026-12-01 05:00:00.003 UTC [42] LOG:  database system is shut down
"""


def test_a_python_helper_says_its_exception(tmp_path: Path) -> None:
    log = tmp_path / "lb.log"
    log.write_text(PYTHON)
    assert reason(log) == f"OSError: [Errno 98] Address already in use (log: {log})"


def test_postgres_says_its_fatal_line_not_its_last(tmp_path: Path) -> None:
    log = tmp_path / "use1-az1.log"
    log.write_text(POSTGRES)
    said = reason(log)
    assert "FATAL:  could not create lock file" in said and "\n" not in said
    assert said.endswith(f"(log: {log})")


def test_no_log_is_said_too(tmp_path: Path) -> None:
    assert reason(tmp_path / "gone.log") == f"(no log at {tmp_path / 'gone.log'})"
