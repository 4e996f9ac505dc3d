"""`isolated: run | skip | only` on steps and verifications: validation and what runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from orchestrator.definitions.kinds import DefinitionKind, Objectives, RunMode, runs_in
from orchestrator.definitions.models import Runbook, Step
from orchestrator.engine.plan import ScenarioPlan
from tests.clihelp import drill
from tests.e2e.defs import write

RUNBOOK = {
    "id": "rb",
    "title": "t",
    "isolated_supported": True,
    "preconditions": [{"kind": "probe", "action": "db.health", "isolated": "skip"}],
    "steps": [
        {
            "name": "fault",
            "action": "data.drop_table",
            "mark": "fault_injected",
            "isolated": "skip",
        },
        {
            "name": "mark",
            "kind": "probe",
            "action": "db.health",
            "mark": "fault_injected",
            "isolated": "only",
        },
        {"name": "both", "kind": "wait", "until": "service_restored"},
    ],
    "verification": [
        {"name": "live", "args": {"target": "db"}, "isolated": "skip"},
        {"name": "clone", "args": {"target": "clone"}, "isolated": "only"},
    ],
    "rollback": [
        {"name": "undo", "action": "dns.point", "isolated": "skip"},
        {"name": "drop clone", "action": "db.rebuild_replica"},
    ],
}


def test_runs_in() -> None:
    assert [runs_in(p, RunMode.LIVE) for p in ("run", "skip", "only")] == [True, True, False]
    assert [runs_in(p, RunMode.ISOLATED) for p in ("run", "skip", "only")] == [True, False, True]


def test_plan_picks_the_steps_of_each_mode() -> None:
    rb = Runbook.model_validate(RUNBOOK)
    sc = ScenarioPlan(1, "rb", DefinitionKind.RUNBOOK, "rb", Objectives(), rb)
    names = {
        m: (
            [s.title for s in sc.preconditions_for(m)],
            [s.title for s in sc.steps_for(m)],
            [v.name for v in sc.verification_for(m)],
            [s.title for s in sc.rollback_for(m)],
        )
        for m in RunMode
    }
    assert names[RunMode.LIVE] == (
        ["db.health"],
        ["fault", "both"],
        ["live"],
        ["undo", "drop clone"],
    )
    assert names[RunMode.ISOLATED] == ([], ["mark", "both"], ["clone"], ["drop clone"])
    assert not sc.destructive(RunMode.ISOLATED) and sc.destructive(RunMode.LIVE)


def test_only_steps_need_isolated_support() -> None:
    with pytest.raises(ValidationError, match="isolated: only"):
        Runbook.model_validate({**RUNBOOK, "isolated_supported": False})


def test_a_mode_without_steps_is_rejected() -> None:
    with pytest.raises(ValidationError, match="no step runs in live mode"):
        Runbook.model_validate(
            {
                "id": "rb",
                "title": "t",
                "steps": [{"action": "db.health", "kind": "probe", "isolated": "only"}],
            }
        )
    with pytest.raises(ValidationError, match="no step runs in isolated mode"):
        Runbook.model_validate(
            {
                "id": "rb",
                "title": "t",
                "steps": [{"action": "db.health", "kind": "probe", "isolated": "skip"}],
            }
        )
    # a live-only runbook may skip everything in isolated mode: it never runs there
    Runbook.model_validate(
        {
            "id": "rb",
            "title": "t",
            "isolated_supported": False,
            "steps": [{"action": "db.health", "kind": "probe", "isolated": "skip"}],
        }
    )


def test_bad_policy_is_a_validation_problem() -> None:
    with pytest.raises(ValidationError):
        Step.model_validate({"action": "db.health", "isolated": "sometimes"})


def test_validate_reports_bad_isolated_use(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = write(
        workdir,
        "runbooks/bad.yaml",
        """id: bad
title: unknown policy
steps:
  - {kind: probe, action: db.health}
  - {kind: probe, action: db.health, isolated: never}
""",
    )
    res = drill(capsys, "validate", str(bad))
    assert res.code == 2 and "Traceback" not in res.err
    assert f"{bad}:5: Input should be 'run', 'skip' or 'only' (steps[1].isolated)" in res.err
    live = write(
        workdir,
        "runbooks/live.yaml",
        """id: live
title: only-steps in a live-only runbook
isolated_supported: false
steps:
  - {kind: probe, action: db.health}
  - {kind: probe, action: db.health, isolated: only}
""",
    )
    res = drill(capsys, "validate", str(live))
    assert res.code == 2 and "Traceback" not in res.err
    assert "drill: error:" in res.err and "isolated_supported: false" in res.err


def test_plan_shows_what_isolated_mode_runs(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    res = drill(capsys, "plan", "quarterly-dr", "--env", "lab", "--mode", "isolated", "--json")
    assert res.code == 0, res.err
    by_id = {sc["id"]: sc for sc in json.loads(res.out)["scenarios"]}
    for sid in ("az-loss", "rds-failover"):
        assert "live-only scenario" in by_id[sid]["skipped"] and by_id[sid]["steps"] == []
    actions = {
        s.get("action")
        for sid in ("region-promotion", "backup-restore")
        for s in by_id[sid]["steps"]
    }
    assert "db.promote_replica" in actions and "db.restore" in actions
    assert not actions & {"region.isolate", "dns.point", "data.drop_table", "region.restore"}
    live = drill(capsys, "plan", "az-loss", "--env", "lab", "--json")
    iso = next(
        s for s in json.loads(live.out)["scenarios"][0]["steps"] if s.get("action") == "az.isolate"
    )
    assert iso["args"] == {"az": "primary"} and iso["rollback"]["args"] == {"az": "primary"}
    assert "the primary's AZ now" in iso["calls"][0]["target"]


def test_bundled_steps_that_run_live_do_not_say_they_run_isolated() -> None:
    """A live quarterly-dr printed, and recorded as evidence, "promote the us-west-2
    replica to primary (isolated mode, a clone of it)": an auditor reading a live run
    was told production was left alone. A step that runs in live mode may say what it
    does *in* isolated mode, not that it is in it."""
    import re

    from orchestrator.definitions.catalog import bundled_root
    from orchestrator.definitions.loader import load_definition
    from orchestrator.definitions.models import Runbook

    says_isolated = re.compile(r"\((isolated mode|a clone)\b", re.I)
    for path in sorted((bundled_root() / "runbooks").glob("*.yaml")):
        _kind, rb, _doc = load_definition(path)
        assert isinstance(rb, Runbook)
        for step in [*rb.preconditions, *rb.steps, *rb.rollback]:
            if step.isolated != "only":
                assert not says_isolated.search(step.title), (path.name, step.title)
