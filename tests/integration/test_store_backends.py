"""The evidence store on SQLite and on a real PostgreSQL server: same behaviour."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from tests.clihelp import Result, spawn, subprocess_env
from tests.e2e.defs import experiment, runbook, write


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, workdir: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{workdir}/evidence.db"
    return str(request.getfixturevalue("pg_dsn"))


def drill_db(cwd: Path, db: str, *args: str, timeout: float = 120) -> Result:
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", *args],
        cwd=cwd,
        env=subprocess_env({"DRILL_DATABASE": db}),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def test_run_is_recorded_and_read_back(workdir: Path, database: str) -> None:
    marker = workdir / "marker"
    exp = write(workdir, "exp.yaml", experiment(marker))
    res = drill_db(workdir, database, "run", str(exp), "--json")
    assert res.code == 0, res.err
    doc = json.loads(res.out)
    shown = json.loads(drill_db(workdir, database, "runs", "show", doc["run_id"], "--json").out)
    assert shown["scenarios"] == doc["scenarios"]
    assert any(a["phase"] == "rollback" for a in shown["steps"])
    assert not (workdir / ".drill" / "evidence.db").exists() or database.startswith("sqlite")


def test_lock_and_crash_recovery(workdir: Path, database: str) -> None:
    marker = workdir / "marker"
    rb = write(workdir, "runbooks/hold.yaml", runbook(marker, wait_s=60))
    proc = spawn(workdir, "run", str(rb), "--json", env={"DRILL_DATABASE": database})
    end = time.monotonic() + 30
    while not marker.exists():
        assert time.monotonic() < end, proc.stderr.read() if proc.poll() is not None else ""
        time.sleep(0.05)
    refused = drill_db(workdir, database, "run", str(rb), "--json")
    assert refused.code == 2 and "already in use" in refused.err
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    listed = drill_db(workdir, database, "runs", "list", "--json")
    assert listed.code == 0, listed.err
    assert "awaits recovery" in listed.err  # a read: it warns, it does not roll back
    assert [r["status"] for r in json.loads(listed.out)] == ["running"]
    assert marker.exists()
    recovered = drill_db(workdir, database, "recover")
    assert recovered.code == 0, recovered.err
    listed = drill_db(workdir, database, "runs", "list", "--json")
    assert [r["status"] for r in json.loads(listed.out)] == ["crashed"]
    assert not marker.exists()


def test_unreachable_postgres_never_tracebacks(workdir: Path) -> None:
    from orchestrator.pgbin import free_port

    db = f"postgresql+psycopg://drill:pw@127.0.0.1:{free_port()}/nothing"
    res = drill_db(workdir, db, "runs", "list")
    assert res.code == 2
    assert "unreachable" in res.err and "Traceback" not in res.err and ":pw@" not in res.err
