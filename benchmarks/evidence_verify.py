"""Benchmark: `drill evidence verify` over the ~1,010,000-entry chain of the bulk DB.

    .venv/bin/python benchmarks/evidence_verify.py [/tmp/drill-bench.db] [--stream]

Builds the DB first if missing (benchmarks/evidence_data.py). Target ≤ 10 s. ``--stream``
times the streaming verifier (every entry and row fetched into Python: what PostgreSQL
uses) instead of the SQLite one. Prints the load average too: the machine is shared.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from evidence_data import build, cpu_seconds

from orchestrator.evidence.chain_verify import verify_store
from orchestrator.evidence.store import EvidenceStore

if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    method = "stream" if "--stream" in sys.argv else "auto"
    db = build(Path(args[0] if args else "/tmp/drill-bench.db"))
    store = EvidenceStore(f"sqlite:///{db}")
    load = os.getloadavg()[0]
    cpu0 = cpu_seconds()
    t0 = time.perf_counter()
    report = verify_store(store, method=method)
    elapsed = time.perf_counter() - t0
    cpu = cpu_seconds() - cpu0
    print(f"verify ({method}): {report.entries} entries, {report.records} records, "
          f"ok={report.ok}, {elapsed:.2f}s (CPU {cpu:.2f}s, this process + forked worker; "
          f"load average {load:.2f} at start)")
