"""Wall and CPU time of the evidence read commands, this checkout against another one.

`drill findings list`, `status`, `schedule list` and `gameday list` read journaled tables;
since issue 16 they do it through the DB-API writer's reads, without importing
SQLAlchemy/SQLModel (as `drill runs list` and `drill run` always did: the control rows,
which should not move). To see the
difference, give ``--against`` a tree of the code before (e.g. ``git archive REV | tar -x
-C /tmp/old``): each command runs alternately from this checkout and from that tree
(``PYTHONPATH``), on the same store (one recorded run, same schema), median of N after a
warm-up each.

    .venv/bin/python benchmarks/evidence_commands.py --against /tmp/old [--repeat 15]
        [--bundle q4.zip]

``--bundle`` adds ``drill evidence verify FILE.zip`` of an exported bundle (a quarter from
``evidence_data.py``'s store: ``drill evidence export --period 2026-Q4``).
"""

from __future__ import annotations

import argparse
import compileall
import os
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))

from cli_startup import EXPERIMENT, once  # the same one-probe experiment  # noqa: E402

COMMANDS = [
    ["findings", "list", "--json"],
    ["status", "--json"],
    ["schedule", "list", "--json"],
    ["gameday", "list", "--json"],
    ["runs", "list", "--json"],
    ["run", "one.yaml", "--json"],
]


def _once(args: list[str], code: Path, cwd: Path) -> tuple[float, float]:
    """``drill ARGS`` run with the package of the tree ``code``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRILL_")}
    env["PYTHONPATH"] = str(code)
    main = "from orchestrator.cli import main; raise SystemExit(main())"
    return once([sys.executable, "-c", main, *args], cwd, env)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--against", type=Path, required=True, help="tree of the old code")
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--bundle", type=Path, help="also verify this exported bundle")
    args = parser.parse_args()
    commands = COMMANDS + (
        [["evidence", "verify", str(args.bundle.resolve()), "--json"]] if args.bundle else []
    )
    trees = (REPO, args.against.resolve())
    for tree in trees:
        compileall.compile_dir(str(tree / "orchestrator"), quiet=1)
    print(f"median of {args.repeat}, interleaved; load average at start {os.getloadavg()[0]:.2f}\n")
    print("| command | new wall (s) | old wall (s) | new CPU (s) | old CPU (s) |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        (cwd / "one.yaml").write_text(EXPERIMENT)
        _once(["run", "one.yaml", "--json"], REPO, cwd)  # creates the store
        for command in commands:
            runs: dict[Path, list[tuple[float, float]]] = {t: [] for t in trees}
            for tree in trees:
                _once(command, tree, cwd)  # warm-up
            for _ in range(args.repeat):
                for tree in trees:
                    runs[tree].append(_once(command, tree, cwd))
            (nw, nc), (ow, oc) = [
                (statistics.median(w for w, _ in runs[t]), statistics.median(c for _, c in runs[t]))
                for t in trees
            ]
            print(f"| `drill {' '.join(command)}` | {nw:.3f} | {ow:.3f} | {nc:.3f} | {oc:.3f} |")
    print(f"\nload average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
