"""What crash safety costs: the store check on every open, a recovery, the lab check.

* ``quick_check``: SQLite's page walk that :mod:`orchestrator.commands.storecheck` runs
  once per command before it trusts the evidence file (damaged → exit 2), on stores of
  1,000 and 10,000 runs built by ``evidence_data.py``; median of 5.
* ``drill recover`` of one orphaned marker run (a new process, as an operator runs it);
  median of 5.
* the lab's topology check (:func:`orchestrator.providers.lab.health.check`) on a healthy
  lab — what every ``drill run`` on the lab now pays before it starts; median of 10.

    .venv/bin/python benchmarks/crash_safety.py [--no-lab]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

RUNBOOK = """id: marker
title: marker
scenario: test
steps:
  - name: inject
    kind: action
    activity: {{type: action, name: touch, provider: {{type: python, module: tests.faults,
               func: touch, arguments: {{path: "{m}"}}}}}}
rollback:
  - name: remove
    kind: action
    activity: {{type: action, name: remove, provider: {{type: python, module: tests.faults,
               func: remove, arguments: {{path: "{m}"}}}}}}
"""


def _drill(cwd: Path, *args: str, crash: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRILL_")}
    env["PYTHONPATH"] = str(REPO)
    if crash:
        env["DRILL_TEST_CRASH_AT"] = crash
    return subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def store_check() -> None:
    from evidence_data import build

    from orchestrator.commands.storecheck import damage

    for runs in (1_000, 10_000):
        with tempfile.TemporaryDirectory() as tmp:
            db = build(Path(tmp) / "e.db", runs)
            times = []
            for _ in range(5):
                t0 = time.perf_counter()
                assert damage(db) == []
                times.append(time.perf_counter() - t0)
            size = db.stat().st_size / 1e6
            print(
                f"| quick_check, {runs:,} runs ({size:.0f} MB) | "
                f"{statistics.median(times) * 1000:.0f} ms |"
            )


def recover() -> None:
    times = []
    for _ in range(5):
        with tempfile.TemporaryDirectory() as tmp:
            cwd = Path(tmp)
            (cwd / "rb.yaml").write_text(RUNBOOK.format(m=cwd / "marker"))
            killed = _drill(cwd, "run", "rb.yaml", crash="step:marker:1:end")
            assert killed.returncode == -signal.SIGKILL, killed.stderr
            t0 = time.perf_counter()
            out = _drill(cwd, "recover")
            times.append(time.perf_counter() - t0)
            assert out.returncode == 0 and not (cwd / "marker").exists(), out.stderr
    print(
        f"| `drill recover`, one orphaned run (one rollback) | "
        f"{statistics.median(times) * 1000:.0f} ms |"
    )


def lab_check() -> None:
    from orchestrator.config import Settings
    from orchestrator.providers.lab import lab_down, lab_up
    from orchestrator.providers.lab.health import check
    from orchestrator.providers.lab.state import load

    with tempfile.TemporaryDirectory(prefix="drill-bench-") as tmp:
        settings = Settings(state_dir=str(Path(tmp) / ".drill"), base_dir=Path(tmp))
        lab_up(settings)
        try:
            st = load(settings.state_path() / "lab")
            assert st is not None
            times = []
            for _ in range(10):
                t0 = time.perf_counter()
                assert check(st) == []
                times.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            lab_up(settings)
            again = time.perf_counter() - t0
        finally:
            lab_down(settings)
    print(f"| lab topology check (healthy lab) | {statistics.median(times) * 1000:.0f} ms |")
    print(f"| `lab up` on a running, healthy lab (check included) | {again * 1000:.0f} ms |")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--no-lab", action="store_true", help="skip the lab topology check")
    no_lab = ap.parse_args().no_lab
    print(f"load average before: {os.getloadavg()}")
    print("| what | median |\n|---|---|")
    store_check()
    recover()
    if not no_lab:
        lab_check()
    print(f"load average after: {os.getloadavg()}")
