"""The ``objectives_met`` evidence kind (ISO 27001 A.5.30, NIST CP-10): a control is not
satisfied while the latest judged run of any scenario missed its objectives — one met
scenario used to satisfy it beside a missed one — and a miss that a later run of the
same scenario met no longer counts against it."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from orchestrator.compliance.kinds import KINDS
from orchestrator.report.model import ReportData, RunView

T0 = datetime(2026, 11, 2, 9, 0)


def _run(run_id: str, day: int, **scenarios: tuple[bool, float]) -> dict[str, Any]:
    """A finished quarterly-dr run on ``lab`` whose scenarios met (or missed) an RTO of
    60 s with the given measured RTO."""
    at = T0 + timedelta(days=day)
    return {
        "id": run_id,
        "target": "quarterly-dr",
        "target_kind": "drill",
        "env": "lab",
        "mode": "live",
        "status": "succeeded" if all(m for m, _ in scenarios.values()) else "failed",
        "trigger": "manual",
        "who": "sre",
        "started_at": at,
        "ended_at": at + timedelta(minutes=5),
        "scenarios": [
            {
                "id": i,
                "scenario_id": name,
                "ref": f"runbook:{name}",
                "kind": "runbook",
                "status": "succeeded",
                "started_at": at,
                "rto_s": rto,
                "objective_rto_s": 60.0,
                "met": met,
            }
            for i, (name, (met, rto)) in enumerate(scenarios.items())
        ],
    }


def _collect(*runs: dict[str, Any]) -> Any:
    data = ReportData(
        title="t",
        generated_at=T0 + timedelta(days=30),
        generated_by="test",
        period_label="2026-Q4",
        runs=[RunView.model_validate(r) for r in runs],
    )
    return KINDS.get("objectives_met").collect(data)


def test_a_missed_scenario_beside_a_met_one_is_a_gap() -> None:
    got = _collect(
        _run("r-1", 0, **{"rds-failover": (True, 12.0), "region-promotion": (False, 75.5)})
    )
    assert not got.present
    assert [r.ref for r in got.refs] == ["run:r-1/scenario:rds-failover"]
    assert got.gap == (
        "objectives not met in the latest run of 1 scenario(s): "
        "region-promotion (quarterly-dr on lab, run r-1): RTO 75.500s > 1m 00s"
    )


def test_a_miss_met_by_a_later_run_of_the_scenario_is_no_gap() -> None:
    missed = _run("r-1", 0, **{"rds-failover": (True, 12.0), "region-promotion": (False, 75.5)})
    fixed = _run("r-2", 9, **{"region-promotion": (True, 41.0)})
    got = _collect(fixed, missed)  # in any order: the later start decides
    assert got.present, got.gap
    assert len(got.refs) == 2

    again = _run("r-3", 20, **{"rds-failover": (False, 61.0)})
    got = _collect(missed, fixed, again)
    assert not got.present
    assert (
        got.gap is not None
        and "rds-failover (quarterly-dr on lab, run r-3): RTO 61.000s" in got.gap
    )


def test_a_failover_exercised_in_an_aborted_scenario_says_how_it_ended() -> None:
    """The failover action succeeded, so it was exercised; but "az-loss: failover
    exercised" beside a run that was then aborted read as a recovery shown (SOC 2 CC7.5,
    ISO A.8.14): the reference now says how the scenario ended."""
    done = _run("r-1", 0, **{"rds-failover": (True, 12.0)})
    stopped = _run("r-2", 1, **{"az-loss": (True, 0.0)})
    stopped["status"] = stopped["scenarios"][0]["status"] = "aborted"
    for run, name in ((done, "rds-failover"), (stopped, "az-loss")):
        run["steps"] = [
            {
                "seq": 1,
                "scenario": name,
                "phase": "step",
                "name": "fail over",
                "kind": "action",
                "action": "db.failover",
                "status": "succeeded",
            }
        ]
    data = ReportData(
        title="t",
        generated_at=T0 + timedelta(days=30),
        generated_by="test",
        period_label="2026-Q4",
        runs=[RunView.model_validate(r) for r in (done, stopped)],
    )
    said = [r.description for r in KINDS.get("failover_tested").collect(data).refs]
    assert said == [
        "rds-failover (quarterly-dr on lab, 2026-11-02 09:00 UTC, run r-1): failover exercised",
        "az-loss (quarterly-dr on lab, 2026-11-03 09:00 UTC, run r-2): failover exercised "
        "(the scenario aborted)",
    ]
