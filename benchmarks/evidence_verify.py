"""Benchmark: `drill evidence verify` over a journal of 1,000,000 events.

    .venv/bin/python benchmarks/evidence_verify.py [/tmp/drill-journal-1m.db]

Builds the DB first if missing (benchmarks/evidence_data.py: 66,226 runs, 15.1 events and
10.1 records a run → 1,000,013 events, 668,883 records). Timed: one pass over every
event's stored bytes (chain recomputed) and every projection row compared with its newest
event — exactly what the command does after start-up (two processes; `--one-process`: the
path of small journals). Target ≤ 5 s. Prints the load average too: the machine is shared.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from evidence_data import RUNS_1M_EVENTS, build, cpu_seconds

from orchestrator.evidence.records import projections
from orchestrator.evidence.verify import verify
from orchestrator.evidence.writer import EvidenceDB

if __name__ == "__main__":
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("db", nargs="?", type=Path, default=Path("/tmp/drill-journal-1m.db"))
    ap.add_argument("--one-process", action="store_true", help="the path below SPLIT_FROM events")
    args = ap.parse_args()
    one_process = args.one_process
    db = build(args.db, RUNS_1M_EVENTS)
    projections()  # the table modules' import is start-up, not verification
    evidence = EvidenceDB(f"sqlite:///{db}")
    conn = evidence.connect()
    for _ in range(int(os.environ.get("REPEAT", "3"))):
        load = os.getloadavg()[0]
        cpu0 = cpu_seconds()
        t0 = time.perf_counter()
        report = verify(conn, False, connect=None if one_process else evidence.connect)
        elapsed = time.perf_counter() - t0
        cpu = cpu_seconds() - cpu0
        print(
            f"verify ({'one process' if one_process else 'two processes'}): "
            f"{report.events} events, {report.records} records, ok={report.ok}, "
            f"{elapsed:.2f}s (CPU {cpu:.2f}s incl. the child; load average {load:.2f} at "
            "start)",
            flush=True,
        )
