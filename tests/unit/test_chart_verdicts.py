"""The RTO/RPO chart of report.html and report.pdf gives each measurement the scenario's
verdict: an aborted scenario's RTO below its objective read '2.409s (objective 5m 00s) ·
met' in green, beside the scenario table's 'not judged (the scenario was aborted …)'; a
scenario an isolated run skipped read 'not measured', in the red of a failure."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from orchestrator.report.model import RunView
from orchestrator.report.svg import GREY, chart_rows, objectives_svg

AT = datetime(2026, 12, 2, 2, 45)


def _scenario(i: int, name: str, status: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": i,
        "scenario_id": name,
        "ref": name,
        "kind": "runbook",
        "status": status,
        "started_at": AT,
        "objective_rto_s": 300.0,
        "objective_rpo_s": 0.0,
        **extra,
    }


def _run(status: str, *scenarios: dict[str, Any]) -> RunView:
    return RunView.model_validate(
        {
            "id": "r-1",
            "target": "quarterly-dr",
            "target_kind": "drill",
            "env": "lab",
            "mode": "live",
            "status": status,
            "trigger": "manual",
            "who": "sre",
            "started_at": AT,
            "scenarios": list(scenarios),
        }
    )


def test_an_aborted_scenario_is_not_judged_in_the_chart() -> None:
    run = _run(
        "aborted",
        _scenario(1, "az-loss", "aborted", rto_s=2.409, rpo_s=0.0, met=None),
        _scenario(2, "rds-failover", "succeeded", rto_s=1.4, rpo_s=0.0, met=True),
    )
    rows = {r.label: r for r in chart_rows([run]) if not r.heading}
    assert rows["az-loss RTO"].text == "2.409s (objective 5m 00s) · not judged (aborted)"
    assert rows["az-loss RPO"].text == "0.000s (objective 0.00s) · not judged (aborted)"
    assert not rows["az-loss RTO"].judged
    assert rows["rds-failover RTO"].text == "1.400s (objective 5m 00s) · met"
    svg = objectives_svg([run])
    assert svg.count(f'fill="{GREY}"') == 2 and "grey: not judged" in svg


def test_a_skipped_scenario_says_it_was_not_run() -> None:
    run = _run(
        "succeeded",
        _scenario(1, "az-loss", "succeeded", notes={"skipped": "live-only scenario"}),
    )
    heading, *rows = chart_rows([run])
    assert heading.label == "quarterly-dr · r-1 · succeeded; 1 of 1 scenarios skipped: not run"
    assert [r.text for r in rows] == [
        "skipped: not run (objective 5m 00s)",
        "skipped: not run (objective 0.00s)",
    ]
    assert "not measured" not in objectives_svg([run])
