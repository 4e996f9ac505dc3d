"""Host loss on the real lab: drill is SIGKILLed in the middle of az-loss (an AZ
isolated, its undos pending), then every process of the lab dies too, as a host restart
would take them. Nothing is left of the faults those undos would undo, so recovery does
not fail them: it records them as not played, with why, and the run ends `crashed` — not
`rollback_failed` with a critical "environment may be degraded" finding about a lab that
no longer exists, which also stopped the next `drill run` (exit 1) before this.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.clihelp import Result, run
from tests.e2e.conftest import lab_status, running_lab

pytestmark = [pytest.mark.lab, pytest.mark.slow]

POINT = "step:az-loss:6:end"  # the AZ of the primary isolated, its undos pending
NOT_PLAYED = "not played: the local lab is not running"


@pytest.fixture()
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield from running_lab(tmp_path_factory)


@pytest.fixture()
def awslab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield from running_lab(tmp_path_factory, "--aws")


def killed(cwd: Path, *env: str) -> str:
    """The run id of az-loss SIGKILLed at POINT (on ``env``)."""
    res = run(
        cwd, "run", "az-loss", *env, "--json", timeout=300, env={"DRILL_TEST_CRASH_AT": POINT}
    )
    assert res.code == -signal.SIGKILL and f" at {POINT}" in res.err, res.err
    (entry,) = json.loads(run(cwd, "runs", "list", "--json").out)
    assert entry["status"] == "running"
    return str(entry["run_id"])


def host_loss(cwd: Path) -> None:
    """Every process of the lab dies at once (SIGKILL to each process group)."""
    from orchestrator.providers.lab.procs import group_alive

    pids = [c["pid"] for c in lab_status(cwd)["components"] if c["pid"]]
    for pid in pids:
        os.killpg(pid, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while any(group_alive(pid) for pid in pids):
        assert time.monotonic() < deadline, "lab processes outlived SIGKILL"
        time.sleep(0.02)
    assert not lab_status(cwd)["running"]


def closed_as_not_played(cwd: Path, run_id: str, said: Result) -> None:
    assert NOT_PLAYED in " ".join(said.err.split()), said.err
    doc: dict[str, Any] = json.loads(run(cwd, "runs", "show", run_id, "--json").out)
    assert doc["status"] == "crashed", doc["status"]
    undos = [s for s in doc["steps"] if s["phase"] == "rollback"]
    assert undos and {s["status"] for s in undos} == {"cancelled"}, undos
    assert all(NOT_PLAYED in json.dumps(s["output"]) for s in undos), undos
    kinds = {f["kind"] for f in doc["findings"]}
    assert "run_crashed" in kinds and "rollback_failed" not in kinds, kinds
    assert run(cwd, "evidence", "verify").code == 0


def test_next_run_after_host_loss_closes_the_orphan_and_runs(lab: Path) -> None:
    run_id = killed(lab)
    host_loss(lab)
    res = run(lab, "run", "rds-failover", "--json", timeout=600)
    assert res.code == 0, res.err
    assert json.loads(res.out)["status"] == "succeeded"
    closed_as_not_played(lab, run_id, res)
    again = run(lab, "lab", "up", timeout=300)
    assert again.code == 0 and "nothing to repair" in " ".join(again.err.split()), again.err


@pytest.mark.aws
def test_recover_after_host_loss_of_the_aws_lab(awslab: Path) -> None:
    """On lab-aws the environment itself is gone with the lab (its API was a lab
    process): the command the read commands' warning names, `drill recover --env
    lab-aws`, closes the run all the same, exit 0 (it was refused: unknown environment)."""
    run_id = killed(awslab, "--env", "lab-aws")
    host_loss(awslab)
    warned = run(awslab, "runs", "list").err
    assert "run `drill recover --env lab-aws`" in " ".join(warned.split()), warned
    res = run(awslab, "recover", "--env", "lab-aws", timeout=300)
    assert res.code == 0, res.err
    closed_as_not_played(awslab, run_id, res)
    assert "awaits recovery" not in run(awslab, "runs", "list").err
    up = run(awslab, "lab", "up", "--aws", timeout=300)
    assert up.code == 0, up.err
    assert "lab: found every process of the lab gone" in " ".join(up.err.split()), up.err
    assert run(awslab, "inventory", "--env", "lab-aws").code == 0  # no drift: a new lab
