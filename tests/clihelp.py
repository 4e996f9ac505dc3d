"""Run the drill CLI in-process or as a subprocess, capturing output."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Result:
    code: int
    out: str
    err: str


def drill(capsys: pytest.CaptureFixture[str], *args: str) -> Result:
    """In-process: fast, and exercises the same main() the console script calls."""
    from orchestrator.cli import main

    capsys.readouterr()
    code = main(list(args))
    captured = capsys.readouterr()
    return Result(code, captured.out, captured.err)


def drill_out(*args: str) -> tuple[int, str]:
    """In-process like :func:`drill`, where capsys is not at hand (in a fixture, or
    stderr does not matter): the exit code and what went to stdout."""
    import io
    from contextlib import redirect_stdout

    from orchestrator.cli import main

    out = io.StringIO()
    with redirect_stdout(out):
        code = main(list(args))
    return code, out.getvalue()


def subprocess_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRILL_")}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra or {})
    return env


def python_c(cwd: Path, code: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -c CODE ARGS`` in ``cwd``, in the tests' environment: a check that needs a
    whole process of its own (which modules a command imports, what it builds)."""
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=cwd,
        text=True,
        capture_output=True,
        env=subprocess_env(),
        timeout=300,
    )


def spawn(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "orchestrator.cli", *args],
        cwd=cwd,
        env=subprocess_env(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run(cwd: Path, *args: str, timeout: float = 120, env: dict[str, str] | None = None) -> Result:
    proc = spawn(cwd, *args, env=env)
    out, err = proc.communicate(timeout=timeout)
    return Result(proc.returncode, out, err)


def clear_drill_env(mp: pytest.MonkeyPatch) -> None:
    """No DRILL_* setting of the caller leaks into a test project (the PG test DSN stays)."""
    for key in list(os.environ):
        if key.startswith("DRILL_") and key != "DRILL_TEST_PG_DSN":
            mp.delenv(key)


def copy_sqlite(src: Path, dst: Path) -> Path:
    """A copy of a SQLite database through its backup API (the source may be in WAL mode)."""
    import sqlite3

    source, target = sqlite3.connect(src), sqlite3.connect(dst)
    try:
        source.backup(target)
    finally:
        source.close()
        target.close()
    return dst
