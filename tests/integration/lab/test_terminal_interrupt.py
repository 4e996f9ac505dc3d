"""A Ctrl-C at a terminal reaches every process of the foreground group — not only drill.

drill turns it into an orderly stop and lets the rollback in progress finish, but a
PostgreSQL tool that rollback runs (pg_basebackup re-creating the standby, a data
directory copy) got the same SIGINT and died, so the undo failed (`rollback_failed`).
The lab's tools now run in a session of their own: only drill hears the terminal.

The tool here holds until the test has sent the group's SIGINT (files, no sleep picks
the moment); it runs in a child Python in a session of its own, so that the signal does
not reach pytest.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.clihelp import subprocess_env

pytestmark = pytest.mark.lab

CHILD = r"""
import os, signal, sys, threading, time
from pathlib import Path
from orchestrator import pgbin

d = Path(sys.argv[1])
signal.signal(signal.SIGINT, lambda *_: None)  # drill: a stop it handles itself

def ctrl_c() -> None:
    while not (d / "started").exists():
        time.sleep(0.02)
    os.killpg(os.getpgrp(), signal.SIGINT)  # what a terminal does on Ctrl-C
    (d / "release").touch()

threading.Thread(target=ctrl_c, daemon=True).start()
script = (
    f"touch {d}/started; while [ ! -e {d}/release ]; do sleep 0.02; done; echo finished"
)
out = pgbin.run(["sh", "-c", script], check=False, timeout=60)
print(out.returncode, out.stdout.strip())
"""


def test_a_terminal_ctrl_c_does_not_kill_the_lab_tool_a_rollback_runs() -> None:
    from orchestrator import pgbin
    from orchestrator.errors import LabError

    try:
        pgbin.bindir()
    except LabError as exc:
        pytest.skip(f"PostgreSQL server not installed: {exc.message}")
    # in /tmp, not under the session's basetemp: the tool may run as the server user,
    # who must reach it; removed afterwards (every run left one behind)
    work = Path(tempfile.mkdtemp(prefix="drill-ctrlc-"))
    try:
        work.chmod(0o777)
        proc = subprocess.run(
            [sys.executable, "-c", CHILD, str(work)],
            env=subprocess_env(),
            capture_output=True,
            text=True,
            timeout=120,
            start_new_session=True,  # its own group: the SIGINT stays there
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["0", "finished"], proc.stdout + proc.stderr
