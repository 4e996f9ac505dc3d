"""An experiment run by drill acts in the run's mode and on the run's environment.

`drill run experiments/region-promotion.yaml --mode isolated` was recorded as an
isolated run while its `orchestrator.chaos` activities ran live: the real us-west-2
replica was promoted and the production global record repointed — what isolated mode
exists to prevent. drill never told the activities the mode (`drill_mode`). And a var
file (or --var) could set `drill_env` and send the activities to another environment
than the one the run was approved and recorded on.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.clihelp import REPO, run
from tests.e2e.defs import write

pytestmark = [pytest.mark.lab, pytest.mark.slow]


def _steps(cwd: Path, run_id: str) -> dict[str, dict[str, Any]]:
    shown = run(cwd, "runs", "show", run_id, "--json")
    assert shown.code == 0, shown.err
    return {s["name"]: s for s in json.loads(shown.out)["steps"] if s["phase"] == "step"}


def test_an_isolated_experiment_promotes_a_clone_and_leaves_the_record(labdir: Path) -> None:
    exp = REPO / "experiments" / "region-promotion.yaml"
    res = run(labdir, "run", str(exp), "--mode", "isolated", "--json", timeout=300)
    assert res.code == 0, res.err
    doc = json.loads(res.out)
    assert doc["mode"] == "isolated"
    steps = _steps(labdir, doc["run_id"])
    promote = steps["promote-the-dr-replica"]["output"]
    assert promote.get("isolated") is True and promote["instance"] != "usw2", promote
    point = steps["point-the-global-record-at-the-dr-replica"]["output"]
    assert point.get("isolated") is True, point
    assert "proxy:set" not in (point.get("lab_operations") or []), point


def test_vars_cannot_send_the_activities_elsewhere(labdir: Path) -> None:
    exp = write(
        labdir,
        "probe-env.yaml",
        """title: one probe through drill's extension
description: it runs on the run's environment
method:
  - type: probe
    name: endpoint-answers
    tolerance: {type: jsonpath, path: $.ok, expect: true}
    provider: {type: python, module: orchestrator.chaos.probes, func: db_health,
               arguments: {target: db}}
""",
    )
    refused = run(labdir, "run", str(exp), "--var", "drill_env=elsewhere", "--json")
    assert (refused.code, refused.out) == (2, ""), refused.err
    assert "drill_env is drill's own setting" in refused.err
    elsewhere = write(labdir, "elsewhere.json", '{"configuration": {"drill_env": "elsewhere"}}')
    res = run(labdir, "run", str(exp), "--var-file", str(elsewhere), "--json")
    assert res.code == 0, res.err  # on lab, as recorded: 'elsewhere' is no environment
    assert json.loads(res.out)["env"] == "lab"
