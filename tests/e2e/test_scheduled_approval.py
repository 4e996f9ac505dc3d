"""A run the scheduler starts on a protected environment records who approved it: the
person who gave --yes when adding the schedule or creating the game day. The evidence
named the scheduler service's user, who approved nothing. The run is started the way
`drill scheduler run` starts it (schedule.launcher's command line)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.clihelp import drill_out
from tests.integration.test_evidence_chain import write_definitions


@pytest.fixture
def protected(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    write_definitions(workdir)
    (workdir / "drill.yaml").write_text("environments:\n  lab: {provider: lab, protected: true}\n")
    monkeypatch.setenv("DRILL_OPERATOR", "alice")  # she approves, then the service runs
    return workdir


def _approvals(run_id: str) -> list[dict[str, str]]:
    code, out = drill_out("runs", "show", run_id, "--json")
    assert code == 0
    return list(json.loads(out)["approvals"])


@pytest.mark.parametrize("how", ["schedule", "gameday"])
def test_the_approver_is_who_approved_the_schedule(
    protected: Path, how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if how == "schedule":
        code, out = drill_out("schedule", "add", "mini", "--every", "1h", "--yes", "--json")
        ids = ["--schedule-id", json.loads(out)["id"]]
        made = f"schedule {ids[1]} was added"
    else:
        args = ["--date", "2030-03-01T10:00", "--drills", "mini", "--yes", "--json"]
        code, out = drill_out("gameday", "create", *args)
        ids = ["--gameday-id", json.loads(out)["id"]]
        made = f"game day {ids[1]} was created"
    assert code == 0, out
    monkeypatch.setenv("DRILL_OPERATOR", "drill-scheduler")
    trigger = ["--trigger", how]
    code, out = drill_out("run", "mini", "--env", "lab", "--json", *trigger, *ids, "--yes")
    assert code == 1  # one scenario deviates
    doc = json.loads(out)
    (approval,) = _approvals(doc["run_id"])
    assert approval["approved_by"] == "alice"
    assert approval["reason"] == f"--yes given when {made}"


def test_a_manual_run_is_approved_by_its_operator(protected: Path) -> None:
    code, out = drill_out("run", "mini", "--env", "lab", "--json", "--yes")
    assert code == 1
    (approval,) = _approvals(json.loads(out)["run_id"])
    assert approval["approved_by"] == "alice"
    assert approval["reason"] == "--yes given on a protected environment"
