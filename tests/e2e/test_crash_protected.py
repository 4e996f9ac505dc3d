"""When recovery must not go ahead, or what follows it must not (DESIGN "Safety";
"Crash safety (Contract)"): a protected environment without ``--yes``, and a run whose
recovery of its environment failed.

Playing an orphaned run's rollbacks changes the environment like any action, so on a
``protected`` environment it needs ``--yes`` and records the approval — from ``drill
recover``, and from a ``drill run`` that would recover first (even of a run that
changes nothing itself). The scheduler service, which nobody confirms, leaves such an
environment alone and says how to recover it. The run is killed through the test hook
(tests/e2e/test_crash_safety.py has the rest of the suite).
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from tests.clihelp import spawn
from tests.e2e.defs import runbook, write
from tests.e2e.test_crash_safety import drill, hooked, plays, runs, show

pytestmark = pytest.mark.slow

PROBE_ONLY = """id: probe-only
title: looks, changes nothing
scenario: probe
steps:
  - name: the file system is there
    kind: probe
    activity: {type: probe, name: root, provider: {type: python, module: os.path,
               func: exists, arguments: {path: /}}}
"""


def killed_on_prod(cwd: Path, marker: Path) -> str:
    write(cwd, "drill.yaml", "environments:\n  prod:\n    provider: lab\n    protected: true\n")
    rb = write(cwd, "runbooks/hold.yaml", runbook(marker))
    point = "step:marker-runbook:1:end"
    res = drill(cwd, "run", str(rb), "--env", "prod", "--yes", crash=point)
    assert res.code == -signal.SIGKILL, res.err
    hooked(res, point)
    (entry,) = runs(cwd)
    assert entry["status"] == "running" and marker.exists()
    return str(entry["run_id"])


def approvals(cwd: Path, run_id: str) -> list[str]:
    with sqlite3.connect(cwd / ".drill" / "evidence.db") as db:
        rows = db.execute("SELECT reason FROM approval WHERE run_id = ?", (run_id,)).fetchall()
    return [r[0] for r in rows]


def test_recovery_of_a_protected_environment_needs_yes(workdir: Path) -> None:
    marker = workdir / "marker"
    run_id = killed_on_prod(workdir, marker)
    probe = write(workdir, "runbooks/probe.yaml", PROBE_ONLY)

    listed = drill(workdir, "runs", "list")  # a read command: the warning names --yes
    assert "`drill recover --env prod --yes`" in listed.err, listed.err
    for args in (["run", str(probe), "--env", "prod"], ["recover"], ["recover", "--env", "prod"]):
        res = drill(workdir, *args)
        assert res.code == 2, (args, res.err)
        errors = [ln for ln in res.err.splitlines() if ln.startswith("drill: error:")]
        assert len(errors) == 1 and "protected" in errors[0] and run_id in errors[0], res.err
        assert "drill recover --env prod --yes" in res.err, res.err
        assert marker.exists() and plays(marker) == 0, f"{args} played a rollback"
    assert show(workdir, run_id)["status"] == "running"
    assert len(runs(workdir)) == 1, "the refused run must not have started"

    res = drill(workdir, "recover", "--env", "prod", "--yes")
    assert res.code == 0, res.err
    assert not marker.exists() and plays(marker) == 1
    assert show(workdir, run_id)["status"] == "crashed"
    assert approvals(workdir, run_id) == [
        "--yes given on a protected environment",
        "--yes given to recover a protected environment",
    ]


def test_run_with_yes_recovers_the_protected_environment_first(workdir: Path) -> None:
    marker = workdir / "marker"
    run_id = killed_on_prod(workdir, marker)
    probe = write(workdir, "runbooks/probe.yaml", PROBE_ONLY)
    res = drill(workdir, "run", str(probe), "--env", "prod", "--yes")
    assert res.code == 0, res.err
    assert not marker.exists() and plays(marker) == 1
    assert show(workdir, run_id)["status"] == "crashed"
    assert "--yes given to recover a protected environment" in approvals(workdir, run_id)


def test_scheduler_leaves_a_protected_environment_to_the_operator(workdir: Path) -> None:
    marker = workdir / "marker"
    run_id = killed_on_prod(workdir, marker)
    service = spawn(workdir, "scheduler", "run", "--poll", "0.2")
    assert service.stderr is not None
    try:
        seen: list[str] = []
        end = time.monotonic() + 120  # bounds a hang; no moment is picked
        while not any("started" in ln for ln in seen):  # its recovery comes first
            line = service.stderr.readline()
            assert line and time.monotonic() < end, "".join(seen)
            seen.append(line)
    finally:
        service.send_signal(signal.SIGTERM)
        try:
            service.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            service.kill()  # never leave a scheduler behind, even when the test fails
            service.communicate()
    said = "".join(seen)
    assert "'prod' is protected" in said and "drill recover --env prod --yes" in said, said
    assert marker.exists() and plays(marker) == 0
    assert show(workdir, run_id)["status"] == "running"


def test_run_does_not_start_when_recovering_its_environment_failed(workdir: Path) -> None:
    """The orphan's undo fails during the recovery `drill run` does first: the orphan ends
    `rollback_failed` (critical) and the new run is not started on a degraded
    environment — one error, exit 1; the next `drill run` (nothing left) goes ahead."""
    marker = workdir / "marker"
    rb = write(workdir, "runbooks/hold.yaml", runbook(marker))
    killed = drill(workdir, "run", str(rb), crash="step:marker-runbook:1:end")
    assert killed.code == -signal.SIGKILL, killed.err
    (entry,) = runs(workdir)
    point = "rollback:activity:start"
    res = drill(workdir, "run", str(rb), "--json", crash=f"{point}=raise")
    hooked(res, point)
    assert res.code == 1, res.err
    errors = [ln for ln in res.err.splitlines() if ln.startswith("drill: error:")]
    assert len(errors) == 1 and "could not be recovered" in errors[0], res.err
    assert res.out == "" and "Traceback" not in res.err
    assert [r["status"] for r in runs(workdir)] == ["rollback_failed"], "nothing new started"
    assert marker.exists() and plays(marker) == 0
    again = drill(workdir, "run", str(rb), "--json")
    assert again.code == 0, again.err
    assert str(entry["run_id"]) not in again.err


def test_a_protected_environment_that_left_drill_yaml_stays_protected(workdir: Path) -> None:
    """Recovery took an environment no longer in drill.yaml for unprotected: `drill
    recover` played the orphan's rollbacks (an experiment's would call the API it was
    run against) without --yes. The evidence recorded the environment protected when the
    run started: that is what recovery now goes by."""
    marker = workdir / "marker"
    run_id = killed_on_prod(workdir, marker)
    write(workdir, "drill.yaml", "environments:\n  lab: {provider: lab}\n")  # prod is gone
    warned = drill(workdir, "runs", "list")
    assert "`drill recover --env prod --yes`" in " ".join(warned.err.split())
    refused = drill(workdir, "recover")
    assert refused.code == 2, refused.err
    assert "protected environment 'prod'" in refused.err and "--yes" in refused.err
    assert marker.exists() and plays(marker) == 0 and runs(workdir)[0]["status"] == "running"

    done = drill(workdir, "recover", "--env", "prod", "--yes")
    assert done.code == 0, done.err
    assert not marker.exists() and plays(marker) == 1
    assert show(workdir, run_id)["status"] == "crashed"
    assert "--yes given to recover a protected environment" in approvals(workdir, run_id)
