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


def lab_env(cwd: Path, name: str, **extra: object) -> None:
    """drill.yaml with environment ``name``: the running lab's AWS endpoint and state,
    plus ``extra`` (e.g. ``probes="none"``; nothing: probes derived from the state)."""
    aws = json.loads(drill(cwd, "lab", "status", "--json").stdout)["aws"]
    env = {
        "provider": "aws",
        "region": aws["region"],
        "dr_region": aws["dr_region"],
        "endpoint_url": aws["endpoint_url"],
        "terraform": {"state": aws["terraform_state"]},
        **extra,
    }
    (cwd / "drill.yaml").write_text(json.dumps({"environments": {name: env}}))


Walls = dict[str, list[float]]
Rtos = dict[str, dict[str, list[float]]]


def alternate(cwd: Path, envs: tuple[str, ...], pairs: int, *args: str) -> tuple[Walls, Rtos]:
    """`drill run quarterly-dr --env ENV ARGS…` alternately on ``envs``, ``pairs``
    times; each run printed; the walls and RTOs of the runs that exited 0."""
    walls: Walls = {env: [] for env in envs}
    rtos: Rtos = {env: {} for env in envs}
    for i in range(pairs):
        for env in envs:
            t0 = time.monotonic()
            res = drill(cwd, "run", "quarterly-dr", "--env", env, "--json", *args)
            wall = time.monotonic() - t0
            doc = json.loads(res.stdout) if res.stdout.strip() else {}
            scs = doc.get("scenarios", [])
            line = ", ".join(
                f"{s['id']} rto {s['rto_s']:.2f} rpo {s['rpo_s']}{'' if s['met'] else ' MISSED'}"
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
    return walls, rtos


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--pairs", type=int, default=3)
    a = ap.parse_args()
    cwd = aws_lab("drill-labaws-")
    try:
        walls, rtos = alternate(cwd, ("lab", "lab-aws"), a.pairs)
    finally:
        drill(cwd, "lab", "down")
    compare(walls, rtos, "lab", "lab-aws")


def compare(walls: Walls, rtos: Rtos, base: str, other: str) -> None:
    """Median walls (ratio, target ≤ 1.5×) and per-scenario RTO differences (target
    within 2 s) of ``other`` against ``base``."""
    med = {env: statistics.median(v) for env, v in walls.items() if v}
    if base in med and other in med:
        print(
            f"\nwall median: {base} {med[base]:.2f}s, {other} {med[other]:.2f}s, "
            f"ratio {med[other] / med[base]:.2f}x (target <= 1.5x)"
        )
    for sc, values in rtos[base].items():
        theirs = rtos[other].get(sc) or []
        if values and theirs:
            base_m, other_m = statistics.median(values), statistics.median(theirs)
            print(
                f"{sc:<17} RTO median {base} {base_m:5.2f}s  {other} {other_m:5.2f}s  "
                f"diff {other_m - base_m:+.2f}s (target within 2 s)"
            )


if __name__ == "__main__":
    main()
