"""A schedule of a definition *file* is judged on the runs it starts.

`drill schedule add ok.yaml --cron quarterly` stored the target as typed, while its runs
are recorded under the experiment's id (``ok``): `drill status` listed ``ok.yaml`` with
the cadence and no run at all, and every quarter became a "no successful run" finding
although each scheduled run succeeded. The file was also kept relative to where the
command was typed, while the service runs drills from drill.yaml's directory.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import time_machine

from tests.clihelp import drill_out
from tests.e2e.defs import experiment, write


def _json(*args: str) -> object:
    code, out = drill_out(*args, "--json")
    assert code == 0, out
    return json.loads(out)


def test_a_scheduled_file_is_judged_on_its_runs(workdir: Path) -> None:
    (workdir / "drill.yaml").write_text("database: sqlite:///.drill/evidence.db\n")
    write(workdir, "defs/ok.yaml", experiment(workdir / "m"))
    os.chdir(workdir / "defs")  # typed from a subdirectory, as people do
    try:
        with time_machine.travel(datetime(2026, 8, 14, 9, 0, tzinfo=UTC), tick=True):
            added = _json(
                "--config",
                "../drill.yaml",
                "schedule",
                "add",
                "ok.yaml",
                "--env",
                "lab",
                "--cron",
                "quarterly",
            )
        assert isinstance(added, dict)
        assert added["target"] == str(workdir / "defs" / "ok.yaml")  # runs from anywhere
    finally:
        os.chdir(workdir)
    for day in (datetime(2026, 10, 1, 0, 5, tzinfo=UTC), datetime(2027, 1, 1, 0, 5, tzinfo=UTC)):
        with time_machine.travel(day, tick=True):  # the scheduled runs, as the service starts them
            run = _json("run", added["target"], "--env", "lab")
            assert isinstance(run, dict) and run["status"] == "succeeded"
    with time_machine.travel(datetime(2027, 2, 1, tzinfo=UTC), tick=False):
        status = _json("status")
    assert isinstance(status, dict)
    listed = {d["drill"]: d for d in status["drills"]}
    assert "ok.yaml" not in listed and added["target"] not in listed
    ok = listed["ok"]
    assert ok["cadence"] and ok["env"] == "lab"
    assert ok["last_success_run_id"] == run["run_id"]
    assert ok["missed_periods"] == [] and ok["overdue"] is False
    assert _json("findings", "list") == []
