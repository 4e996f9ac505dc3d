"""`drill lab up` while a run on the lab awaits recovery (its drill was SIGKILLed after
the fault): refused, exit 2, naming the run and the ways on, with the fault left for
the run's own rollbacks; `drill recover` then restores the lab. With --force the lab is
repaired and the run ends ``crashed``, its rollbacks recorded as not played and why.

Found as a user: `drill lab up` quietly resumed the SIGSTOPped region and said
"repaired"; the run stayed `running`, and a later `drill recover` recorded its
rollbacks as having restored a lab that `lab up` had already restored.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import pytest

from tests.clihelp import run
from tests.e2e.conftest import lab_status

pytestmark = [pytest.mark.lab, pytest.mark.slow]

POINT = "step:region-promotion:5:start"  # us-east-1 SIGSTOPped, its undos pending
EAST = {"use1-az1", "use1-az2", "db-endpoint", "lb", "controller"}


def killed(cwd: Path) -> str:
    res = run(cwd, "run", "region-promotion", timeout=300, env={"DRILL_TEST_CRASH_AT": POINT})
    assert res.code == -signal.SIGKILL, res.err
    (entry,) = [
        r for r in json.loads(run(cwd, "runs", "list", "--json").out) if r["status"] == "running"
    ]
    return str(entry["run_id"])


def show(cwd: Path, run_id: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(run(cwd, "runs", "show", run_id, "--json").out)
    return doc


def east_states(cwd: Path) -> set[str]:
    return {c["state"] for c in lab_status(cwd)["components"] if c["name"] in EAST}


def test_lab_up_leaves_an_orphan_to_recovery_or_says_what_force_did(labdir: Path) -> None:
    run_id = killed(labdir)
    assert east_states(labdir) == {"down"}

    refused = run(labdir, "lab", "up", timeout=300)
    assert refused.code == 2, refused.err
    said = " ".join(refused.err.split())
    assert f"run {run_id} awaits recovery" in said and "drill recover --env lab" in said
    assert "--force" in said
    assert show(labdir, run_id)["status"] == "running"
    assert east_states(labdir) == {"down"}, "a refusal repairs nothing"

    recovered = run(labdir, "recover", "--env", "lab", timeout=300)
    assert recovered.code == 0, recovered.err
    doc = show(labdir, run_id)
    assert doc["status"] == "crashed"
    assert {s["status"] for s in doc["steps"] if s["phase"] == "rollback"} == {"succeeded"}
    healthy = run(labdir, "lab", "up", timeout=300)
    assert healthy.code == 0 and "nothing to repair" in " ".join(healthy.err.split())

    run_id = killed(labdir)
    forced = run(labdir, "lab", "up", "--force", timeout=300)
    assert forced.code == 0, forced.err
    said = " ".join(forced.err.split())
    assert "resumed every stopped component" in said
    assert run_id in said and "recorded as not played (the lab was repaired instead)" in said
    doc = show(labdir, run_id)
    assert doc["status"] == "crashed"
    undos = [s for s in doc["steps"] if s["phase"] == "rollback"]
    assert undos and {s["status"] for s in undos} == {"cancelled"}
    assert all("`drill lab up --force`" in s["output"]["not_played"] for s in undos)
    assert "recovery.lab_repaired" in {e["kind"] for e in doc["timeline"]}
    assert "rollback_failed" not in {f["kind"] for f in doc["findings"]}
    assert east_states(labdir) == {"up"}
    assert run(labdir, "evidence", "verify").code == 0
    assert run(labdir, "recover").code == 0  # nothing left to recover
