"""`drill lab up | status | status --json | reset | down` as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.actions import ACTIONS
from orchestrator.config import EnvironmentConfig, ProviderKind, Settings
from orchestrator.providers.lab import procs
from orchestrator.providers.lab.provider import LabProvider


def drill(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("DRILL_")}
    return subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={**base, **env},
    )


def test_every_action_and_probe_has_a_lab_implementation(tmp_path: Path) -> None:
    settings = Settings(state_dir=str(tmp_path), base_dir=tmp_path)
    provider = LabProvider("lab", EnvironmentConfig(provider=ProviderKind.LAB), settings)
    missing = [name for name in ACTIONS.names() if not provider.supports(name)]
    assert missing == []
    for name in ACTIONS.names():  # plan works without a running lab, and changes nothing
        spec = ACTIONS.get(name)
        assert provider.plan(name, spec.args().model_dump(), "live")
    assert not (tmp_path / "lab").exists()


def test_missing_postgresql_is_a_clear_error(tmp_path: Path) -> None:
    empty = tmp_path / "no-pg"
    empty.mkdir()
    out = drill(tmp_path, "lab", "up", DRILL_PG_BINDIR=str(empty))
    assert out.returncode == 1
    assert out.stderr.startswith("drill: error: PostgreSQL server binaries")
    assert str(empty) in out.stderr and "apt-get install -y postgresql" in out.stderr
    assert "Traceback" not in out.stderr


def test_status_when_not_running(tmp_path: Path) -> None:
    out = drill(tmp_path, "lab", "status", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {
        "running": False,
        "components": [],
        "endpoints": {"db": None, "global_db": None, "app": None},
        "aws": None,
    }  # DESIGN section 12: null without --aws


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """The CLI in-process (as the console script runs it): exit code, stdout, stderr."""
    from orchestrator.cli import main

    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.lab
def test_up_status_reset_down_leave_nothing_behind(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from orchestrator import pgbin
    from orchestrator.errors import LabError

    try:
        pgbin.bindir()
    except LabError:
        pytest.skip("PostgreSQL server not installed")
    code, _, err = run_cli(capsys, "lab", "up")
    assert code == 0, err
    code, out, _ = run_cli(capsys, "lab", "up", "--json")  # idempotent: same processes
    assert code == 0
    again = json.loads(out)
    code, out, _ = run_cli(capsys, "lab", "status", "--json")
    first = json.loads(out)
    assert again["components"] == first["components"]
    assert first["running"] is True and len(first["components"]) == 10
    code, out, _ = run_cli(capsys, "lab", "status")
    assert code == 0 and "use1-az1" in out and "controller" in out

    code, out, err = run_cli(capsys, "lab", "reset", "--json")
    assert code == 0, err
    second = json.loads(out)
    assert second["running"] is True
    seen = [(c["pid"], c["port"]) for c in first["components"] + second["components"]]
    for c in first["components"]:  # reset stopped the old lab completely
        assert c["pid"] is None or not procs.group_alive(c["pid"])

    code, out, err = run_cli(capsys, "lab", "down")
    assert code == 0, err
    assert "stopped 10 component(s)" in out
    for pid, port in seen:
        assert pid is None or not procs.group_alive(pid)
        assert port is None or not procs.port_open(port)
    code, out, _ = run_cli(capsys, "lab", "status", "--json")
    assert json.loads(out)["running"] is False
