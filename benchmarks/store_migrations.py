"""Benchmark: creating a new evidence store, and upgrading a released (wave-1) one.

    .venv/bin/python benchmarks/store_migrations.py [N]

Timed, median of N (default 15): a new SQLite store migrated to the newest revisions
(``EvidenceStore(url)``: Alembic runs every revision), the same on a new PostgreSQL
database of a throwaway local server (N // 2 + 1 of them), and the upgrade of the wave-1
SQLite store of ``tests/fixtures/wave1_store`` (restoring the dump is not timed). All in
one warm process, so imports are not counted: only the migrations. Also a cold one: a
fresh interpreter's ``drill runs list`` on a new SQLite store (what a first command pays).

To compare with another version, put its checkout first on ``PYTHONPATH``; the script
uses only ``EvidenceStore`` and the CLI. Prints the load average: the machine is shared.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WAVE1 = REPO / "tests" / "fixtures" / "wave1_store" / "sqlite.sql"


def _cpu() -> float:
    """CPU seconds of this process and its finished children (less noisy than wall time
    on a shared machine)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _median(
    n: int, prepare: Callable[[int], str], timed: Callable[[str], object]
) -> tuple[float, float]:
    """Median (wall, CPU) milliseconds of ``timed(prepare(i))`` for i < n."""
    wall, cpu = [], []
    for i in range(n):
        arg = prepare(i)
        c0, t0 = _cpu(), time.perf_counter()
        timed(arg)
        wall.append(time.perf_counter() - t0)
        cpu.append(_cpu() - c0)
    return statistics.median(wall) * 1000, statistics.median(cpu) * 1000


def main() -> None:
    from orchestrator.evidence.store import EvidenceStore

    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("n", nargs="?", type=int, default=15, help="median of N (default 15)")
    n = ap.parse_args().n
    if n < 1:
        ap.error("N must be at least 1")
    load = os.getloadavg()[0]

    def open_store(url: str) -> None:
        with contextlib.redirect_stderr(io.StringIO()):  # "upgrading the evidence database…"
            EvidenceStore(url).dispose()

    with tempfile.TemporaryDirectory() as tmp:
        open_store(f"sqlite:///{tmp}/warm.db")  # imports Alembic and the revisions once

        def wave1(i: int) -> str:
            with sqlite3.connect(f"{tmp}/w{i}.db") as conn:
                conn.executescript(WAVE1.read_text())
            conn.close()
            return f"sqlite:///{tmp}/w{i}.db"

        new_sqlite = _median(n, lambda i: f"sqlite:///{tmp}/n{i}.db", open_store)
        upgrade = _median(n, wave1, open_store)
        cold = _median(
            n,
            lambda i: f"sqlite:///{tmp}/c{i}.db",
            lambda url: subprocess.run(
                [sys.executable, "-m", "orchestrator.cli", "runs", "list"],
                env={**os.environ, "DRILL_DATABASE": url},
                cwd=tmp,
                check=True,
                capture_output=True,
            ),
        )
    sys.path.insert(0, str(REPO))
    from tests.pgserver import PgServer

    server = PgServer().start()
    try:
        new_pg = _median(n // 2 + 1, lambda i: server.create_database(), open_store)
    finally:
        server.stop()
    for what, (wall, cpu) in (
        ("new SQLite store", new_sqlite),
        ("new PostgreSQL store (drill's side)", new_pg),
        ("wave-1 SQLite store upgraded", upgrade),
        ("cold `drill runs list`, new SQLite store", cold),
    ):
        print(f"{what}: {wall:.0f} ms wall, {cpu:.0f} ms CPU")
    print(f"median of {n} (PostgreSQL {n // 2 + 1}); load average {load:.2f} at start")


if __name__ == "__main__":
    main()
