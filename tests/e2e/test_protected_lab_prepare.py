"""A run on a protected lab environment that changes nothing itself (probes only) still
prepares the lab first — starts it, or repairs what it finds wrong. That changes the
environment, so without --yes it is refused (DESIGN 10: nothing mutating against a
protected environment without confirmation); a healthy lab needs no --yes.

Found as a user: with the lab's load balancer stopped (SIGSTOP), `drill run look --env
prod-lab`, a probe-only runbook, resumed it — no --yes, no approval recorded.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from tests.clihelp import run
from tests.e2e.conftest import lab_status
from tests.e2e.defs import write

pytestmark = [pytest.mark.lab]

LOOK = """id: look
title: looks at the database, changes nothing
steps:
  - name: database endpoint answers
    kind: probe
    action: db.health
    args: {target: db}
"""


def lb(cwd: Path) -> dict[str, object]:
    return next(c for c in lab_status(cwd)["components"] if c["name"] == "lb")


def test_preparing_a_protected_lab_needs_yes_only_when_it_changes_it(labdir: Path) -> None:
    write(labdir, "drill.yaml", "environments:\n  prod-lab: {provider: lab, protected: true}\n")
    rb = write(labdir, "runbooks/look.yaml", LOOK)
    planned = json.loads(run(labdir, "plan", str(rb), "--env", "prod-lab", "--json").out)
    assert planned["needs_confirmation"] is False and "lab_change" not in planned
    healthy = run(labdir, "run", str(rb), "--env", "prod-lab", "--json", timeout=300)
    assert healthy.code == 0, healthy.err

    pid = int(str(lb(labdir)["pid"]))
    os.kill(pid, signal.SIGSTOP)
    try:
        refused = run(labdir, "run", str(rb), "--env", "prod-lab", "--json", timeout=300)
        assert refused.code == 2, refused.err
        said = " ".join(refused.err.split())
        assert "is protected and running look would change its lab first" in said
        assert "lb is stopped (SIGSTOP)" in said and "--yes" in said
        assert refused.out == ""
        # `drill plan` says so too (it said no confirmation was needed)
        planned = json.loads(run(labdir, "plan", str(rb), "--env", "prod-lab", "--json").out)
        assert planned["needs_confirmation"] is True
        assert "lb is stopped (SIGSTOP)" in planned["lab_change"]
        assert lb(labdir)["state"] == "down", "nothing was repaired"
        runs = json.loads(run(labdir, "runs", "list", "--json").out)
        assert len(runs) == 1, "nothing was recorded"

        confirmed = run(labdir, "run", str(rb), "--env", "prod-lab", "--yes", "--json", timeout=300)
        assert confirmed.code == 0, confirmed.err
        assert lb(labdir)["state"] == "up"
        shown = json.loads(
            run(labdir, "runs", "show", json.loads(confirmed.out)["run_id"], "--json").out
        )
        assert [a["approved_by"] for a in shown["approvals"]] != []
    finally:
        os.kill(pid, signal.SIGCONT)  # (a no-op once the run resumed it)
