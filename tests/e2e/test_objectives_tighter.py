"""Which objective a scenario is judged by (DESIGN 3: drill objectives default to RTO 4 h,
RPO 1 h and are "tighter per scenario"): the strictest of the drill's, the scenario's
and the runbook's, and `drill plan`, `drill run --json`, the evidence, the finding and
the report all say which one it was and where it came from.

Found as a user: a drill asking `objectives: {rto: 1ms}` of the rds-failover runbook
(whose own RTO is 120 s) planned, ran and passed against 120 s; a scenario saying
`rto: 1h` loosened the runbook's 15 m."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.clihelp import drill, run

TIGHT = """\
id: tight
title: drill objectives stricter than the runbooks'
objectives: {rto: 1ms}
scenarios:
  - runbook: rds-failover
  - runbook: region-promotion
    objectives: {rto: 1h, rpo: 5s}
  - runbook: backup-restore
"""


def test_the_strictest_layer_applies_and_is_named() -> None:
    from orchestrator.definitions.kinds import Objectives, effective_objectives

    o = Objectives.model_construct
    # a drill default tighter than the runbook's own: the drill's
    assert effective_objectives([("runbook", o(rto=600.0, rpo=None))], o(rto=60.0, rpo=None)) == (
        o(rto=60.0, rpo=3600.0),
        {"rto": "drill", "rpo": "default"},
    )
    # a scenario looser than its runbook does not loosen it; a tie names the scenario
    assert effective_objectives(
        [("scenario", o(rto=3600.0, rpo=0.0)), ("runbook", o(rto=900.0, rpo=0.0))], o()
    ) == (o(rto=900.0, rpo=0.0), {"rto": "runbook", "rpo": "scenario"})
    # a runbook run alone keeps its own objectives; the default fills what it leaves out
    assert effective_objectives([("runbook", o(rto=8 * 3600.0, rpo=None))], None) == (
        o(rto=8 * 3600.0, rpo=3600.0),
        {"rto": "runbook", "rpo": "default"},
    )


def test_plan_shows_the_objective_used_and_its_source(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (workdir / "tight.yaml").write_text(TIGHT)
    res = drill(capsys, "plan", "tight.yaml", "--env", "lab", "--json")
    assert res.code == 0, res.err
    got = {
        sc["id"]: (sc["objectives"], sc["objectives_from"])
        for sc in json.loads(res.out)["scenarios"]
    }
    assert got == {
        "rds-failover": ({"rto_s": 0.001, "rpo_s": 0.0}, {"rto": "drill", "rpo": "runbook"}),
        "region-promotion": ({"rto_s": 0.001, "rpo_s": 5.0}, {"rto": "drill", "rpo": "scenario"}),
        "backup-restore": ({"rto_s": 0.001, "rpo_s": 900.0}, {"rto": "drill", "rpo": "runbook"}),
    }
    text = drill(capsys, "plan", "tight.yaml", "--env", "lab")
    assert "objectives: RTO ≤ 1ms, RPO ≤ 15m 00s (RTO: drill, RPO: runbook)" in text.out
    # the scenario's `rto: 1h` never applies: said (with its line), not refused
    looser = (
        "drill: warning: tight.yaml:7: scenarios[1].objectives.rto 1h 00m does not apply: "
        "the drill's 1ms is stricter (objectives only tighten)"
    )
    assert looser in res.err and looser in text.err
    valid = drill(capsys, "validate", "tight.yaml")
    assert valid.code == 0 and looser in valid.err


@pytest.mark.lab
def test_run_is_judged_by_the_drill_objective_everywhere(
    labdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (labdir / "tight.yaml").write_text(TIGHT.split("  - runbook: region-promotion")[0])
    res = run(labdir, "run", "tight.yaml", "--env", "lab", "--json", timeout=600)
    doc = json.loads(res.out)
    (sc,) = doc["scenarios"]
    assert res.code == 1, res.err
    assert sc["objectives"] == {"rto_s": 0.001, "rpo_s": 0.0}
    assert sc["objectives_from"] == {"rto": "drill", "rpo": "runbook"}
    assert sc["met"] is False and sc["rto_s"] > 0.001

    shown = json.loads(run(labdir, "runs", "show", doc["run_id"], "--json").out)
    assert {k: shown[k] for k in doc} == doc
    (finding,) = shown["findings"]
    assert finding["kind"] == "objective_missed"
    assert finding["title"].endswith("exceeds objective 1ms")
    detail = shown["scenario_notes"]["rds-failover"]["objectives_from"]
    assert detail == {"rto": "drill", "rpo": "runbook"}

    report = labdir / "tight.html"
    out = run(labdir, "report", doc["run_id"], "--out", str(report))
    assert out.code == 0, out.err
    html = report.read_text()
    assert "RTO ≤ 1ms, RPO ≤ 0.00s: not met" in html
    assert (  # in words (it read "set by: RTO drill, RPO runbook")
        '<span class="meta">set by RTO: the drill\'s objectives; '
        "RPO: the runbook's own objectives</span>"
    ) in html.replace("&#39;", "'")

    # the dashboard's run page (`drill serve`), in-process
    from starlette.testclient import TestClient

    from orchestrator.web.app import create_app
    from orchestrator.web.metrics import Sources
    from tests.clihelp import clear_drill_env

    clear_drill_env(monkeypatch)
    monkeypatch.chdir(labdir)
    with TestClient(create_app(Sources.open(None))) as client:
        page = client.get(f"/runs/{doc['run_id']}").text
    assert "RTO 0.001 s (drill) · RPO 0.0 s (runbook)" in page

    # the export: a missed objective is no evidence that objectives were met (ISO A.5.30
    # read "satisfied" while the period's only run of the scenario missed its RTO)
    day = doc["started_at"][:10]
    bundle = labdir / "tight.zip"
    args = ["evidence", "export", "--from", day, "--to", day, "--framework", "iso27001"]
    exported = run(labdir, *args, "--out", str(bundle), "--json")
    assert exported.code == 0, exported.err
    assert json.loads(exported.out)["controls"]["iso27001:A.5.30"] is False
    import zipfile

    with zipfile.ZipFile(bundle) as zf:
        (a530,) = (
            r
            for r in json.loads(zf.read("controls/iso27001.json"))["results"]
            if r["control_id"] == "A.5.30"
        )
    (why,) = [m for m in a530["missing"] if m.startswith("objectives_met")]
    assert f"rds-failover (tight on lab, run {doc['run_id']}): RTO " in why
    assert why.endswith(" > 1ms"), why


def test_an_experiment_scenario_has_no_objectives(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """drill measures RTO/RPO of runbooks; an experiment's steady-state hypothesis decides
    it. In a drill it was given the drill's objectives (default RTO 4h, RPO 1h) that
    nothing measured: the run said `objectives: {rto_s: 14400, …}, met: true`, the report
    "RTO ≤ 4h 00m: met" beside "RTO not measured", and exports counted objectives met."""
    from tests.e2e.defs import experiment, write

    write(workdir, "experiments/exp.yaml", experiment(workdir / "marker"))
    write(workdir, "drills/d.yaml", "id: d\ntitle: d\nscenarios:\n  - experiment: exp\n")
    planned = json.loads(drill(capsys, "plan", "d", "--env", "lab", "--json").out)
    (sc,) = planned["scenarios"]
    assert (sc["objectives"], sc["objectives_from"]) == ({"rto_s": None, "rpo_s": None}, {})
    res = drill(capsys, "run", "d", "--env", "lab", "--json")
    assert res.code == 0, res.err
    (sc,) = json.loads(res.out)["scenarios"]
    assert sc["objectives"] == {"rto_s": None, "rpo_s": None} and sc["met"] is True
    assert "objectives_from" not in sc

    bad = write(
        workdir,
        "drills/bad.yaml",
        "id: bad\ntitle: bad\nscenarios:\n  - experiment: exp\n    objectives: {rto: 2m}\n",
    )
    refused = drill(capsys, "validate", str(bad))
    assert refused.code == 2
    assert f"{bad}:4: objectives apply to runbook scenarios" in refused.err


NO_MARK = """\
id: no-mark
title: a failover whose fault step is not marked
objectives: {rto: 2m, rpo: 0s}
steps:
  - name: force a failover to the standby
    action: db.failover
    args: {target: primary_db, wait: false}
"""

CHECK_ONLY = """\
id: check-only
title: the primary answers (nothing injected, default objectives)
steps:
  - name: the primary answers
    kind: probe
    action: db.health
    args: {target: primary_db}
"""


def test_an_objective_with_no_fault_marked_is_said_unmeasurable(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """RTO and RPO are measured from the step marked fault_injected: a runbook with its own
    objectives and no such mark was judged met with nothing measured, and nothing said so."""
    (workdir / "no-mark.yaml").write_text(NO_MARK)
    (workdir / "check-only.yaml").write_text(CHECK_ONLY)
    said = (
        "drill: warning: no-mark.yaml:4: no step of no-mark marks fault_injected: its RTO and "
        "RPO objectives cannot be measured and would pass unmeasured (add `mark: "
        "fault_injected` to the step that injects the fault)"
    )
    valid = drill(capsys, "validate", "no-mark.yaml", "check-only.yaml")
    assert valid.code == 0, valid.err
    assert said in " ".join(valid.err.split()), valid.err
    assert "check-only" not in valid.err  # the default objectives alone: a check, no warning
    plan = drill(capsys, "plan", "no-mark.yaml", "--env", "lab")
    assert plan.code == 0 and said in " ".join(plan.err.split()), plan.err


def test_a_probe_written_as_an_action_is_told_how_to_write_it(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (workdir / "wrong-kind.yaml").write_text(CHECK_ONLY.replace("    kind: probe\n", ""))
    valid = drill(capsys, "validate", "wrong-kind.yaml")
    assert valid.code == 2
    assert (
        "wrong-kind.yaml:4: db.health is a probe, not an action (write `kind: probe` on the "
        "step)" in " ".join(valid.err.split())
    ), valid.err
