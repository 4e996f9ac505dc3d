"""Bulk evidence for the evidence benchmarks: runs spread over 2022-Q1..2026-Q4, journaled.

Rows are inserted in bulk (not through the run engine, which would take days for 100,000
runs), but every event goes through the real :func:`orchestrator.evidence.journal.append`
with the data :func:`journal.reader` makes of the row as stored — what the engine's
writer does — stamped with the time of its run. Each run has the lifecycle the engine
writes: run, scenario and 3 steps inserted and later updated (started → finished), 4
timeline events, 1 measurement, and every 10th run failed with a finding: 15.1 events and
10.1 records per run.

    .venv/bin/python benchmarks/evidence_data.py /tmp/drill-journal.db [RUNS]
"""

from __future__ import annotations

import argparse
import resource
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from orchestrator.evidence import journal
from orchestrator.evidence.records import projections
from orchestrator.evidence.store import EvidenceStore

RUNS = 100_000
RUNS_1M_EVENTS = 66_226  # 15.1 events a run: just over 1,000,000 events
START = datetime(2022, 1, 1, tzinfo=UTC)
END = datetime(2027, 1, 1, tzinfo=UTC)
BATCH = 2000
TABLES = ("run", "scenario_run", "step_run", "timeline_event", "measurement", "finding")


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and of its reaped children."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


def _ts(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _rows(i: int, runs: int) -> dict[str, list[dict[str, Any]]]:
    at = START + (END - START) / runs * i
    rid, failed = f"r-bench-{i:06d}", i % 10 == 0
    status = "failed" if failed else "succeeded"
    out: dict[str, list[dict[str, Any]]] = {t: [] for t in TABLES}
    out["run"].append(
        dict(
            id=rid,
            target="quarterly-dr",
            target_kind="drill",
            env="lab",
            mode="live",
            status=status,
            trigger="schedule",
            who="scheduler",
            host="bench",
            pid=1,
            started_at=_ts(at),
            ended_at=_ts(at + timedelta(seconds=95)),
            exit_code=1 if failed else 0,
            abort_requested=0,
        )
    )
    sc = i + 1
    out["scenario_run"].append(
        dict(
            id=sc,
            run_id=rid,
            seq=1,
            scenario_id="rds-failover",
            ref="rds-failover",
            kind="runbook",
            status=status,
            started_at=_ts(at),
            ended_at=_ts(at + timedelta(seconds=90)),
            fault_injected_at=_ts(at + timedelta(seconds=5)),
            service_restored_at=_ts(at + timedelta(seconds=70)),
            rto_s=65.0 + i % 90,
            rpo_s=0.0,
            lost_writes=0,
            objective_rto_s=120.0,
            objective_rpo_s=0.0,
            met=int(not failed),
        )
    )
    for k, (name, action) in enumerate(
        (("steady state", "db.health"), ("fail over", "db.failover"), ("verify", "data.verify"))
    ):
        out["step_run"].append(
            dict(
                id=sc * 4 + k,
                run_id=rid,
                scenario_run_id=sc,
                seq=k + 1,
                phase="step",
                name=name,
                kind="action",
                action=action,
                status="succeeded",
                started_at=_ts(at + timedelta(seconds=5 * k)),
                ended_at=_ts(at + timedelta(seconds=5 * k + 4)),
                attempts=1,
            )
        )
    for k, kind in enumerate(
        ("run.start", "mark.fault_injected", "mark.service_restored", "run.end")
    ):
        out["timeline_event"].append(
            dict(
                id=sc * 4 + k,
                run_id=rid,
                scenario_run_id=sc,
                at=_ts(at + timedelta(seconds=30 * k)),
                kind=kind,
                message=kind,
            )
        )
    out["measurement"].append(
        dict(
            id=sc,
            run_id=rid,
            scenario_run_id=sc,
            name="rto",
            value=65.0 + i % 90,
            unit="s",
            method="probes",
            interval_s=1.0,
            error_bound_s=1.0,
            objective=120.0,
            met=int(not failed),
        )
    )
    if failed:
        out["finding"].append(
            dict(
                id=sc,
                run_id=rid,
                scenario_run_id=sc,
                kind="objective_missed",
                severity="high",
                title="rds-failover: RTO exceeds objective",
                corrective_action="tune failover",
                status="open",
                created_at=_ts(at + timedelta(seconds=95)),
                drill="quarterly-dr",
                env="lab",
            )
        )
    return out


_STARTED = {"status": "running", "ended_at": None, "exit_code": None, "met": None}


def _events(rows: dict[str, dict[str, dict[str, Any]]]) -> list[journal.Change]:
    """One run's events in the engine's order: starts, steps, marks, ends."""

    def change(table: str, op: str, data: dict[str, Any]) -> journal.Change:
        run = data["id"] if table == "run" else data["run_id"]
        if op == "insert" and table in ("run", "scenario_run", "step_run"):
            data = {k: (_STARTED[k] if k in _STARTED and k in data else v) for k, v in data.items()}
        return (table, op, str(data["id"]), run, data)

    (run,) = rows["run"].values()
    (sc,) = rows["scenario_run"].values()
    out = [change("run", "insert", run), change("scenario_run", "insert", sc)]
    for step in rows["step_run"].values():
        out += [change("step_run", "insert", step), change("step_run", "update", step)]
    out += [change("timeline_event", "insert", e) for e in rows["timeline_event"].values()]
    out += [change("measurement", "insert", m) for m in rows["measurement"].values()]
    out.append(change("scenario_run", "update", sc))
    out += [change("finding", "insert", f) for f in rows["finding"].values()]
    out.append(change("run", "update", run))
    return out


def build(path: Path, runs: int = RUNS) -> Path:
    if path.exists():
        return path
    tmp = path.with_suffix(".partial")
    tmp.unlink(missing_ok=True)
    EvidenceStore(f"sqlite:///{tmp}").dispose()  # the schema, by the real migrations
    specs = {p.name: p for p in projections()}
    conn = sqlite3.connect(tmp, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    for b in range(0, runs, BATCH):
        batch = [_rows(i, runs) for i in range(b, min(b + BATCH, runs))]
        conn.execute("BEGIN IMMEDIATE")
        stored: dict[str, dict[str, dict[str, Any]]] = {t: {} for t in TABLES}
        for table in TABLES:
            spec = specs[table]
            values: list[list[Any]] = [
                [r.get(n) for n in spec.names] for run in batch for r in run[table]
            ]
            if not values:
                continue
            conn.executemany(
                f'INSERT INTO "{table}" ({", ".join(spec.names)}) VALUES '
                f"({', '.join('?' * len(spec.names))})",
                values,
            )
            read = journal.reader(spec.types, postgres=False)
            low = min(v[0] for v in values) if table != "run" else None
            where = (
                f"id >= {low}"
                if low is not None
                else f"id >= 'r-bench-{b:06d}' AND id < 'r-bench-{b + BATCH:06d}'"
            )
            for row in conn.execute(f"{spec.select()} WHERE {where}"):
                stored[table][str(row[0])] = dict(zip(spec.names, read(row), strict=True))
        for run in batch:  # stamped with the run's time, as the engine's writes would be
            started = datetime.strptime(run["run"][0]["started_at"], journal.DATA_TS)
            journal.append(
                conn,
                _events(
                    {t: {str(r["id"]): stored[t][str(r["id"])] for r in run[t]} for t in TABLES}
                ),
                postgres=False,
                at=started.strftime(journal.TS_FORMAT),
            )
        conn.execute("COMMIT")
    conn.close()
    tmp.replace(path)
    return path


if __name__ == "__main__":
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("path", nargs="?", type=Path, default=Path("/tmp/drill-journal.db"))
    ap.add_argument("runs", nargs="?", type=int, default=RUNS, help=f"default {RUNS:,}")
    args = ap.parse_args()
    if args.runs < 1:
        ap.error("RUNS must be at least 1")
    target = args.path
    t0 = time.perf_counter()
    build(target, args.runs)
    print(f"built {target} in {time.perf_counter() - t0:.1f}s")
