"""The bundled DR runbooks and quarterly drill: valid, provider-neutral, rendered and current."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from orchestrator.actions import ACTIONS
from orchestrator.definitions.kinds import Mark, RunMode, StepKind, runs_in
from orchestrator.definitions.loader import load_definition
from orchestrator.definitions.models import Drill, Runbook
from orchestrator.definitions.render import render_runbook
from tests.clihelp import drill

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = ("az-loss", "rds-failover", "region-promotion", "backup-restore")


def runbook(name: str) -> Runbook:
    _kind, rb, _doc = load_definition(REPO / "runbooks" / f"{name}.yaml")
    assert isinstance(rb, Runbook)
    return rb


@pytest.mark.parametrize("name", SCENARIOS)
def test_runbook_is_measurable_and_verifiable(name: str) -> None:
    rb = runbook(name)
    assert rb.id == name and rb.scenario == name
    assert rb.preconditions, "steady state must be checked first"
    modes = [RunMode.LIVE, RunMode.ISOLATED] if rb.isolated_supported else [RunMode.LIVE]
    for mode in modes:  # one fault mark and one data verification, whichever mode runs
        marks = [s.mark for s in rb.steps if s.mark and runs_in(s.isolated, mode)]
        assert marks == [Mark.FAULT_INJECTED], mode
        assert [v.action for v in rb.verification if runs_in(v.isolated, mode)] == [
            "data.verify"
        ], mode
    assert any(s.kind is StepKind.WAIT and s.until == "service_restored" for s in rb.steps)
    assert rb.objectives.rto is not None and rb.objectives.rpo is not None
    for step in [*rb.preconditions, *rb.steps, *rb.rollback]:
        assert step.action is None or step.action in ACTIONS  # provider-neutral names only
        assert step.activity is None


def test_quarterly_drill_composes_the_four_with_tighter_objectives() -> None:
    _kind, d, _doc = load_definition(REPO / "drills" / "quarterly-dr.yaml")
    assert isinstance(d, Drill)
    assert [s.runbook for s in d.scenarios] == list(SCENARIOS)
    assert (d.objectives.rto, d.objectives.rpo) == (4 * 3600, 3600)
    by_id = {s.runbook: s.objectives for s in d.scenarios}
    assert (by_id["rds-failover"].rto, by_id["rds-failover"].rpo) == (120, 0)
    lag_budget = next(
        s.args["max_lag_s"]
        for s in runbook("region-promotion").preconditions
        if s.action == "db.replication_lag"
    )
    assert by_id["region-promotion"].rpo == lag_budget
    for objectives in by_id.values():
        assert objectives.rto is not None and objectives.rto <= d.objectives.rto
        assert objectives.rpo is not None and objectives.rpo <= d.objectives.rpo


def test_region_promotion_rolls_back_region_first() -> None:
    rb = runbook("region-promotion")
    assert [s.action for s in rb.rollback] == ["region.restore", "dns.point", "db.rebuild_replica"]
    assert not any(s.rollback for s in rb.steps if s.kind is StepKind.ACTION)


# actions that disrupt production: never run in isolated mode
PRODUCTION_FAULTS = {
    "region.isolate",
    "region.restore",
    "dns.point",
    "data.drop_table",
    "az.isolate",
    "db.failover",
}


def test_isolated_mode_leaves_production_alone() -> None:
    supported = {name for name in SCENARIOS if runbook(name).isolated_supported}
    assert supported == {"region-promotion", "backup-restore"}  # az-loss, rds-failover: live
    for name in supported:
        rb = runbook(name)
        isolated = [
            s
            for s in [*rb.preconditions, *rb.steps, *rb.rollback]
            if runs_in(s.isolated, RunMode.ISOLATED)
        ]
        assert not {s.action for s in isolated} & PRODUCTION_FAULTS, name
        live = [s for s in rb.steps if runs_in(s.isolated, RunMode.LIVE)]
        assert {s.action for s in live} & PRODUCTION_FAULTS, name  # live mode still does it


def test_az_loss_isolates_the_primary_az_resolved_at_run_time() -> None:
    rb = runbook("az-loss")
    (iso,) = [s for s in rb.steps if s.action == "az.isolate"]
    assert iso.args == {"az": "primary"}
    assert ACTIONS.get("az.isolate").validate_args({}).model_dump() == {"az": "primary"}


@pytest.mark.parametrize("name", SCENARIOS)
def test_committed_rendering_is_current(name: str) -> None:
    committed = (REPO / "runbooks" / f"{name}.md").read_text(encoding="utf-8")
    assert committed == render_runbook(runbook(name), f"runbooks/{name}.yaml"), (
        f"runbooks/{name}.md is stale: run `drill runbook render`"
    )


def test_rendering_is_what_a_human_follows() -> None:
    text = render_runbook(runbook("rds-failover"), "runbooks/rds-failover.yaml")
    assert text.startswith("<!-- Generated from runbooks/rds-failover.yaml")
    assert "T0, fault injected" in text and "service restored" in text
    assert "rds:RebootDBInstance" in text  # what to do by hand on AWS
    assert "## Rollback" in text and "`db.reprotect`" in text
    assert "RTO ≤ 2m 00s, RPO ≤ 0.00s" in text


def test_validate_and_render_check_through_the_cli(
    capsys: pytest.CaptureFixture[str], workdir: Path
) -> None:
    for sub in ("runbooks", "drills"):
        shutil.copytree(REPO / sub, workdir / sub)
    res = drill(capsys, "validate")
    assert res.code == 0, res.err
    assert drill(capsys, "runbook", "render", "--check").code == 0
    (workdir / "runbooks" / "az-loss.md").write_text("hand edited\n")
    (workdir / "runbooks" / "rds-failover.md").unlink()
    res = drill(capsys, "runbook", "render", "--check")
    assert res.code == 1
    assert "drill: error: 2 rendered runbook(s)" in res.err and "az-loss.md" in res.err
    res = drill(capsys, "runbook", "render", "rds-failover", "--out", "out")
    assert res.code == 0 and (workdir / "out" / "rds-failover.md").exists()
    assert drill(capsys, "runbook", "render").code == 0
    assert drill(capsys, "runbook", "render", "--check").code == 0
    res = drill(capsys, "runbook", "render", "no-such-runbook")
    assert res.code == 2 and "drill: error:" in res.err and "Traceback" not in res.err


def test_bundled_runbooks_render_into_the_users_runbooks_directory(
    capsys: pytest.CaptureFixture[str], workdir: Path
) -> None:
    """Without local runbooks, `drill runbook render` wrote beside the installed package
    (where nobody looks, and maybe not writable); now into ./runbooks/, saying so."""
    from orchestrator.definitions.catalog import bundled_root

    bundled = bundled_root() / "runbooks"
    before = {p.name: p.stat().st_mtime_ns for p in bundled.glob("*.md")}
    res = drill(capsys, "runbook", "render")
    assert res.code == 0, res.err
    for name in SCENARIOS:
        dest = workdir / "runbooks" / f"{name}.md"
        assert dest.read_text(encoding="utf-8") == render_runbook(
            runbook(name), f"runbooks/{name}.yaml"
        )
        assert f"wrote runbooks/{name}.md (bundled runbook {name})\n" in res.err
    assert {p.name: p.stat().st_mtime_ns for p in bundled.glob("*.md")} == before
    assert drill(capsys, "runbook", "render", "--check").code == 0
    (workdir / "runbooks" / "az-loss.md").unlink()
    assert drill(capsys, "runbook", "render", "--check").code == 1
    # one by id, into the directory drill.yaml names for runbooks
    (workdir / "drill.yaml").write_text("paths: {runbooks: [mine]}\n")
    res = drill(capsys, "runbook", "render", "rds-failover")
    assert res.code == 0 and (workdir / "mine" / "rds-failover.md").exists(), res.err
