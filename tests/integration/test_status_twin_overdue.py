"""`/api/status` = `drill status --json` also when a missed period is not filed yet.

`drill status` files a finding the first time it sees a missed period and its JSON said
so (`new_findings`), while the read-only dashboard never files one: in a store with an
overdue drill the two documents differed, whichever was asked first. The filed
findings are now said on stderr ("finding recorded: …"); the document is the status
alone, the same from both. Real store and engine, the app through Starlette's test
client, the clock frozen by time-machine.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import time_machine
from starlette.testclient import TestClient

from orchestrator.web.app import create_app
from orchestrator.web.metrics import Sources
from tests.clihelp import drill
from tests.unit.test_schedule_support import make_project


def test_api_status_equals_the_cli_before_and_after_it_files_a_finding(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_project(workdir)
    with time_machine.travel(datetime(2030, 1, 15, tzinfo=UTC), tick=False) as tm:
        assert drill(capsys, "schedule", "sync", "--env", "lab").code == 0
        tm.move_to(datetime(2030, 7, 2, tzinfo=UTC))  # 2030-Q2 passed without a run
        sources = Sources.open(None)
        with TestClient(create_app(sources)) as client:
            before = client.get("/api/status").json()
            first = drill(capsys, "status", "--json")  # files the finding
            again = drill(capsys, "status", "--json")
            after = client.get("/api/status").json()
    assert first.code == 0 and again.code == 0
    assert json.loads(first.out) == before == json.loads(again.out) == after
    (qdr,) = [d for d in before["drills"] if d["drill"] == "qdr"]
    assert qdr["overdue"] is True and qdr["missed_periods"] == ["2030-Q2"]
    # the filing is said once, where a person reads it, not in the document
    assert "finding recorded: qdr: no successful run in 2030-Q2" in first.err
    assert "finding recorded" not in again.err
    listed = json.loads(drill(capsys, "findings", "list", "--json").out)
    assert [f["title"] for f in listed if f["drill"] == "qdr"] == [
        "qdr: no successful run in 2030-Q2"
    ]
