"""`drill run quarterly-dr` on `--env lab` vs `--env lab-aws` (the AWS-shaped lab).

One lab, brought up with `--aws`; the drill runs alternately on the two environments
(lab, lab-aws, lab, lab-aws, …) through the real CLI, a new process each time. Reports
each run's wall time and each scenario's RTO/RPO, then the medians, the wall-time
ratio (target ≤ 1.5×) and the per-scenario RTO difference (target within 2 s).

    .venv/bin/python benchmarks/lab_aws.py [--pairs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
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


def aws_lab(prefix: str) -> Path:
    """A new working directory with `drill lab up --aws` done in it."""
    cwd = Path(tempfile.mkdtemp(prefix=prefix))
    up = drill(cwd, "lab", "up", "--aws")
    if up.returncode != 0:
        raise SystemExit(up.stderr)
    return cwd


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--pairs", type=int, default=3)
    a = ap.parse_args()
    cwd = aws_lab("drill-labaws-")
    walls: dict[str, list[float]] = {"lab": [], "lab-aws": []}
    rtos: dict[str, dict[str, list[float]]] = {"lab": {}, "lab-aws": {}}
    try:
        for i in range(a.pairs):
            for env in ("lab", "lab-aws"):
                t0 = time.monotonic()
                res = drill(cwd, "run", "quarterly-dr", "--env", env, "--json")
                wall = time.monotonic() - t0
                doc = json.loads(res.stdout) if res.stdout.strip() else {}
                scs = doc.get("scenarios", [])
                line = ", ".join(
                    f"{s['id']} rto {s['rto_s']:.2f} rpo {s['rpo_s']}"
                    f"{'' if s['met'] else ' MISSED'}"
                    for s in scs
                    if s.get("rto_s") is not None
                )
                print(
                    f"{i + 1} {env:<8} exit {res.returncode} wall {wall:6.2f}s  {line}  "
                    f"(load {os.getloadavg()[0]:.2f})",
                    flush=True,
                )
                if res.returncode != 0:
                    print(res.stderr[-2000:], flush=True)
                    continue
                walls[env].append(wall)
                for s in scs:
                    rtos[env].setdefault(s["id"], []).append(float(s["rto_s"] or 0.0))
    finally:
        drill(cwd, "lab", "down")
    med = {env: statistics.median(v) for env, v in walls.items() if v}
    if len(med) == 2:
        print(
            f"\nwall median: lab {med['lab']:.2f}s, lab-aws {med['lab-aws']:.2f}s, "
            f"ratio {med['lab-aws'] / med['lab']:.2f}x (target <= 1.5x)"
        )
    for sc, values in rtos["lab"].items():
        other = rtos["lab-aws"].get(sc) or []
        if values and other:
            lab_m, aws_m = statistics.median(values), statistics.median(other)
            print(
                f"{sc:<17} RTO median lab {lab_m:5.2f}s  lab-aws {aws_m:5.2f}s  "
                f"diff {aws_m - lab_m:+.2f}s (target within 2 s)"
            )


if __name__ == "__main__":
    main()
