"""Background activities (`background: true`) in an experiment's evidence.

chaoslib runs them on threads of their own, beside the method; drill records a step row
for each as it starts and ends. Two of one name (a background action and a `ref` to it)
run at once: drill matched an activity's end to its start by name alone, so one row
stayed `running` for good in a run that succeeded, its end and output lost.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.clihelp import run

# each run of the action waits until both have started: they overlap, whatever the load
BOTH = """title: the same background action twice
description: a background action and a ref to it, running at once
method:
  - type: action
    name: wait-for-the-other
    background: true
    provider:
      type: process
      path: sh
      arguments:
        - -c
        - >-
          mktemp started.XXXXXX >/dev/null; n=0;
          while [ "$(ls started.* | wc -l)" -lt 2 ] && [ $n -lt 6000 ]; do
          sleep 0.01; n=$((n+1)); done; ls started.* | wc -l
  - ref: wait-for-the-other
  - type: action
    name: in-the-foreground
    provider: {type: process, path: touch, arguments: foreground-ran}
"""


def test_two_background_runs_of_one_activity_each_end_in_the_evidence(workdir: Path) -> None:
    (workdir / "both.yaml").write_text(BOTH)
    journal = workdir / "journal.json"
    res = run(workdir, "run", "both.yaml", "--json", "--journal-path", str(journal))
    assert res.code == 0, res.err
    runs = json.loads(journal.read_text())["run"]
    waited = [r for r in runs if r["activity"]["name"] == "wait-for-the-other"]
    assert [r["output"]["stdout"].strip() for r in waited] == ["2", "2"], "they overlapped"
    shown = json.loads(run(workdir, "runs", "show", json.loads(res.out)["run_id"], "--json").out)
    steps = [(s["name"], s["status"]) for s in shown["steps"] if s["phase"] == "step"]
    assert sorted(steps) == [
        ("in-the-foreground", "succeeded"),
        ("wait-for-the-other", "succeeded"),
        ("wait-for-the-other", "succeeded"),
    ], steps
    assert all(s["ended_at"] for s in shown["steps"])
