"""The terminal a drill runs in is closed (an SSH session dropped, a terminal window
closed): the kernel hangs it up and sends SIGHUP to its controlling process.

Expected as for SIGINT and SIGTERM (DESIGN "Safety": rollbacks run on a stop): nothing
new starts, the rollbacks run, the run ends ``aborted``, exit 3 — with nobody left to
read what drill writes (the terminal's writes fail from then on). ``nohup drill run``
ignores SIGHUP, and drill then keeps ignoring it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pty
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from tests.clihelp import run, subprocess_env
from tests.e2e.defs import runbook, write

pytestmark = pytest.mark.slow


def _controlling_tty() -> None:  # in the child, after setsid: its stdin's tty is its own
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def in_terminal(cwd: Path, *args: str, nohup: bool = False) -> tuple[subprocess.Popen[bytes], int]:
    """drill run in a terminal of its own (a pseudo-terminal it controls, as a login
    shell's command): (process, the terminal's master side, which the test closes)."""
    master, slave = pty.openpty()
    command = [sys.executable, "-m", "orchestrator.cli", *args]
    proc = subprocess.Popen(
        ["nohup", *command] if nohup else command,
        cwd=cwd,
        env=subprocess_env(),
        stdin=slave,
        stdout=slave,
        stderr=slave,
        start_new_session=True,
        preexec_fn=_controlling_tty,
    )
    os.close(slave)
    os.set_blocking(master, False)
    return proc, master


def wait_for(path: Path, proc: subprocess.Popen[bytes], master: int) -> None:
    """Until ``path`` appears, reading the terminal as it fills (drill never blocks on
    a full one)."""
    while not path.exists():
        assert proc.poll() is None, f"drill ended ({proc.returncode}) before {path} appeared"
        with contextlib.suppress(OSError):  # nothing to read yet, or no writer (nohup)
            while os.read(master, 65536):
                pass
        time.sleep(0.05)


def test_closing_the_terminal_of_a_run_plays_its_rollbacks(workdir: Path) -> None:
    """SIGHUP's default killed drill: the run stayed `running` with the fault in place
    until someone ran `drill recover`."""
    marker = workdir / "marker"
    rb = write(workdir, "runbooks/hold.yaml", runbook(marker, wait_s=120))
    proc, master = in_terminal(workdir, "run", str(rb))
    wait_for(marker, proc, master)
    os.close(master)  # the terminal goes away: SIGHUP, and its writes fail from now on
    assert proc.wait(timeout=120) == 3
    assert not marker.exists() and (workdir / "marker.rolled-back").exists(), "rollbacks run"
    (doc,) = json.loads(run(workdir, "runs", "list", "--json").out)
    assert doc["status"] == "aborted", doc
    shown = json.loads(run(workdir, "runs", "show", doc["run_id"], "--json").out)
    assert "SIGHUP" in (shown["error"] or ""), shown["error"]
    assert run(workdir, "recover").err.strip().endswith("no run awaits recovery")


def test_under_nohup_a_closed_terminal_does_not_stop_the_run(workdir: Path) -> None:
    """`nohup drill run …` asks for the run to outlive its terminal: drill keeps
    ignoring SIGHUP, and the run goes on to its end."""
    marker = workdir / "marker"
    rb = write(workdir, "runbooks/hold.yaml", runbook(marker, wait_s=3))
    proc, master = in_terminal(workdir, "run", str(rb), nohup=True)
    wait_for(marker, proc, master)
    os.close(master)
    assert proc.wait(timeout=120) == 0
    (doc,) = json.loads(run(workdir, "runs", "list", "--json").out)
    assert doc["status"] == "succeeded", doc
    assert "hold the fault" in (workdir / "nohup.out").read_text()
