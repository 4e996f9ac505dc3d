"""Benchmark: the dashboard when many runbooks/experiments have run (not only drills).

    .venv/bin/python benchmarks/web_many_targets.py [TARGETS] [RUNS_EACH] [REQUESTS]

Since `drill status` (and so the overview and `/metrics`) lists every target that has
run, each one costs its status queries, and on the overview its RTO/RPO trend (up to
12 runs read back). The store is made by real in-process `drill run`s of TARGETS
one-probe experiments (default 20), RUNS_EACH times each (default 12); the app runs
under uvicorn on 127.0.0.1 in this process and each path gets 3 warm-up requests,
then REQUESTS (default 30) timed one after the other (client wall time).
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from web_dashboard import p95, serve, timed

EXPERIMENT = """title: one probe
description: one python probe
steady-state-hypothesis:
  title: root exists
  probes:
    - type: probe
      name: root-exists
      tolerance: true
      provider: {type: python, module: os.path, func: exists, arguments: {path: /}}
method: []
"""
PATHS = ["/", "/api/status", "/metrics", "/runs"]


def build(root: Path, targets: int, runs_each: int) -> Path:
    from orchestrator.cli import main

    config = root / "drill.yaml"
    config.write_text(f"database: sqlite:///{root}/evidence.db\n")
    os.chdir(root)
    for t in range(targets):
        path = root / f"exp-{t:02d}.yaml"
        path.write_text(EXPERIMENT)
        for _ in range(runs_each):
            with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
                assert main(["--config", str(config), "run", str(path), "--json"]) == 0
    return config


if __name__ == "__main__":
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("targets", nargs="?", type=int, default=20)
    ap.add_argument("runs_each", nargs="?", type=int, default=12)
    ap.add_argument("requests", nargs="?", type=int, default=30, help="timed per path")
    args = ap.parse_args()
    if min(args.targets, args.runs_each, args.requests) < 1:
        ap.error("TARGETS, RUNS_EACH and REQUESTS must be at least 1")
    targets, runs_each, n = args.targets, args.runs_each, args.requests
    for key in [k for k in os.environ if k.startswith("DRILL_")]:
        del os.environ[key]
    with tempfile.TemporaryDirectory() as tmp:
        config = build(Path(tmp), targets, runs_each)
        server, port = serve(config)
        print(f"{targets} targets x {runs_each} runs; load average {os.getloadavg()[0]:.1f}")
        print("| path | p50 (ms) | p95 (ms) | max (ms) |")
        print("|---|---|---|---|")
        for path in PATHS:
            times = sorted(timed(f"http://127.0.0.1:{port}{path}", n))
            print(
                f"| `{path}` | {statistics.median(times) * 1000:.0f} | {p95(times) * 1000:.0f} | "
                f"{times[-1] * 1000:.0f} |"
            )
        print(f"load average at end: {os.getloadavg()[0]:.1f}")
        server.should_exit = True  # type: ignore[attr-defined]
