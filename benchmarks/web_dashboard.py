"""Benchmark: the dashboard's pages over HTTP with 100,000 runs in the store.

    .venv/bin/python benchmarks/web_dashboard.py [/tmp/drill-bench.db] [REQUESTS]

The store is `evidence_data.py`'s (100,000 runs of quarterly-dr over 2022..2026, built
once and cached). The real app runs under uvicorn on 127.0.0.1 in this process; each
path gets 3 warm-up requests, then REQUESTS (default 50) timed one after the other
(client wall time: request, render, response). Target (issue 17): the overview and
the runs list ≤ 200 ms at the 95th percentile. A quick check can point it at a smaller
store (``evidence_data.py /tmp/small.db 400`` first); the run page then shows that
store's middle run.
"""

from __future__ import annotations

import argparse
import math
import os
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from evidence_data import build

PATHS = [
    ("/", "overview", 0.2),
    ("/runs", "runs list", 0.2),
    ("/api/status", None, None),
    ("/api/runs", None, None),
    ("/runs?status=failed&period=2024-Q2&page=3", None, None),
    ("/runs/{middle_run}", None, None),  # r-bench-050000 on the 100,000-run store
    ("/metrics", None, None),
]


def serve(config: Path) -> tuple[object, int]:
    import uvicorn

    from orchestrator.web.app import create_app
    from orchestrator.web.metrics import Sources

    os.chdir(config.parent)
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(Sources.open(str(config))), host="127.0.0.1", port=0, log_level="warning"
        )
    )
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    return server, port


def timed(url: str, n: int) -> list[float]:
    for _ in range(3):
        urllib.request.urlopen(url, timeout=60).read()
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        with urllib.request.urlopen(url, timeout=60) as r:
            r.read()
            assert r.status == 200, url
        out.append(time.perf_counter() - t0)
    return out


def p95(times: list[float]) -> float:
    """The 95th percentile of sorted TIMES by nearest rank: the 48th of 50, the 29th of 30."""
    return times[max(math.ceil(len(times) * 0.95) - 1, 0)]


def middle_run(db: Path) -> str:
    """The id of the store's middle run (by id), so a smaller store works too."""
    with sqlite3.connect(db) as conn:
        (count,) = conn.execute("SELECT count(*) FROM run").fetchone()
        (run_id,) = conn.execute(
            "SELECT id FROM run ORDER BY id LIMIT 1 OFFSET ?", (count // 2,)
        ).fetchone()
    return str(run_id)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("db", nargs="?", type=Path, default=Path("/tmp/drill-bench.db"))
    ap.add_argument("requests", nargs="?", type=int, default=50, help="timed per path")
    args = ap.parse_args()
    if args.requests < 1:
        ap.error("REQUESTS must be at least 1")
    db = build(args.db)
    n = args.requests
    paths = [(p.format(middle_run=middle_run(db)), label, t) for p, label, t in PATHS]
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "drill.yaml"
        config.write_text(f"database: sqlite:///{db}\n")
        server, port = serve(config)
        print(f"load average at start: {os.getloadavg()[0]:.1f} ({os.cpu_count()} cores)")
        print("| path | p50 (ms) | p95 (ms) | max (ms) | target | met |")
        print("|---|---|---|---|---|---|")
        for path, label, target in paths:
            times = sorted(timed(f"http://127.0.0.1:{port}{path}", n))
            high = p95(times)
            met = "" if target is None else ("yes" if high <= target else "NO")
            name = f"`{path}`" + (f" ({label})" if label else "")
            print(
                f"| {name} | {statistics.median(times) * 1000:.0f} | {high * 1000:.0f} | "
                f"{times[-1] * 1000:.0f} | "
                + (f"≤ {target * 1000:.0f} ms p95 | {met} |" if target else "— | |")
            )
        print(f"load average at end: {os.getloadavg()[0]:.1f}")
        server.should_exit = True  # type: ignore[attr-defined]
