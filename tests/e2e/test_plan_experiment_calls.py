"""`drill plan` of an experiment lists the calls of drill's own extension's activities.

DESIGN 5: `drill plan` shows every step and API call. A runbook step `db.failover` was
planned with its lab operations (SIGKILL of the primary, the controller's promotion);
the same action in an experiment (`orchestrator.chaos.db.failover`, as the bundled
multi-az-failover has it) showed only the module and function, and no call — the
reviewer of a plan could not see that it kills the primary.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.clihelp import drill
from tests.e2e.defs import write


def _steps(capsys, *args: str) -> list[dict]:
    res = drill(capsys, "plan", *args, "--json")
    assert res.code == 0, res.err
    (sc,) = json.loads(res.out)["scenarios"]
    return sc["steps"]


def test_experiment_activities_of_drill_s_extension_show_their_calls(workdir: Path, capsys) -> None:
    steps = {(s["phase"], s["name"]): s for s in _steps(capsys, "multi-az-failover")}
    fail = steps[("step", "force-multi-az-failover")]
    assert fail["action"] == "db.failover" and fail["destructive"] is True
    assert any("SIGKILL" in c["operation"] and c["mutating"] for c in fail["calls"]), fail
    undo = steps[("rollback", "re-protect-the-pair-on-rollback")]
    assert undo["action"] == "db.reprotect" and undo["calls"], undo
    probe = steps[("precondition", "database-endpoint-answers")]
    assert probe["destructive"] is False and not any(c["mutating"] for c in probe["calls"])
    text = drill(capsys, "plan", "multi-az-failover").out
    assert "SIGKILL postgres process group of the primary" in text


def test_other_activities_and_run_time_arguments_stay_as_they_are(workdir: Path, capsys) -> None:
    """No call is invented: a function of another module, or arguments filled in at run
    time."""
    write(
        workdir,
        "experiments/mixed.yaml",
        """title: mixed activities
description: drill's extension and others
configuration: {which: primary_db}
method:
  - type: probe
    name: plain
    provider: {type: python, module: os.path, func: exists, arguments: {path: /}}
  - type: action
    name: templated
    provider: {type: python, module: orchestrator.chaos.db, func: failover,
               arguments: {target: "${which}"}}
""",
    )
    steps = {s["name"]: s for s in _steps(capsys, "mixed")}
    assert "calls" not in steps["plain"] and "action" not in steps["plain"]
    assert "calls" not in steps["templated"]


def test_a_role_the_environment_lacks_is_refused_before_anything_starts(
    workdir: Path, capsys
) -> None:
    """As a runbook step's: `drill plan`, `drill run` and `drill validate --env` name the
    activity with its file:line, exit 2, nothing started. It used to be found only when
    the activity ran (the plan printed, the run started)."""
    exp = write(
        workdir,
        "experiments/analytics.yaml",
        """title: analytics failover
description: a role the lab does not have
method:
  - type: probe
    name: fine
    provider: {type: python, module: orchestrator.chaos.probes, func: multi_az}
  - type: action
    name: fail-analytics
    provider: {type: python, module: orchestrator.chaos.db, func: failover,
               arguments: {target: analytics_db}}
""",
    )
    for args in (("plan", "analytics"), ("run", "analytics", "--json"), ("validate",)):
        res = drill(capsys, *args, "--env", "lab")
        assert res.code == 2, (args, res.out, res.err)
        assert f"{exp}:10" in res.err and "analytics_db" in res.err, (args, res.err)
        assert "fail-analytics" in res.err, res.err
    listed = drill(capsys, "runs", "list", "--json")
    assert listed.code == 0 and json.loads(listed.out) == [], "nothing was started"
