"""Bulk evidence for the evidence benchmarks: 100,000 runs over 20 quarters.

Rows are inserted in bulk (not through the run engine, which would take days for
100,000 runs), but every row is chained by the real :func:`orchestrator.evidence.chain.append`,
exactly as the session events do for the engine. Per run: run, scenario run, 3 steps,
4 timeline events, 1 measurement; every 10th run failed with a finding: ~10.1 records
and as many chain entries per run, ~1,010,000 in all.

    .venv/bin/python benchmarks/evidence_data.py /tmp/drill-bench.db
"""

from __future__ import annotations

import resource
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from orchestrator.evidence.chain import append
from orchestrator.evidence.models import (
    Finding,
    Measurement,
    Run,
    ScenarioRun,
    StepRun,
    TimelineEvent,
)
from orchestrator.evidence.store import EvidenceStore

RUNS = 100_000
START = datetime(2022, 1, 1, tzinfo=UTC)
END = datetime(2027, 1, 1, tzinfo=UTC)
BATCH = 2000


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and of its reaped children."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


def build(path: Path, runs: int = RUNS) -> Path:
    if path.exists():
        return path
    tmp = path.with_suffix(".partial")
    tmp.unlink(missing_ok=True)
    store = EvidenceStore(f"sqlite:///{tmp}")
    step = (END - START) / runs
    t = {m: m.__table__ for m in (Run, ScenarioRun, StepRun, TimelineEvent, Measurement,
                                  Finding)}  # type: ignore[attr-defined]
    child = 0
    with store.engine.begin() as conn:
        for b in range(0, runs, BATCH):
            rows: dict[object, list[dict[str, object]]] = {m: [] for m in t}
            for i in range(b, min(b + BATCH, runs)):
                at = START + step * i
                rid = f"r-bench-{i:06d}"
                failed = i % 10 == 0
                status = "failed" if failed else "succeeded"
                rows[Run].append(dict(
                    id=rid, target="quarterly-dr", target_kind="drill", env="lab",
                    mode="live", status=status, trigger="schedule", who="scheduler",
                    host="bench", pid=1, started_at=at, ended_at=at + timedelta(seconds=95),
                    exit_code=1 if failed else 0, abort_requested=False))
                child += 1
                sc = child
                rows[ScenarioRun].append(dict(
                    id=sc, run_id=rid, seq=1, scenario_id="rds-failover", ref="rds-failover",
                    kind="runbook", status=status, started_at=at,
                    ended_at=at + timedelta(seconds=90),
                    fault_injected_at=at + timedelta(seconds=5),
                    service_restored_at=at + timedelta(seconds=70), rto_s=65.0 + i % 90,
                    rpo_s=0.0, lost_writes=0, objective_rto_s=120.0, objective_rpo_s=0.0,
                    met=not failed))
                for k, (name, action) in enumerate((("steady state", "db.health"),
                                                    ("fail over", "db.failover"),
                                                    ("verify", "data.verify"))):
                    rows[StepRun].append(dict(
                        id=child * 4 + k, run_id=rid, scenario_run_id=sc, seq=k + 1,
                        phase="step", name=name, kind="action", action=action,
                        status="succeeded", started_at=at + timedelta(seconds=5 * k),
                        ended_at=at + timedelta(seconds=5 * k + 4), attempts=1))
                for k, kind in enumerate(("run.start", "mark.fault_injected",
                                          "mark.service_restored", "run.end")):
                    rows[TimelineEvent].append(dict(
                        id=child * 4 + k, run_id=rid, scenario_run_id=sc,
                        at=at + timedelta(seconds=30 * k), kind=kind, message=kind))
                rows[Measurement].append(dict(
                    id=child, run_id=rid, scenario_run_id=sc, name="rto",
                    value=65.0 + i % 90, unit="s", method="probes", interval_s=1.0,
                    error_bound_s=1.0, objective=120.0, met=not failed))
                if failed:
                    rows[Finding].append(dict(
                        id=child, run_id=rid, scenario_run_id=sc, kind="objective_missed",
                        severity="high", title="rds-failover: RTO exceeds objective",
                        corrective_action="tune failover", status="open",
                        created_at=at + timedelta(seconds=95), drill="quarterly-dr",
                        env="lab"))
            changes = []
            for model, table in t.items():
                if rows[model]:
                    conn.execute(sa.insert(table), rows[model])
                    pk = "id"
                    changes.append((table, "insert",
                                    [((r[pk],), r["id"] if model is Run else r["run_id"])
                                     for r in rows[model]]))
            append(conn, changes)
    store.dispose()
    tmp.replace(path)
    return path


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/drill-bench.db")
    t0 = time.perf_counter()
    build(target)
    print(f"built {target} in {time.perf_counter() - t0:.1f}s")
