"""`drill run quarterly-dr` with explicit probes (`lab-aws`) vs probes derived from the
Terraform state (`derived`: the same endpoint and state, no `probes:` block).

One `drill lab up --aws`; runs alternate lab-aws, derived, lab-aws, … through the real
CLI, a new process each time. Reports each run's wall time and each scenario's RTO/RPO,
the medians, and the per-scenario RTO difference (target within 2 s: the derived probes
measure the same service, region-promotion through the promoted replica's endpoint
where lab-aws goes through the lab's global endpoint). Also times `drill plan`, where
the derivation (reading the state) happens before anything runs.

    .venv/bin/python benchmarks/lab_aws_derived.py [--pairs 3] [--interval 0.1 | 0 for none]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from lab_aws import alternate, aws_lab, compare, drill, lab_env  # a sibling script, not a package

ENVS = ("lab-aws", "derived")


def _plan_times(cwd: Path, n: int = 5) -> dict[str, float]:
    out = {}
    for env in ENVS:
        walls = []
        for _ in range(n):
            t0 = time.monotonic()
            res = drill(cwd, "plan", "quarterly-dr", "--env", env, "--json")
            walls.append(time.monotonic() - t0)
            if res.returncode != 0:
                raise SystemExit(res.stderr)
        out[env] = statistics.median(walls)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument(
        "--interval",
        type=float,
        default=0.1,
        help="probes.interval_s of `derived` (lab-aws probes every 0.1 s; without it an "
        "AWS environment probes every 1 s, which lengthens each stability window to 10 s)",
    )
    a = ap.parse_args()
    cwd = aws_lab("drill-derived-")
    try:
        # no db, no http: both derived from the state
        lab_env(cwd, "derived", **({"probes": {"interval_s": a.interval}} if a.interval else {}))
        plans = _plan_times(cwd)
        print(
            "drill plan median of 5: "
            + ", ".join(f"{env} {wall:.3f}s" for env, wall in plans.items()),
            flush=True,
        )
        walls, rtos = alternate(cwd, ENVS, a.pairs, "--yes")
    finally:
        drill(cwd, "lab", "down")
    compare(walls, rtos, "lab-aws", "derived")


if __name__ == "__main__":
    main()
