"""Start each scheduled run as its own `drill run` child process.

Why a child process and not a thread: a drill that crashes, hangs in a C extension
or is SIGKILLed must never take the scheduler with it, and the per-environment lock,
signal handling (SIGTERM → rollbacks) and crash recovery of ``drill run`` then hold
unchanged. Children get their own session, so a terminal's Ctrl-C reaches only the
scheduler, which decides what to tell them (:meth:`ChildLauncher.signal_all`).

A stopping service first closes the launcher (:meth:`ChildLauncher.close`): a fire still
in flight (a game day's next drill) then starts no child — one started after the
SIGTERM went round would not be told to stop, and the service would wait for it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from orchestrator.config import Settings
from orchestrator.errors import ExitStatus
from orchestrator.secrets import redact_text


@dataclass(frozen=True)
class RunRequest:
    target: str
    env: str
    trigger: str  # schedule | gameday
    schedule_id: str | None = None
    gameday_id: str | None = None
    yes: bool = False
    run_args: tuple[str, ...] = ()  # an experiment's --var/--var-file (schedule add)


@dataclass
class RunResult:
    exit_code: int
    doc: dict[str, Any] | None = None  # the `drill run --json` document
    error: str | None = None  # `drill: error: …` lines of the child, redacted

    @property
    def run_id(self) -> str | None:
        return str(self.doc["run_id"]) if self.doc and self.doc.get("run_id") else None

    @property
    def status(self) -> str | None:
        return str(self.doc["status"]) if self.doc and self.doc.get("status") else None

    @property
    def objective_missed(self) -> bool:
        return any(sc.get("met") is False for sc in (self.doc or {}).get("scenarios", []))


class Launcher(Protocol):
    def run(self, req: RunRequest) -> RunResult: ...
    def signal_all(self, sig: int) -> int: ...
    def close(self) -> None: ...


#: what :meth:`Launcher.run` answers once the launcher is closed
NOT_STARTED = RunResult(ExitStatus.ABORTED, None, "not started: the scheduler is stopping")


class ChildLauncher:
    """Runs ``python -m orchestrator.cli run … --json --trigger …`` and waits for it."""

    def __init__(self, settings: Settings, python: str = sys.executable) -> None:
        self.python = python
        self.cwd = str(settings.base_dir)
        self.config = str(Path(settings.source).resolve()) if settings.source else None
        self._procs: dict[int, subprocess.Popen[str]] = {}
        self._lock = threading.Lock()
        self._closed = False

    def command(self, req: RunRequest) -> list[str]:
        cmd = [self.python, "-m", "orchestrator.cli"]
        if self.config:
            cmd += ["--config", self.config]
        cmd += ["run", req.target, "--env", req.env, "--json", "--trigger", req.trigger]
        if req.schedule_id:
            cmd += ["--schedule-id", req.schedule_id]
        if req.gameday_id:
            cmd += ["--gameday-id", req.gameday_id]
        if req.yes:
            cmd.append("--yes")
        return cmd + list(req.run_args)

    def run(self, req: RunRequest) -> RunResult:
        with self._lock:  # started and registered at once: signal_all sees every child
            if self._closed:
                return NOT_STARTED
            proc = subprocess.Popen(
                self.command(req),
                cwd=self.cwd,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                start_new_session=True,
                env=dict(os.environ),
            )
            self._procs[proc.pid] = proc
        try:
            out, err = proc.communicate()
        finally:
            with self._lock:
                self._procs.pop(proc.pid, None)
        doc: dict[str, Any] | None = None
        if out.strip():
            try:
                parsed = json.loads(out)
                doc = parsed if isinstance(parsed, dict) else None
            except ValueError:
                doc = None
        errors = [ln for ln in err.splitlines() if ln.startswith(("drill: error:", "  hint:"))]
        error = "\n".join(errors) or (err.strip().splitlines()[-1] if err.strip() else None)
        return RunResult(proc.returncode, doc, redact_text(error) if error else None)

    def signal_all(self, sig: int = signal.SIGTERM) -> int:
        """Signal every running child (SIGTERM: it aborts and plays its rollbacks)."""
        with self._lock:
            procs = list(self._procs.values())
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(sig)
        return len(procs)

    def close(self) -> None:
        """Start no child from now on (:data:`NOT_STARTED`); running ones go on."""
        with self._lock:
            self._closed = True

    def running(self) -> int:
        with self._lock:
            return len(self._procs)
