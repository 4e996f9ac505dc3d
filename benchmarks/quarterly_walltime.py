"""Wall time of the whole quarterly drill on the lab: `drill run quarterly-dr --env lab`.

Brings a fresh lab up (timed separately), then runs the drill N times back to back
through the real CLI (a new process each time, as a user would) and reports the wall
time of each run and of each scenario (from the run's timeline). Target: ≤ 60 s.

    .venv/bin/python benchmarks/quarterly_walltime.py [--runs 3]
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

REPO = Path(__file__).resolve().parent.parent


def drill(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )


def ts(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    cwd = Path(tempfile.mkdtemp(prefix="drill-quarterly-"))
    t0 = time.monotonic()
    up = drill(cwd, "lab", "up")
    lab_up = time.monotonic() - t0
    if up.returncode != 0:
        raise SystemExit(up.stderr)
    walls: list[float] = []
    per_scenario: dict[str, list[float]] = {}
    try:
        for i in range(a.runs):
            t0 = time.monotonic()
            res = drill(cwd, "run", "quarterly-dr", "--env", "lab", "--json")
            wall = time.monotonic() - t0
            doc = json.loads(res.stdout)
            shown = json.loads(drill(cwd, "runs", "show", doc["run_id"], "--json").stdout)
            starts = {
                e["scenario"]: ts(e["at"])
                for e in shown["timeline"]
                if e["kind"] == "scenario.start"
            }
            for e in shown["timeline"]:
                if e["kind"] == "scenario.end":
                    per_scenario.setdefault(e["scenario"], []).append(
                        ts(e["at"]) - starts[e["scenario"]]
                    )
            walls.append(wall)
            met = [f"{s['id']}={'met' if s['met'] else 'MISSED'}" for s in doc["scenarios"]]
            print(
                f"run {i + 1}: exit {res.returncode}, {wall:.1f} s wall ({', '.join(met)})",
                file=sys.stderr,
                flush=True,
            )
    finally:
        drill(cwd, "lab", "down")
    print(f"lab up (fresh): {lab_up:.1f} s")
    print(
        f"| quarterly-dr wall time | runs | median | min | max |\n|---|---|---|---|---|\n"
        f"| `drill run quarterly-dr --env lab` | {len(walls)} | "
        f"{statistics.median(walls):.1f} s | {min(walls):.1f} s | {max(walls):.1f} s |"
    )
    for name, values in per_scenario.items():
        print(
            f"| scenario {name} | {len(values)} | {statistics.median(values):.1f} s | "
            f"{min(values):.1f} s | {max(values):.1f} s |"
        )


if __name__ == "__main__":
    main()
