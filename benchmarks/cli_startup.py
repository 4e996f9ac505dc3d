"""Start-up and one-probe run time of `drill` against Chaos Toolkit's `chaos`.

Targets (issue 3): `drill --help` ≤ 1.5× `chaos --help`; `drill run` of a one-probe
experiment ≤ 1.3× `chaos run` of the same file. Both start from bytecode caches, as after
`pip install` (the script byte-compiles drill's package first: with
PYTHONDONTWRITEBYTECODE=1, as on some CI images, an editable checkout would otherwise be
compiled from source on every run). Each pair of commands runs N times, interleaved
(drill, chaos, drill, chaos…) after one warm-up each, so drift on a shared machine hits
both alike; the median wall time and the median CPU time
(user + system of the child) are reported.

`chaos run` is measured as a user runs it (it writes `journal.json` and `chaostoolkit.log`)
and with `--no-log-file`, but always with `--no-version-check`: without it chaos asks
releases.chaostoolkit.org for its latest version (a DNS query to the machine's resolver,
then HTTPS), and nothing here may leave loopback. `drill run --json` writes its evidence
(SQLite, journaled, the journal kept as an artifact) in the same temporary directory.

``--against TREE`` also times the drill of another tree (e.g. the code before a change:
``git archive REV orchestrator | tar -x -C /tmp/old``, through ``PYTHONPATH``) in the same
interleaving (drill, chaos, previous drill…), in a directory of its own (its own store:
the two may not share a schema), and prints its numbers beside this checkout's.

    .venv/bin/python benchmarks/cli_startup.py [--repeat 15] [--against /tmp/old]
"""

from __future__ import annotations

import argparse
import compileall
import os
import resource
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


# parsed and applied by both: vars, a var file, strategies, the journal path
CTK_OPTIONS = [
    "--var",
    "who=bench",
    "--var",
    "retries:int=3",
    "--var-file",
    "vars.yaml",
    "--rollback-strategy",
    "always",
    "--hypothesis-strategy",
    "default",
    "--journal-path",
    "bench-journal.json",
]


Timing = tuple[float, float]  # median wall, median CPU (s)


def once(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> Timing:
    """Wall and CPU time (s) of one run of ``cmd``, which must succeed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr.decode()[-500:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def timed(cmds: list[tuple[list[str], Path, dict[str, str] | None]], repeat: int) -> list[Timing]:
    """Median (wall, cpu) of each command (argv, cwd, env), run in turn, after a warm-up."""
    for cmd in cmds:
        once(*cmd)
    runs: list[list[Timing]] = [[] for _ in cmds]
    for _ in range(repeat):
        for i, cmd in enumerate(cmds):
            runs[i].append(once(*cmd))
    return [(statistics.median(w for w, _ in r), statistics.median(c for _, c in r)) for r in runs]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--against", type=Path, help="tree of a previous drill to time too")
    args = parser.parse_args()
    import orchestrator

    compileall.compile_dir(str(Path(orchestrator.__file__).parent), quiet=1)
    bindir = Path(sys.executable).parent
    drill, chaos = str(bindir / "drill"), str(bindir / "chaos")
    chaos_cli = [chaos, "--no-version-check"]  # loopback only (see the docstring)
    os.environ.pop("DRILL_CONFIG", None)
    old_env = None
    if args.against is not None:
        compileall.compile_dir(str(args.against / "orchestrator"), quiet=1)
        old_env = {**os.environ, "PYTHONPATH": str(args.against.resolve())}
    rows = []
    with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryDirectory() as old_tmp:
        cwd, old_cwd = Path(tmp), Path(old_tmp)
        for folder in (cwd, old_cwd):
            (folder / "one.yaml").write_text(EXPERIMENT)
            (folder / "vars.yaml").write_text("configuration:\n  region: us-east-1\n")
        for name, d_cmd, c_cmd, target in (
            ("`--help`", [drill, "--help"], [chaos, "--help"], 1.5),
            (
                "`run` one-probe experiment vs `chaos run`",
                [drill, "run", "one.yaml", "--json"],
                [*chaos_cli, "run", "one.yaml"],
                1.3,
            ),
            (
                "`run` one-probe experiment vs `chaos --no-log-file run`",
                [drill, "run", "one.yaml", "--json"],
                [*chaos_cli, "--no-log-file", "run", "one.yaml"],
                1.3,
            ),
            (
                "`run` with chaos run's options (issue 15) vs `chaos run` with the same",
                [drill, "run", "one.yaml", "--json", *CTK_OPTIONS],
                [*chaos_cli, "run", *CTK_OPTIONS, "one.yaml"],
                1.3,
            ),
        ):
            cmds: list[tuple[list[str], Path, dict[str, str] | None]] = [
                (d_cmd, cwd, None),
                (c_cmd, cwd, None),
            ]
            if old_env is not None:
                cmds.append((d_cmd, old_cwd, old_env))
            rows.append((name, timed(cmds, args.repeat), target))
    load = os.getloadavg()[0]
    print(f"median of {args.repeat}, interleaved; load average {load:.2f}\n")
    print(
        "| command | drill wall (s) | chaos wall (s) | ratio (wall) | drill CPU (s) | "
        "chaos CPU (s) | ratio (CPU) | target | met |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name, ((dw, dc), (cw, cc), *_), target in rows:
        ratio = dw / cw
        print(
            f"| {name} | {dw:.3f} | {cw:.3f} | {ratio:.2f}× | {dc:.3f} | {cc:.3f} | "
            f"{dc / cc:.2f}× | ≤ {target}× | {'yes' if ratio <= target else 'no'} |"
        )
    if old_env is not None:
        print(f"\nprevious drill ({args.against}), same interleaving:\n")
        print("| command | previous wall (s) | ratio (wall) | previous CPU (s) | ratio (CPU) |")
        print("|---|---|---|---|---|")
        for name, (_new, (cw, cc), (ow, oc)), _target in rows:
            print(f"| {name} | {ow:.3f} | {ow / cw:.2f}× | {oc:.3f} | {oc / cc:.2f}× |")


if __name__ == "__main__":
    main()
