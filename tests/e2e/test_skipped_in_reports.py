"""A scenario an isolated run skipped (a live-only runbook: it disrupts production by
nature) was never run, yet every file of the bundle but the verdict column called it
`succeeded` beside the scenarios that ran: report.html and report.pdf (its status),
runs.csv (`scenario_status`), the run's heading and the controls' run lines. An auditor
read it as tested. Each now says `skipped` where a status is shown, the run says how many
of its scenarios were skipped, VERIFY.md counts them, and runs.json keeps the recorded
status with `skipped` saying why. (Whether the run counts as a success is unchanged.)"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from tests.clihelp import drill_out
from tests.e2e.defs import runbook, write

ISO = """id: iso
title: isolated drill
mode: isolated
objectives: {rto: 1h, rpo: 5m}
scenarios:
  - runbook: live-only
  - runbook: marker-runbook
"""


@pytest.fixture
def iso_run(workdir: Path) -> str:
    """An isolated run of a live-only scenario (skipped) and one that runs isolated."""
    write(workdir, "runbooks/marker-runbook.yaml", runbook(workdir / "marker"))
    live_only = runbook(workdir / "marker2", rb_id="live-only") + "isolated_supported: false\n"
    write(workdir, "runbooks/live-only.yaml", live_only)
    write(workdir, "drills/iso.yaml", ISO)
    code, out = drill_out("run", "iso", "--json")
    assert code == 0  # unchanged: the run succeeded
    return str(json.loads(out)["run_id"])


@pytest.fixture
def bundle(workdir: Path, iso_run: str) -> zipfile.ZipFile:
    code, out = drill_out("evidence", "export", "--period", _this_quarter(), "--out", "b.zip")
    assert code == 0, out
    return zipfile.ZipFile(workdir / "b.zip")


def _this_quarter() -> str:
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    return f"{now.year}-Q{(now.month - 1) // 3 + 1}"


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_a_skipped_scenario_reads_skipped_in_every_file(bundle: zipfile.ZipFile) -> None:
    html = _text(bundle.read("report.html").decode())
    assert "live-only skipped —" in html  # its row: status, then no fault time
    assert "succeeded; 1 of 2 scenarios skipped: not run" in html
    assert "1 scenarios skipped (not run)" in html  # the summary's card
    assert "marker-runbook succeeded" in html
    assert "live-only RTO skipped: not run (objective 1h 00m)" in html  # the chart

    rows = list(csv.DictReader(io.StringIO(bundle.read("runs.csv").decode())))
    assert {r["scenario"]: r["scenario_status"] for r in rows} == {
        "live-only": "skipped",
        "marker-runbook": "succeeded",
    }
    assert {r["run_status"] for r in rows} == {"succeeded"}

    (run,) = json.loads(bundle.read("runs.json"))["runs"]
    sc = {s["scenario_id"]: s for s in run["scenarios"]}
    assert sc["live-only"]["status"] == "succeeded"  # as recorded (the journal's value)
    assert "live-only scenario" in sc["live-only"]["skipped"]
    assert sc["marker-runbook"]["skipped"] is None

    verify = " ".join(bundle.read("VERIFY.md").decode().split())
    assert (
        "1 run(s) of iso on lab (1 succeeded; 1 scenario(s) skipped in isolated mode: not run)"
        in verify
    )
    assert "a scenario marked `skipped` was not run" in verify
    assert "A run in `isolated` mode left production alone" in verify  # what it measured

    soc2 = json.loads(bundle.read("controls/soc2.json"))
    said = json.dumps(soc2)
    assert "succeeded; 1 of 2 scenarios skipped: not run" in said, said

    if shutil.which("pdftotext") is None:
        return
    Path("b.pdf").write_bytes(bundle.read("report.pdf"))
    pdf = subprocess.run(
        ["pdftotext", "-layout", "b.pdf", "-"], capture_output=True, text=True, check=True
    ).stdout
    # nothing measured reads "—" as in the HTML and the objective columns (it read "-")
    assert re.search(r"live-only\s+skipped\s+—\s+—\s+—\s+1h 00m\s+—\s+5m 00s", pdf), pdf
    assert "iso - " in pdf and "succeeded; 1 of 2 scenarios skipped: not run" in pdf
    assert "1 scenario(s) skipped (not run)" in pdf
    assert "1 run, 1 succeeded, 0 not" in pdf and "0 findings (0 open)" in pdf  # "1 runs"
    assert re.search(r"live-only RTO\s+skipped: not run \(objective 1h 00m\)", pdf), pdf


def test_runs_list_and_status_say_a_run_skipped_scenarios(iso_run: str) -> None:
    """`drill runs list` and `drill status` (and their --json, = /api/runs, /api/status)
    showed the isolated run as plain 'succeeded', its last success too, though half of it
    was never run; they now say how many scenarios it skipped (still a success)."""
    (listed,) = json.loads(drill_out("runs", "list", "--json")[1])
    assert (listed["run_id"], listed["status"], listed["skipped_scenarios"]) == (
        iso_run,
        "succeeded",
        1,
    )
    rows = [line for line in drill_out("runs", "list")[1].splitlines() if iso_run in line]
    assert len(rows) == 1 and "succeeded (1 skipped)" in rows[0], rows
    doc = json.loads(drill_out("status", "--json")[1])
    (iso,) = [d for d in doc["drills"] if d["drill"] == "iso"]
    assert iso["last_success_run_id"] == iso_run  # it counts: a product decision, unchanged
    assert iso["last_run_skipped_scenarios"] == iso["last_success_skipped_scenarios"] == 1
    (row,) = [line for line in drill_out("status")[1].splitlines() if "│ iso " in line]
    assert row.count("(1 skipped)") == 2 and "succeeded (1 skipped)" in row, row


def test_the_dashboard_run_page_says_skipped(iso_run: str) -> None:
    """`drill serve`'s run page gave the skipped scenario a green 'succeeded' badge."""
    from starlette.testclient import TestClient

    from orchestrator.web.app import create_app
    from orchestrator.web.metrics import Sources

    with TestClient(create_app(Sources.open(None))) as client:
        page = client.get(f"/runs/{iso_run}").text
    row = page.split("<tr><td>live-only</td>")[1].split("</tr>")[0]
    assert "skipped (not run)" in row and "succeeded" not in row, row
