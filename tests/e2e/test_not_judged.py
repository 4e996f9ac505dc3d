"""An aborted scenario's objectives were not judged: ``met`` is null with the reason,
never false ("missed"), in every place a user reads it.

The run is real: a runbook whose second step sends the run a Ctrl-C (so the abort
happens at a known step, with no timing), under a drill with RTO/RPO objectives.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from tests.clihelp import drill
from tests.e2e.defs import activity, write

REASON = "the scenario was aborted before its objectives could be judged"


def _aborted_drill(workdir: Path) -> Path:
    marker = workdir / "marker"
    write(
        workdir,
        "runbooks/held.yaml",
        f"""id: held
title: a runbook stopped by Ctrl-C after its fault
scenario: test
steps:
  - name: inject the fault
    kind: action
    activity: {activity("touch", path=str(marker))}
  - name: the operator presses Ctrl-C
    kind: action
    activity: {activity("interrupt")}
  - name: hold the fault
    kind: wait
    duration: 60s
rollback:
  - name: remove the marker
    kind: action
    activity: {activity("remove", path=str(marker))}
""",
    )
    return write(
        workdir,
        "drills/held-drill.yaml",
        "id: held-drill\ntitle: objectives never judged\n"
        "scenarios:\n  - runbook: held\n    objectives: {rto: 1m, rpo: 5s}\n",
    )


@pytest.fixture()
def aborted(workdir: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    _aborted_drill(workdir)
    res = drill(capsys, "run", "held-drill", "--env", "lab", "--json")
    assert res.code == 3, res.err
    doc: dict[str, Any] = json.loads(res.out)
    assert doc["status"] == "aborted"
    assert not (workdir / "marker").exists(), "the rollback ran"
    return doc


def test_run_and_runs_show_say_not_judged(
    aborted: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    (sc,) = aborted["scenarios"]
    assert sc["status"] == "aborted" and sc["met"] is None and sc["met_reason"] == REASON
    shown = json.loads(drill(capsys, "runs", "show", aborted["run_id"], "--json").out)
    assert shown["scenarios"] == aborted["scenarios"]
    assert not [f for f in shown["findings"] if f["kind"] == "objective_missed"]
    table = drill(capsys, "runs", "show", aborted["run_id"]).out
    assert "not judged" in table and "NO" not in table


def test_metrics_and_dashboard_leave_it_out(aborted: dict[str, Any]) -> None:
    from orchestrator.web.app import create_app
    from orchestrator.web.metrics import Sources

    with TestClient(create_app(Sources.open(None))) as client:
        assert (
            client.get(f"/api/runs/{aborted['run_id']}").json()["scenarios"]
            == (aborted["scenarios"])
        )
        page = client.get(f"/runs/{aborted['run_id']}").text
        metrics = client.get("/metrics").text
    assert "not judged" in page and REASON in page
    samples = {
        s.name: s.labels for fam in text_string_to_metric_families(metrics) for s in fam.samples
    }
    assert samples["drill_last_run_timestamp_seconds"]["drill"] == "held-drill"
    assert "drill_objective_met" not in samples, "0 would read as a missed objective"


def test_export_reports_it_and_counts_no_test(
    aborted: dict[str, Any], workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    day = aborted["started_at"][:10]
    out = workdir / "b.zip"
    res = drill(
        capsys, "evidence", "export", "--from", day, "--to", day, "--framework", "soc2",
        "--out", str(out),
    )  # fmt: skip
    assert res.code == 0, res.err
    with zipfile.ZipFile(out) as z:
        files = {n: z.read(n) for n in z.namelist()}
    (row,) = csv.DictReader(io.StringIO(files["runs.csv"].decode()))
    assert row["objectives_met"] == "" and row["objectives_not_judged_because"] == REASON
    (run,) = json.loads(files["runs.json"])["runs"]
    assert run["scenarios"][0]["met"] is None
    assert f"not judged ({REASON})" in files["report.html"].decode()
    assert "1 not judged" in files["oscal/assessment-results.json"].decode()
    pdftotext = shutil.which("pdftotext")
    if pdftotext is not None:  # poppler-utils; the HTML above says the same
        pdf = workdir / "report.pdf"
        pdf.write_bytes(files["report.pdf"])
        text = subprocess.run(
            [pdftotext, "-layout", str(pdf), "-"], check=True, capture_output=True, text=True
        ).stdout
        assert "not judged" in text
    controls = json.loads(files["controls/soc2.json"])["results"]
    for control in controls:  # an aborted run is no executed DR test
        assert control["evidence"]["dr_test_executed"] == [] and not control["satisfied"]


def test_stored_false_of_an_old_aborted_row_reads_as_not_judged() -> None:
    """Stores written before this rule hold ``met`` false for aborted scenarios."""
    from orchestrator.engine.objectives import verdict_of

    assert verdict_of("aborted", False, None) == (None, REASON)
    assert verdict_of("crashed", False, None)[0] is None
    assert verdict_of("failed", False, None) == (False, None)
    assert verdict_of("succeeded", None, {"skipped": "live only"}) == (None, "skipped: live only")
    assert verdict_of("rollback_failed", False, None) == (False, None)


def _export(workdir: Path, capsys: pytest.CaptureFixture[str], day: str, fw: str) -> Any:
    out = workdir / f"{fw}.zip"
    res = drill(
        capsys, "evidence", "export", "--from", day, "--to", day, "--framework", fw,
        "--out", str(out),
    )  # fmt: skip
    assert res.code == 0, res.err
    with zipfile.ZipFile(out) as z:
        return json.loads(z.read(f"controls/{fw}.json"))


def test_an_aborted_scenarios_numbers_are_no_measured_recovery(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An aborted scenario whose fault was marked has its RTO/RPO recorded (measured up to
    the abort), but it was not judged: `rto_measured`/`rpo_measured` counted it as a
    measured recovery (``RTO 0.000s …; objectives not judged (…)``), so ISO A.5.30 and
    NIST CP-4 listed a run that recovered nothing as their evidence."""
    drill_file = _aborted_drill(workdir)
    held = workdir / "runbooks/held.yaml"
    held.write_text(
        held.read_text().replace(
            "  - name: inject the fault\n    kind: action\n",
            "  - name: inject the fault\n    kind: action\n    mark: fault_injected\n",
        )
    )
    assert drill_file.exists()
    res = drill(capsys, "run", "held-drill", "--env", "lab", "--json")
    assert res.code == 3, res.err
    doc = json.loads(res.out)
    (sc,) = doc["scenarios"]
    # RPO 0.000s here (no write was lost before the abort); on a lab with probes, RTO too
    assert sc["met"] is None and (sc["rto_s"], sc["rpo_s"]) != (None, None), sc
    for fw in ("iso27001", "nist"):
        for control in _export(workdir, capsys, doc["started_at"][:10], fw)["results"]:
            for name in ("rto_measured", "rpo_measured", "dr_test_executed"):
                assert control["evidence"].get(name, []) == [], (fw, control)


def test_a_failed_dr_test_was_executed_and_the_control_says_so(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A run whose first step failed was executed (a failed test: `met` false) and is
    `dr_test_executed` evidence; the kind's meaning said "ran to completion", which it
    did not: the words now say what is counted."""
    write(
        workdir,
        "runbooks/broken.yaml",
        f"""id: broken
title: its first step fails
scenario: test
steps:
  - name: the fault cannot be injected
    kind: action
    activity: {activity("fail", message="planned failure")}
""",
    )
    write(
        workdir,
        "drills/broken-drill.yaml",
        "id: broken-drill\ntitle: a failed test\nscenarios:\n  - runbook: broken\n",
    )
    res = drill(capsys, "run", "broken-drill", "--env", "lab", "--json")
    assert res.code == 1, res.err
    doc = json.loads(res.out)
    assert doc["status"] == "failed" and doc["scenarios"][0]["met"] is False
    a13 = _export(workdir, capsys, doc["started_at"][:10], "soc2")["results"][0]
    assert [e["ref"] for e in a13["evidence"]["dr_test_executed"]] == [f"run:{doc['run_id']}"]
    meaning = a13["evidence_meaning"]["dr_test_executed"]
    assert "completion" not in meaning and "failed" in meaning and "aborted" in meaning
