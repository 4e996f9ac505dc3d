"""An objective_missed finding says its objective once, in one spelling: its title read
'RTO 1.40s exceeds objective 1ms' and its detail '…; objective is 0.001s' (a 5-minute
objective: '5m 00s' in the title, '300s' in the detail), in the same row of the report."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from orchestrator.engine.objectives import judge
from orchestrator.evidence.enums import RunStatus
from orchestrator.evidence.records import ScenarioRun

AT = datetime(2026, 12, 2, 2, 44, 56, tzinfo=UTC)


def _row(**kw: object) -> ScenarioRun:
    return ScenarioRun(
        run_id="r-1",
        seq=1,
        scenario_id="rds-failover",
        ref="rds-failover",
        kind="runbook",
        status="succeeded",
        started_at=AT,
        fault_injected_at=AT,
        service_restored_at=AT + timedelta(seconds=1.398702),
        lost_writes=3,
        **kw,  # type: ignore[arg-type]
    )


def test_title_and_detail_give_the_objective_alike() -> None:
    verdict = judge(
        _row(rto_s=1.398702, rpo_s=0.5, objective_rto_s=0.001, objective_rpo_s=0.0),
        RunStatus.SUCCEEDED,
    )
    rto, rpo = verdict.misses
    assert rto.title == "RTO 1.40s exceeds objective 1ms"
    assert rto.detail.startswith("service was restored 1.399s after the fault was injected; ")
    assert "objective is 1ms" in rto.detail
    assert rpo.title == "RPO 0.50s exceeds objective 0.00s" and "objective is 0.00s" in rpo.detail
    (slow,) = judge(_row(rto_s=301.0, objective_rto_s=300.0), RunStatus.SUCCEEDED).misses
    assert (
        slow.title == "RTO 5m 01s exceeds objective 5m 00s" and "objective is 5m 00s" in slow.detail
    )
