"""Start-up and one-probe run time of `drill` against Chaos Toolkit's `chaos`.

Targets (issue 3): `drill --help` ≤ 1.5× `chaos --help`; `drill run` of a one-probe
experiment ≤ 1.3× `chaos run` of the same file. Each command runs N times (after one
warm-up so bytecode caches exist); the median wall time is reported.

    .venv/bin/python benchmarks/cli_startup.py [--repeat 15]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EXPERIMENT = """title: one probe
description: a single python probe, no environment needed
method:
  - type: probe
    name: root-exists
    provider: {type: python, module: os.path, func: exists, arguments: {path: /}}
"""


def timed(cmd: list[str], cwd: Path, repeat: int) -> float:
    subprocess.run(cmd, cwd=cwd, capture_output=True, check=False)  # warm-up
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, check=False)
        samples.append(time.perf_counter() - start)
        if proc.returncode not in (0,):
            raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr.decode()[-500:]}")
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    bindir = Path(sys.executable).parent
    drill, chaos = str(bindir / "drill"), str(bindir / "chaos")
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        (cwd / "one.yaml").write_text(EXPERIMENT)
        os.environ.pop("DRILL_CONFIG", None)
        rows = [
            ("--help", timed([drill, "--help"], cwd, args.repeat),
             timed([chaos, "--help"], cwd, args.repeat), 1.5),
            ("run one-probe experiment",
             timed([drill, "run", "one.yaml", "--json"], cwd, args.repeat),
             timed([chaos, "--no-log-file", "run", "one.yaml"], cwd, args.repeat), 1.3),
        ]
    print(f"| command | drill (s) | chaos (s) | ratio | target | met |  (median of {args.repeat})")
    print("|---|---|---|---|---|---|")
    for name, d, c, target in rows:
        ratio = d / c
        print(f"| {name} | {d:.3f} | {c:.3f} | {ratio:.2f}× | ≤ {target}× | "
              f"{'yes' if ratio <= target else 'no'} |")


if __name__ == "__main__":
    main()
