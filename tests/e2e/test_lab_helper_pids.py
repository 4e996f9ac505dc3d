"""What a lab operation started before it died never outlives `lab down`.

A helper started by an undo is recorded at once; a server started but not recorded is
found through its data directory.

drill is SIGKILLed in the middle of az-loss (the primary's AZ isolated), the stopped app
of that AZ dies too, and the recovery that restarts it is SIGKILLed right after (inside
`az.restore`, before the operation's end). The app's pid was only written to the lab's
state when the operation ended, so it was lost: the next recovery started a second app
that could not bind the port, and `drill lab down` failed (exit 1, "left processes or
ports behind: app-use1-az1"), the first app serving on — to be found and killed by hand.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.clihelp import run
from tests.e2e.conftest import lab_status, running_lab

pytestmark = [pytest.mark.lab, pytest.mark.slow]

POINT = "step:az-loss:6:end"  # the AZ of the primary isolated (its servers SIGSTOPped)
RESTARTED = "lab:az.restore:partial@2"  # az.restore: the AZ's server resumed, its app started


@pytest.fixture()
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield from running_lab(tmp_path_factory)


def test_an_app_restarted_by_a_killed_recovery_is_stopped_by_lab_down(lab: Path) -> None:
    from orchestrator.providers.lab.procs import port_open, state

    hook = {"DRILL_TEST_CRASH_AT": POINT}
    killed = run(lab, "run", "az-loss", "--json", timeout=300, env=hook)
    assert killed.code == -signal.SIGKILL, killed.err
    (app,) = [
        c for c in lab_status(lab)["components"] if c["kind"] == "app" and c["state"] == "down"
    ]
    os.kill(app["pid"], signal.SIGKILL)  # the isolated (SIGSTOPped) app dies as well
    deadline = time.monotonic() + 30
    while state(app["pid"], None) != "dead":
        assert time.monotonic() < deadline
        time.sleep(0.01)

    hook = {"DRILL_TEST_CRASH_AT": RESTARTED}
    cut = run(lab, "recover", timeout=300, env=hook)
    assert cut.code == -signal.SIGKILL and " at lab:az.restore:partial" in cut.err, cut.err
    again = run(lab, "recover", timeout=300)
    assert again.code == 0, again.err
    (entry,) = json.loads(run(lab, "runs", "list", "--json").out)
    assert entry["status"] == "crashed"
    assert all(c["state"] == "up" for c in lab_status(lab)["components"])

    down = run(lab, "lab", "down", timeout=180)
    assert down.code == 0, down.err
    assert not port_open(app["port"]), f"{app['name']} outlived `lab down`"


def test_a_standby_started_by_a_killed_repair_is_stopped_by_lab_down(lab: Path) -> None:
    """`lab up` re-protecting a killed standby is SIGKILLed once the new standby server
    runs, before its pid reached the state: `lab down` finds that server through its data
    directory and stops it (it stopped the recorded ones only, then failed: "left
    processes or ports behind: use1-az2")."""
    from orchestrator.providers.lab.procs import port_open

    (standby,) = [c for c in lab_status(lab)["components"] if c["role"] == "standby"]
    os.kill(standby["pid"], signal.SIGKILL)
    hook = {"DRILL_TEST_CRASH_AT": "lab:reprotect:started"}
    cut = run(lab, "lab", "up", timeout=300, env=hook)
    assert cut.code == -signal.SIGKILL and " at lab:reprotect:started" in cut.err, cut.err
    assert port_open(standby["port"]), "the new standby was not running"

    down = run(lab, "lab", "down", timeout=180)
    assert down.code == 0, down.err
    assert not port_open(standby["port"]), f"{standby['name']} outlived `lab down`"
