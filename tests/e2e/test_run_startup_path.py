"""`drill run` of a one-probe experiment on an existing store does only what that run needs
at start-up (issue 16: its run within 1.3× `chaos run`, benchmarks/README.md).

Typer coerces every option through pydantic, so pydantic itself is loaded; what drill
adds on top must not be: building a validator of one of drill's models costs its schema
and, the first time in a process, pydantic's plugin discovery (it reads the entry points
of every installed package: ~4.5 ms of CPU with the dev venv's 135 packages). Without a
drill.yaml nothing needs validating — settings are the defaults, an experiment is
validated by chaoslib — so such a run builds none and reads no entry points. Nor does it
import what only runbooks use: their model classes (~3 ms to create), the providers'
step context and the probes' results (~3 ms), nor the schedule's tables (~5 ms).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.clihelp import python_c, subprocess_env

ONE_PROBE = """title: one probe
description: a single python probe, no environment needed
method:
  - type: probe
    name: root-exists
    provider: {type: python, module: os.path, func: exists, arguments: {path: /}}
"""

# Run like the console script (argv from sys.argv, so `drill run`'s start-up path), with
# importlib.metadata.entry_points counted before anything imports it.
CHECK = """
import importlib.metadata, json, sys
scans = []
_entry_points = importlib.metadata.entry_points
def counted(*args, **kwargs):
    scans.append(repr(kwargs or args))
    return _entry_points(*args, **kwargs)
importlib.metadata.entry_points = counted
from orchestrator.cli import main
try:
    main()  # as the console script: it exits with the run's status
except SystemExit as exc:
    code = exc.code
from pydantic import BaseModel
def subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from subclasses(sub)
built = sorted(f"{c.__module__}.{c.__qualname__}" for c in subclasses(BaseModel)
               if c.__module__.startswith("orchestrator.") and c.__pydantic_complete__)
print("STARTUP=" + json.dumps({"scans": scans, "built": built,
                               "modules": sorted(m for m in sys.modules
                                                 if m.startswith("orchestrator."))}),
      file=sys.stderr)
sys.exit(code)
"""


def _run(cwd: Path) -> tuple[int, dict[str, list[str]], str]:
    proc = python_c(cwd, CHECK, "run", "one.yaml", "--json")
    lines = [x for x in proc.stderr.splitlines() if x.startswith("STARTUP=")]
    assert lines, proc.stderr
    return proc.returncode, json.loads(lines[-1].removeprefix("STARTUP=")), proc.stderr


def test_one_probe_run_builds_no_drill_validator_and_reads_no_entry_points(workdir: Path) -> None:
    (workdir / "one.yaml").write_text(ONE_PROBE)
    code, _first, err = _run(workdir)  # creates and migrates the store
    assert code == 0, err
    code, seen, err = _run(workdir)
    assert code == 0, err
    assert seen["built"] == [], seen["built"]
    assert seen["scans"] == [], seen["scans"]
    runbooks_only = {
        "orchestrator.definitions.models",
        "orchestrator.providers.base",
        "orchestrator.measure.base",
        "orchestrator.schedule.records",  # who approved a *scheduled* run (~5 ms of classes)
    }
    assert runbooks_only.isdisjoint(seen["modules"]), runbooks_only & set(seen["modules"])
    assert "orchestrator.config" in seen["modules"]  # the check looks at the right process


def test_a_drill_yaml_is_still_validated(workdir: Path) -> None:
    """The other side of the shortcut: settings from a file are checked as before."""
    (workdir / "one.yaml").write_text(ONE_PROBE)
    (workdir / "drill.yaml").write_text("default_env: lab\n")
    code, _first, err = _run(workdir)
    assert code == 0, err
    code, seen, err = _run(workdir)
    assert code == 0, err
    assert "orchestrator.config.Settings" in seen["built"]
    (workdir / "drill.yaml").write_text("default_env: [lab]\n")
    proc = subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", "run", "one.yaml"],
        cwd=workdir,
        text=True,
        capture_output=True,
        env=subprocess_env(),
        timeout=300,
    )
    assert proc.returncode == 2, proc.stderr
    assert "drill.yaml:1" in proc.stderr and "default_env" in proc.stderr
