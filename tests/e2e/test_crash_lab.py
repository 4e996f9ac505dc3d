"""Crash-test suite: quarterly-dr on the real lab, drill stopped at every boundary.

drill kills itself (SIGKILL, through ``DRILL_TEST_CRASH_AT``) at each step boundary of
each quarterly-dr scenario, at the start and end of each rollback, inside the lab
operations that rollbacks replay (between killing a server and re-creating it, …),
during ``lab up`` and during a recovery. After each: ``drill recover`` ends the orphan
``crashed`` with every rollback done, the lab passes its own topology check
(:func:`orchestrator.providers.lab.health.check`: roles against
``pg_is_in_recovery()``, streaming standby and replica, nothing stopped or isolated,
dataset intact), ``drill evidence verify`` passes, and — once per scenario and at the
end — the next run meets its objectives. SIGINT and SIGTERM at each rollback of
quarterly-dr must start nothing new (exit 3, no later scenario).

One lab serves every case, in order: each case starts from the healthy lab the one
before it left (and asserted). The point names come from the plan of the bundled
definitions, so a step added to a runbook is covered without touching this file.
The lab lives outside pytest's 0700 temporary root, which concurrent pytest sessions
of the same user re-protect while ours runs (the servers run as another user).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.clihelp import Result, run

pytestmark = [pytest.mark.lab, pytest.mark.slow]

#: Every case costs a partial drill, a recovery and checks (≈ 15 s on a quiet 2-core box):
#: the whole matrix (≈ 80 cases) runs with DRILL_CRASH_SUITE=full; by default a sample
#: that still goes through each kind of fault and each kind of rollback in flight, and
#: each defect of issue 13, keeps CI's cost reasonable.
FULL = os.environ.get("DRILL_CRASH_SUITE") == "full"
SAMPLE = {
    ("az-loss", "step:az-loss:7:start"),
    ("az-loss", "lab:reprotect:killed"),
    ("rds-failover", "step:rds-failover:5:start"),
    ("rds-failover", "rollback:db.reprotect:start"),
    ("region-promotion", "lab:rebuild_usw2:killed"),
    ("backup-restore", "step:backup-restore:4:start"),
    ("backup-restore", "lab:remove_instance:stopped"),
}
SAMPLE_STOPS = {("az-loss", "az.restore"), ("region-promotion", "db.rebuild_replica")}

HOOK = "DRILL_TEST_CRASH_AT"
SCENARIOS = ["az-loss", "rds-failover", "region-promotion", "backup-restore"]
# Inside the lab operations a rollback replays (orchestrator/providers/lab/ops_*.py);
# "@2": the second time the point is reached (the first is the scenario's own step).
INNER = {
    "az-loss": [
        "lab:az.restore:partial",
        "lab:reprotect:killed",
        "lab:reprotect:copied",
        "lab:reprotect:started",
    ],
    "rds-failover": ["lab:reprotect:killed", "lab:reprotect:copied", "lab:reprotect:started"],
    "region-promotion": [
        "lab:region.restore:partial",
        "lab:rebuild_usw2:killed",
        "lab:rebuild_usw2:copied",
        "lab:dns.point:switched@2",
    ],
    "backup-restore": ["lab:remove_instance:stopped", "lab:data.recreate_table:before"],
}


def _plan_points() -> dict[str, list[str]]:
    """Every boundary of each scenario of quarterly-dr (live), from its plan."""
    from orchestrator.actions import rollback_of
    from orchestrator.config import Settings
    from orchestrator.definitions.catalog import Catalog
    from orchestrator.definitions.kinds import RunMode
    from orchestrator.engine.plan import build_plan

    plan = build_plan(Catalog(Settings()), "quarterly-dr", "live", None)
    points: dict[str, list[str]] = {}
    for sc in plan.scenarios:
        n = (
            len(sc.preconditions_for(RunMode.LIVE))
            + len(sc.steps_for(RunMode.LIVE))
            + len(sc.verification_for(RunMode.LIVE))
        )
        undo = [s.action for s in sc.rollback_for(RunMode.LIVE)]
        undo += [
            u[0]
            for s in sc.steps_for(RunMode.LIVE)
            if s.action and s.rollback and (u := rollback_of(s.action, dict(s.args))) is not None
        ]
        names = [f"step:{sc.scenario_id}:{i}:start" for i in range(1, n + 1)]
        names += [f"step:{sc.scenario_id}:{n}:end", f"scenario:{sc.scenario_id}:rollbacks"]
        for action in dict.fromkeys(undo):
            names += [f"rollback:{action}:start", f"rollback:{action}:end"]
        points[sc.scenario_id] = names + INNER[sc.scenario_id]
    return points


POINTS = _plan_points()
KILL_CASES = [(sc, p) for sc in SCENARIOS for p in POINTS[sc]]
ROLLBACK_STOPS = [
    (sc, p.split(":")[1])
    for sc in SCENARIOS
    for p in POINTS[sc]
    if p.startswith("rollback:") and p.endswith(":start")
]
ROLLBACK_STOPS_SIG = [
    (sc, action, ("int", "term")[i % 2]) for i, (sc, action) in enumerate(ROLLBACK_STOPS)
]


def drill(cwd: Path, *args: str, crash: str | None = None, timeout: float = 600) -> Result:
    return run(cwd, *args, timeout=timeout, env={HOOK: crash} if crash else None)


@pytest.fixture(scope="module")
def lab() -> Iterator[Path]:
    from orchestrator import pgbin
    from orchestrator.errors import LabError

    try:
        pgbin.bindir()
    except LabError as exc:
        pytest.skip(f"PostgreSQL server not installed: {exc.message}")
    cwd = Path(tempfile.mkdtemp(prefix="drill-crash-"))
    try:
        up = run(cwd, "lab", "up", timeout=180)
        assert up.code == 0, up.err
        yield cwd
    finally:
        run(cwd, "lab", "down", timeout=180)
        shutil.rmtree(cwd, ignore_errors=True)


def lab_issues(cwd: Path) -> list[str]:
    from orchestrator.providers.lab.health import check
    from orchestrator.providers.lab.state import load

    st = load(cwd / ".drill" / "lab")
    assert st is not None
    return [i.what for i in check(st)]


def show(cwd: Path, run_id: str) -> dict[str, Any]:
    res = run(cwd, "runs", "show", run_id, "--json")
    assert res.code == 0, res.err
    doc: dict[str, Any] = json.loads(res.out)
    return doc


def recovered_cleanly(cwd: Path, point: str) -> None:
    """After a kill: recover, then every rollback done, the lab healthy, evidence intact."""
    rec = drill(cwd, "recover", "--json")
    assert rec.code == 0, rec.err[-3000:]
    (entry,) = json.loads(rec.out)["recovered"]
    doc = show(cwd, entry["run_id"])
    left = [
        (s["name"], s["status"], s["error"])
        for s in doc["steps"]
        if s["status"] in ("pending", "running")
        or (s["phase"] == "rollback" and s["status"] != "succeeded")
    ]
    assert doc["status"] == "crashed" and not left, (point, doc["status"], left)
    assert lab_issues(cwd) == [], point
    verify = run(cwd, "evidence", "verify")
    assert verify.code == 0, verify.out + verify.err


def next_run_meets(cwd: Path, *only: str) -> None:
    args = [x for sc in only for x in ("--only", sc)]
    res = drill(cwd, "run", "quarterly-dr", "--json", *args)
    assert res.code == 0, res.err[-3000:]
    doc = json.loads(res.out)
    assert [s["met"] for s in doc["scenarios"]] == [True] * (len(only) or 4), doc


@pytest.mark.parametrize(("scenario", "point"), KILL_CASES, ids=[p for _sc, p in KILL_CASES])
def test_kill_at_each_boundary_is_recovered(lab: Path, scenario: str, point: str) -> None:
    if not FULL and (scenario, point) not in SAMPLE:
        pytest.skip("in the full crash suite only (DRILL_CRASH_SUITE=full)")
    res = drill(lab, "run", "quarterly-dr", "--only", scenario, "--json", crash=point)
    assert f" at {point.split('@')[0]}" in res.err, res.err[-3000:]  # the point was reached
    assert res.code == -signal.SIGKILL, res.err[-3000:]
    recovered_cleanly(lab, point)
    if point == POINTS[scenario][-1] or not FULL:  # the next run meets its objective
        next_run_meets(lab, scenario)


@pytest.mark.parametrize(
    ("scenario", "action", "sig"),
    ROLLBACK_STOPS_SIG,
    ids=[f"{sc}-{a}-{s}" for sc, a, s in ROLLBACK_STOPS_SIG],
)
def test_stop_during_each_rollback_starts_nothing_new(
    lab: Path, scenario: str, action: str, sig: str
) -> None:
    if not FULL and (scenario, action) not in SAMPLE_STOPS:
        pytest.skip("in the full crash suite only (DRILL_CRASH_SUITE=full)")
    point = f"rollback:{action}:start"
    upto = SCENARIOS[: SCENARIOS.index(scenario) + 1]
    args = [x for sc in SCENARIOS[SCENARIOS.index(scenario) :] for x in ("--only", sc)]
    res = drill(lab, "run", "quarterly-dr", "--json", *args, crash=f"{point}={sig}")
    assert f" at {point}" in res.err, res.err[-3000:]
    assert res.code == 3, res.err[-3000:]
    doc = json.loads(res.out)
    assert doc["status"] == "aborted" and f"SIG{sig.upper()}" in doc["error"]
    assert [s["id"] for s in doc["scenarios"]] == [scenario], "a later scenario started"
    assert upto[-1] == scenario
    shown = show(lab, doc["run_id"])
    undo = [s for s in shown["steps"] if s["phase"] == "rollback"]
    assert undo and all(s["status"] == "succeeded" for s in undo), undo
    assert lab_issues(lab) == []


STEP_STOPS = [
    (sc, p, ("int", "term")[i % 2])
    for i, (sc, p) in enumerate(
        (sc, p) for sc in SCENARIOS for p in POINTS[sc] if p.startswith("step:")
    )
]


@pytest.mark.parametrize(
    ("scenario", "point", "sig"), STEP_STOPS, ids=[f"{p}={s}" for _sc, p, s in STEP_STOPS]
)
def test_stop_at_each_step_boundary(lab: Path, scenario: str, point: str, sig: str) -> None:
    """SIGINT/SIGTERM at a step boundary: the step does not start (or the next one does
    not), rollbacks run, `aborted`, exit 3, the lab healthy (already covered on the lab
    mid-failover by test_interrupt_lab.py: full suite only)."""
    if not FULL:
        pytest.skip("in the full crash suite only (DRILL_CRASH_SUITE=full)")
    res = drill(lab, "run", "quarterly-dr", "--only", scenario, "--json", crash=f"{point}={sig}")
    assert f" at {point}" in res.err, res.err[-3000:]
    assert res.code == 3, res.err[-3000:]
    doc = json.loads(res.out)
    assert doc["status"] == "aborted" and f"SIG{sig.upper()}" in doc["error"]
    undo = [s for s in show(lab, doc["run_id"])["steps"] if s["phase"] == "rollback"]
    assert all(s["status"] in ("succeeded", "cancelled") for s in undo), undo
    assert lab_issues(lab) == []


def test_kill_during_recovery_then_recover(lab: Path) -> None:
    res = drill(
        lab, "run", "quarterly-dr", "--only", "az-loss", "--json", crash="step:az-loss:8:start"
    )
    assert res.code == -signal.SIGKILL, res.err[-3000:]
    again = drill(lab, "recover", crash="lab:reprotect:copied")
    assert again.code == -signal.SIGKILL, again.err[-3000:]
    recovered_cleanly(lab, "recovery")


@pytest.mark.parametrize(
    "point", ["lab:build:planned", "lab:build:copied", "lab:build:servers", "lab:build:streaming"]
)
def test_kill_during_lab_build(lab: Path, point: str) -> None:
    """A half-built lab is never taken for a running one: the next run rebuilds it."""
    if not FULL and point != "lab:build:servers":
        pytest.skip("in the full crash suite only (DRILL_CRASH_SUITE=full)")
    down = run(lab, "lab", "down", timeout=180)
    assert down.code == 0, down.err
    res = drill(lab, "lab", "up", crash=point)
    assert res.code == -signal.SIGKILL and f" at {point}" in res.err, res.err[-3000:]
    status = json.loads(run(lab, "lab", "status", "--json").out)
    assert status["running"] is False
    next_run_meets(lab, "rds-failover")
    assert lab_issues(lab) == []


def test_after_every_crash_the_full_drill_meets_four_of_four(lab: Path) -> None:
    next_run_meets(lab)
