"""Accuracy of drill's RTO and lost-writes measurements against the lab's ground truth.

Each DR scenario runs N times (default 20) through the real CLI on a real lab. For
every run:

* **RTO error** = the probes' "service restored" instant - the lab's own record of
  the moment it restored service (``.drill/lab/ground-truth.jsonl``: the endpoint
  repointed by the failover controller, the global record repointed, the restored
  instance ready). Both RTOs are measured from the same fault mark, so this is also
  the RTO error. Pass: 0 ≤ error ≤ one probe interval. The lab's log is only a
  cross-check here; drill never reads it when measuring.
* **Lost writes exact**: drill's ``lost_writes`` equals the number of acknowledged
  heartbeat rows (from the ledger stored as evidence) that this script does *not*
  find when it reads the surviving database itself.

Scenarios: ``rds-failover`` and ``backup-restore`` run the bundled runbooks;
``az-loss`` the bundled runbook aimed at the AZ that holds the primary right now;
``region-promotion`` a copy that first throttles the region link (so writes are
really lost) and keeps the promoted replica until it has been read, then rebuilds it.

    .venv/bin/python benchmarks/accuracy_rto_rpo.py [--runs 20] [--scenario NAME …]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

INTERVAL = 0.1
THROTTLED = (REPO / "tests" / "e2e" / "test_quarterly_dr.py").read_text()
THROTTLED = THROTTLED.split('RUNBOOK = """\\\n', 1)[1].split('"""', 1)[0]
CLEANUP = """\
id: {id}
title: benchmark cleanup
steps:
  - action: {action}
"""
# the lab event that marks service restored, per scenario (and what it must name)
GT_EVENT = {
    "rds-failover": ("endpoint_repointed", None),
    "az-loss": ("endpoint_repointed", None),
    "region-promotion": ("dns_repointed", "usw2"),
    "backup-restore": ("restore_done", None),
}
# the probe whose restoration the lab's event corresponds to
GT_PROBE = {
    "rds-failover": "sql@db",
    "az-loss": "sql@db",
    "region-promotion": "sql@global_db",
    "backup-restore": "dataset@restored",
}


def drill(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if check and proc.returncode != 0:
        raise SystemExit(f"drill {' '.join(args)} → exit {proc.returncode}\n{proc.stderr[-2000:]}")
    return proc


def ts(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def ledger(cwd: Path, run_id: str) -> tuple[str, list[Any]]:
    import sqlalchemy as sa

    from orchestrator.measure.ledger import decode_ledger

    engine = sa.create_engine(f"sqlite:///{cwd / '.drill' / 'evidence.db'}")
    with engine.connect() as conn:
        blob = conn.execute(
            sa.text(
                "SELECT data FROM probe_series WHERE run_id = :r AND probe = 'heartbeat-ledger'"
            ),
            {"r": run_id},
        ).scalar_one()
    engine.dispose()
    writer, acks, _unknown = decode_ledger(blob)
    return writer, acks


def surviving(dsn: str, writer: str) -> set[int]:
    import psycopg

    with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
        return {
            r[0]
            for r in conn.execute("SELECT seq FROM drill_heartbeat WHERE writer = %s", (writer,))
        }


def one_run(cwd: Path, scenario: str) -> dict[str, Any]:
    gt_file = cwd / ".drill" / "lab" / "ground-truth.jsonl"
    offset = gt_file.stat().st_size
    status = json.loads(drill(cwd, "lab", "status", "--json").stdout)
    extra: list[str] = []
    # az-loss needs no copy: `az: primary` follows the primary from run to run
    if scenario == "region-promotion":
        target = cwd / "throttled.yaml"
        target.write_text(THROTTLED)
    else:
        target = REPO / "runbooks" / f"{scenario}.yaml"
        if scenario == "backup-restore":
            extra = ["--keep"]
    res = drill(cwd, "run", str(target), "--env", "lab", "--json", *extra, check=False)
    doc = json.loads(res.stdout)
    (sc,) = doc["scenarios"]
    shown = json.loads(drill(cwd, "runs", "show", doc["run_id"], "--json").stdout)
    rto_m = next(m for m in shown["measurements"] if m["name"] == "rto")
    probe_restored = rto_m["details"]["probes"][GT_PROBE[scenario]]["restored_at"]
    event, must = GT_EVENT[scenario]
    mark = ts(sc["fault_injected_at"])
    lines = [json.loads(line) for line in gt_file.read_text()[offset:].splitlines() if line]
    gt = next(
        e
        for e in lines
        if e["event"] == event and ts(e["wall"]) >= mark and (must is None or must in json.dumps(e))
    )
    gt_fault = next((ts(e["wall"]) for e in lines if e["event"] == "fault_injected"), None)
    writer, acks = ledger(cwd, doc["run_id"])
    if scenario == "region-promotion":
        usw2 = next(c for c in status["components"] if c["name"] == "usw2")
        dsn = f"host=127.0.0.1 port={usw2['port']} dbname=app user=drill"
    elif scenario == "backup-restore":
        dsn = next(s["output"]["dsn"] for s in shown["steps"] if s["action"] == "db.restore")
    else:
        dsn = status["endpoints"]["db"]
    alive = surviving(dsn, writer)
    if scenario == "backup-restore":
        acks = [a for a in acks if a.acked_at <= mark]  # the reference is the disaster
    independent = len({a.seq for a in acks} - alive)
    for action in {
        "region-promotion": ["db.rebuild_replica"],
        "backup-restore": ["db.delete_restored", "data.recreate_table"],
    }.get(scenario, []):
        cleanup = cwd / f"cleanup-{action.replace('.', '-').replace('_', '-')}.yaml"
        cleanup.write_text(CLEANUP.format(id=cleanup.stem, action=action))
        drill(cwd, "run", str(cleanup), "--env", "lab")
    error = ts(probe_restored) - ts(gt["wall"]) if probe_restored else None
    return {
        "scenario": scenario,
        "exit": res.returncode,
        "rto_s": sc["rto_s"],
        "restored_error_s": error,
        "fault_offset_s": None if gt_fault is None else gt_fault - mark,
        "lost_writes": sc["lost_writes"],
        "independent_lost": independent,
    }


def summarize(rows: list[dict[str, Any]]) -> None:
    print(
        "| scenario | runs | RTO mean | restored error p50 / max | error within "
        "±1 interval | lost writes mean | lost writes exact |"
    )
    print("|---|---|---|---|---|---|---|")
    for scenario in dict.fromkeys(r["scenario"] for r in rows):
        rs = [r for r in rows if r["scenario"] == scenario]
        errs = [r["restored_error_s"] for r in rs if r["restored_error_s"] is not None]
        ok = sum(1 for e in errs if abs(e) <= INTERVAL)
        exact = sum(1 for r in rs if r["lost_writes"] == r["independent_lost"])
        rtos = [r["rto_s"] for r in rs if r["rto_s"] is not None]
        print(
            f"| {scenario} | {len(rs)} | {statistics.mean(rtos):.2f} s | "
            f"{statistics.median(errs) * 1000:.0f} / {max(errs) * 1000:.0f} ms | "
            f"{ok}/{len(rs)} | {statistics.mean(r['lost_writes'] or 0 for r in rs):.1f} | "
            f"{exact}/{len(rs)} |"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--scenario", action="append", choices=list(GT_EVENT), help="default: all four")
    ap.add_argument("--out", type=Path, help="append each run's raw result (JSON lines) here")
    ap.add_argument("--summarize", type=Path, help="only print the table of an --out file")
    a = ap.parse_args()
    if a.summarize:
        summarize([json.loads(line) for line in a.summarize.read_text().splitlines() if line])
        return
    cwd = Path(tempfile.mkdtemp(prefix="drill-accuracy-"))
    drill(cwd, "lab", "up")
    rows: list[dict[str, Any]] = []
    try:
        for scenario in a.scenario or list(GT_EVENT):
            for i in range(a.runs):
                t0 = time.monotonic()
                row = one_run(cwd, scenario)
                rows.append(row)
                if a.out:
                    with a.out.open("a") as fh:
                        fh.write(json.dumps(row) + "\n")
                print(
                    f"{scenario} #{i + 1}: exit {row['exit']} RTO {row['rto_s']} "
                    f"restored error {row['restored_error_s']} lost {row['lost_writes']}"
                    f"/{row['independent_lost']} ({time.monotonic() - t0:.1f}s)",
                    file=sys.stderr,
                    flush=True,
                )
    finally:
        drill(cwd, "lab", "down", check=False)
    summarize(rows)


if __name__ == "__main__":
    main()
