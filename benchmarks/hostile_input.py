"""How long and how much memory `drill validate` takes on hostile definitions, and what
the bounded reader costs on ordinary ones (issue 18; see README "Hostile input").

Each hostile case runs `drill validate FILE` as a child process (median of N wall
seconds, and the child's peak RSS); the overhead case times, in-process, parsing every
bundled definition with drill's reader (event scan + ruamel round-trip load) against a
plain ruamel round-trip load of the same text.

    .venv/bin/python benchmarks/hostile_input.py [N]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BOMB = "id: bomb\ntitle: bomb\na0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 10)
)
CASES = {
    "alias bomb (9 levels of 9 aliases, 496 bytes)": BOMB,
    "nesting 5,000 deep": "id: deep\nsteps: " + "[" * 5000 + "]" * 5000 + "\n",
    "recursive alias `zz: &a [*a]`": "id: r\nzz: &a [*a]\n",
    "1 MiB + 1 byte file": "id: big\n" + "#" * (1024 * 1024) + "\n",
}


def child(path: Path) -> tuple[float, int, int]:
    """(wall s, peak RSS bytes, exit code) of `drill validate path`."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", "validate", str(path)],
        cwd=path.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    wall = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    return wall, rss, proc.returncode


def overhead(rounds: int) -> tuple[float, float, int]:
    from ruamel.yaml import YAML

    from orchestrator.yamlsrc import parse_text

    files = [p for d in ("runbooks", "drills", "experiments") for p in (REPO / d).glob("*.y*ml")]
    texts = [(str(p), p.read_text()) for p in files]
    guarded, plain = [], []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for name, text in texts:
            parse_text(text, name)
        guarded.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        for _name, text in texts:
            YAML(typ="rt").load(text)
        plain.append(time.perf_counter() - t0)
    return statistics.median(guarded), statistics.median(plain), len(texts)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("n", nargs="?", type=int, default=5, help="median of N (default 5)")
    n = ap.parse_args().n
    if n < 1:
        ap.error("N must be at least 1")
    print(f"load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs, N={n}")
    print("| input | exit | wall median (s) | child peak RSS (MiB) |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for label, text in CASES.items():
            path = Path(tmp) / "case.yaml"
            path.write_text(text)
            runs = [child(path) for _ in range(n)]
            wall = statistics.median(r[0] for r in runs)
            peak = max(r[1] for r in runs)
            print(f"| {label} | {runs[0][2]} | {wall:.2f} | {peak / 2**20:.0f} |")
    guarded, plain, count = overhead(max(n, 5))
    print(
        f"\nparse {count} bundled definitions: drill's bounded reader {guarded * 1000:.1f} ms, "
        f"plain ruamel {plain * 1000:.1f} ms ({guarded / plain:.2f}×)"
    )


if __name__ == "__main__":
    main()
