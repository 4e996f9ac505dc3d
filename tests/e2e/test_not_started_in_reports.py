"""A run that ended before all its scenarios began (Ctrl-C during the first of
quarterly-dr's four, or `stop_policy: stop` after a failure) has records of the
scenarios it ran only: `runs show`, report.html and report.pdf showed an aborted
quarterly-dr with one scenario and no word of the other three. The run now records which
scenarios never started, and each of those says so."""

from __future__ import annotations

import json
import shutil
import subprocess
import zipfile
from pathlib import Path

from tests.clihelp import drill_out
from tests.e2e.defs import runbook, write

STOPPING = """id: stopping
title: stops at the first failure
stop_policy: stop
scenarios:
  - runbook: breaks
  - runbook: second
  - runbook: third
"""


def test_scenarios_that_never_started_are_named(workdir: Path) -> None:
    write(workdir, "runbooks/breaks.yaml", runbook(workdir / "m1", rb_id="breaks", fail=True))
    write(workdir, "runbooks/second.yaml", runbook(workdir / "m2", rb_id="second"))
    write(workdir, "runbooks/third.yaml", runbook(workdir / "m3", rb_id="third"))
    write(workdir, "drills/stopping.yaml", STOPPING)
    code, out = drill_out("run", "stopping", "--json")
    assert code == 1
    doc = json.loads(out)
    assert [sc["id"] for sc in doc["scenarios"]] == ["breaks"]
    said = "not started (the run ended before them): second, third"

    shown = " ".join(drill_out("runs", "show", doc["run_id"])[1].split())
    assert f"scenarios {said}" in shown, shown

    from starlette.testclient import TestClient

    from orchestrator.web.app import create_app
    from orchestrator.web.metrics import Sources

    with TestClient(create_app(Sources.open(None))) as client:  # drill serve's run page
        assert f"scenarios {said}" in client.get(f"/runs/{doc['run_id']}").text

    code, out = drill_out("report", doc["run_id"], "--html", "--out", "r.html")
    assert code == 0, out
    assert f'<p class="notjudged">{said}</p>' in Path("r.html").read_text()
    code, out = drill_out("evidence", "export", "--run", doc["run_id"], "--out", "b.zip")
    assert code == 0, out
    with zipfile.ZipFile("b.zip") as z:
        oscal = json.loads(z.read("oscal/assessment-results.json"))
    (run,) = [
        o
        for o in oscal["assessment-results"]["results"][0]["observations"]
        if o["title"].startswith("Drill run")
    ]
    assert run["description"].endswith(f"Scenarios {said}."), run["description"]
    if shutil.which("pdftotext") is None:
        return
    assert drill_out("report", doc["run_id"], "--pdf", "--out", "r.pdf")[0] == 0
    pdf = subprocess.run(["pdftotext", "r.pdf", "-"], capture_output=True, text=True).stdout
    assert f"Scenarios {said}" in " ".join(pdf.split())
