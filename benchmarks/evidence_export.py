"""Benchmark: `drill evidence export --period 2026-Q4` from a DB of 100,000 runs.

    .venv/bin/python benchmarks/evidence_export.py [/tmp/drill-journal.db]

The quarter holds ~5,000 of the runs. Timed: the verifier on the export's scope (the
events from the quarter's first to the head, the rows of its runs), the views, every
renderer (runs.json/csv, HTML, PDF, OSCAL), journal/events.jsonl and one
journals/RUN_ID.json per run, SHA256SUMS and its signature, writing the zip. Target ≤ 3 s.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from evidence_data import build, cpu_seconds

from orchestrator.compliance.mapping import framework_names
from orchestrator.evidence.export import export_bundle
from orchestrator.evidence.export_data import parse_period
from orchestrator.evidence.signing import generate_key
from orchestrator.evidence.writer import EvidenceDB

if __name__ == "__main__":
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("db", nargs="?", type=Path, default=Path("/tmp/drill-journal.db"))
    db = build(ap.parse_args().db)
    store = EvidenceDB(f"sqlite:///{db}")
    with tempfile.TemporaryDirectory() as tmp:
        key = Path(tmp) / "key.pem"
        generate_key(key)
        load = os.getloadavg()[0]
        cpu0 = cpu_seconds()
        t0 = time.perf_counter()
        result = export_bundle(
            store,
            parse_period("2026-Q4"),
            framework_names(),
            None,
            Path(tmp) / "q4.zip",
            key,
            "bench",
        )
        elapsed = time.perf_counter() - t0
        cpu = cpu_seconds() - cpu0
        size = (Path(tmp) / "q4.zip").stat().st_size
    print(
        f"export 2026-Q4: {result.runs} runs, {result.findings} findings, "
        f"{len(result.files)} files, {size / 1e6:.1f} MB, {elapsed:.2f}s "
        f"(CPU {cpu:.2f}s, this process + forked workers; load average {load:.2f} at start)"
    )
