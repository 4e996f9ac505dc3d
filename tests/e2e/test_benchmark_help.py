"""Every benchmark script answers `--help` with its usage and does nothing else.

Ten scripts read `sys.argv` by hand and took `--help` for their first argument:
evidence_data.py, evidence_export.py and web_dashboard.py started building a 100,000-run
store named `--help.partial` in the working directory (~1 GB, minutes of CPU on a shared
box), evidence_verify.py a 1,000,000-event one in /tmp, crash_safety.py and
redaction.py ran the whole benchmark, and aws_emulator.py, hostile_input.py,
store_migrations.py and web_many_targets.py died with a ValueError traceback. A count
that is not a positive number is a one-line usage error, not a traceback.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
SCRIPTS = sorted(BENCHMARKS.glob("*.py"))


def _run(script: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    # the timeout only guards against a script that starts benchmarking instead
    return subprocess.run(
        [sys.executable, str(script), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_every_script_is_checked() -> None:
    assert len(SCRIPTS) >= 19


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_help_prints_usage_and_does_nothing(script: Path, workdir: Path) -> None:
    proc = _run(script, "--help", cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"usage: {script.name}"), proc.stdout[:300]
    assert "Traceback" not in proc.stderr
    assert list(workdir.iterdir()) == []  # no store, no file of any kind


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("aws_emulator.py", ["zero"]),
        ("hostile_input.py", ["0"]),
        ("store_migrations.py", ["-3"]),
        ("web_many_targets.py", ["2", "x"]),
        ("web_dashboard.py", ["small.db", "0"]),
        ("evidence_data.py", ["small.db", "0"]),
    ],
)
def test_bad_count_is_a_usage_error(name: str, args: list[str], workdir: Path) -> None:
    proc = _run(BENCHMARKS / name, *args, cwd=workdir)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.splitlines()[-1].startswith(f"{name}: error: "), proc.stderr
    assert list(workdir.iterdir()) == []
