"""An experiment whose rollback failed, with no RTO/RPO objective: its steady state held,
so ``met`` is true (the objectives' verdict: nothing missed), but the run's summary,
`runs show` and the reports called it "passed" ("1/1 … passed", met? "passed") beside a
status `rollback_failed`: a reader took a run that left its fault in place for a pass."""

from __future__ import annotations

import json
import shutil
import subprocess
import zipfile
from pathlib import Path

from tests.clihelp import run
from tests.e2e.defs import experiment, write


def test_a_rollback_failed_experiment_is_not_called_passed(workdir: Path) -> None:
    marker = workdir / "m"
    text = experiment(marker).replace(
        f'func: remove, arguments: {{path: "{marker}"}}',
        "func: fail, arguments: {message: the rollback cannot undo it}",
    )
    assert "func: fail" in text
    path = write(workdir, "stuck.yaml", text)
    res = run(workdir, "run", str(path))
    assert res.code == 1, res.err
    shown = run(workdir, "runs", "list", "--json")
    (listed,) = json.loads(shown.out)
    assert listed["status"] == "rollback_failed", listed
    doc = json.loads(run(workdir, "runs", "show", listed["run_id"], "--json").out)
    (sc,) = doc["scenarios"]
    assert sc["status"] == "rollback_failed" and sc["met"] is True  # objectives: none missed
    table = run(workdir, "runs", "show", listed["run_id"])
    assert table.code == 0, table.err
    for said in (res.out + res.err, table.out):
        words = " ".join(said.split())
        assert "1/1 without an RTO/RPO objective passed" not in words, words
        assert "│ passed │" not in words and "· passed" not in words, words
        assert "0/1 without an RTO/RPO objective passed" in words, words
        assert "│ rollback failed │" in words or "· rollback failed" in words, words
    day = listed["started_at"][:10]
    out = workdir / "b.zip"
    res = run(workdir, "evidence", "export", "--from", day, "--to", day, "--out", str(out))
    assert res.code == 0, res.err
    with zipfile.ZipFile(out) as z:
        report = " ".join(z.read("report.html").decode().split())
        oscal = z.read("oscal/assessment-results.json").decode()
        pdf = workdir / "report.pdf"
        pdf.write_bytes(z.read("report.pdf"))
    assert "no RTO/RPO objective; passed" not in report
    assert "rollback failed (no RTO/RPO objective: its steps or steady state held" in report
    assert "0 of 1 without an RTO/RPO objective passed; 1 rollback failed" in oscal
    pdftotext = shutil.which("pdftotext")
    if pdftotext is not None:  # poppler-utils; the HTML above says the same
        text = subprocess.run(
            [pdftotext, "-layout", str(pdf), "-"], check=True, capture_output=True, text=True
        ).stdout
        assert "passed (no objective)" not in text and "rollback failed" in text


def test_a_rollback_failed_experiment_is_not_shown_green(workdir: Path) -> None:
    """Its words said "rollback failed" (above), but the dashboard's run page showed a
    green "met" badge for it and report.html coloured that cell green, as a pass."""
    import re

    from starlette.testclient import TestClient

    from orchestrator.web.app import create_app
    from orchestrator.web.metrics import Sources

    marker = workdir / "m"
    text = experiment(marker).replace(
        f'func: remove, arguments: {{path: "{marker}"}}',
        "func: fail, arguments: {message: the rollback cannot undo it}",
    )
    res = run(workdir, "run", str(write(workdir, "stuck.yaml", text)), "--json")
    assert res.code == 1, res.err
    run_id = json.loads(res.out)["run_id"]
    with TestClient(create_app(Sources.open(None))) as client:
        page = client.get(f"/runs/{run_id}").text
        metrics = client.get("/metrics").text
    scenarios = page.split("<h2>Scenarios</h2>")[1].split("</table>")[0]
    cells = re.findall(r"<td>(.*?)</td>", scenarios, re.S)
    assert 'class="badge met"' not in cells[-1], cells
    assert 'class="badge rollback_failed"' in cells[-1] and "rollback failed" in cells[-1]
    # drill_objective_met keeps its value (the objectives' verdict) and says what it means
    assert re.search(r"^drill_objective_met\{.*\} 1\.0$", metrics, re.M), metrics
    help_ = next(line for line in metrics.splitlines() if "HELP drill_objective_met" in line)
    assert "rollback" in help_, help_
    html = workdir / "r.html"
    assert run(workdir, "report", run_id, "--html", "--out", str(html)).code == 0
    (cell,) = re.findall(r'<td class="([^"]*)">[^<]*rollback failed \(', html.read_text())
    assert cell not in ("met", "succeeded", "satisfied"), cell
