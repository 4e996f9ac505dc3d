"""On the real lab: drill dies in the middle of rds-failover (the standby promoted, its
undo pending); `drill lab down` refuses, `--force` stops every lab process and ends the
run `crashed` — no `rollback_failed`, its rollbacks kept as not played — and the next
`lab up` builds a healthy lab with nothing left to recover."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.clihelp import run
from tests.e2e.conftest import lab_status, running_lab

pytestmark = [pytest.mark.lab, pytest.mark.slow]

POINT = "step:rds-failover:5:start"  # after the forced failover, before the reprotect


@pytest.fixture()
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield from running_lab(tmp_path_factory)


def test_force_takes_the_lab_down_and_closes_the_run(lab: Path) -> None:
    killed = run(
        lab, "run", "rds-failover", "--json", timeout=300, env={"DRILL_TEST_CRASH_AT": POINT}
    )
    assert killed.code == -signal.SIGKILL, killed.err
    (entry,) = json.loads(run(lab, "runs", "list", "--json").out)
    run_id = entry["run_id"]
    assert entry["status"] == "running"

    refused = run(lab, "lab", "down")
    assert refused.code == 2 and f"run {run_id} awaits recovery" in refused.err
    assert lab_status(lab)["running"], "a refusal changes nothing"

    forced = run(lab, "lab", "down", "--force", timeout=180)
    assert forced.code == 0, forced.err
    assert not lab_status(lab)["running"]
    doc = json.loads(run(lab, "runs", "show", run_id, "--json").out)
    assert doc["status"] == "crashed"
    undos = [s for s in doc["steps"] if s["phase"] == "rollback"]
    assert undos and {s["status"] for s in undos} == {"cancelled"}
    assert "rollback_failed" not in {f["kind"] for f in doc["findings"]}

    up = run(lab, "lab", "up", timeout=240)
    assert up.code == 0, up.err
    recovered = run(lab, "recover")
    assert recovered.code == 0 and "no run awaits recovery" in recovered.err
    assert run(lab, "evidence", "verify").code == 0
