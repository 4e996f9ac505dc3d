"""An auditor reading an export's report.html and report.pdf finds, for each run, which
version of the definitions ran (git commit, definition sha256) and who approved it, and
the RTO/RPO chart with every label whole: in the PDF as in the HTML. (The PDF had no
chart, and neither report said anything of the commit when there was none, nor the
definition hashes; the PDF named no commit or approval at all.)"""

from __future__ import annotations

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
from tests.integration.test_evidence_chain import write_definitions

PDFTOTEXT = shutil.which("pdftotext")


def _git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.email=qa@example.com", "-c", "user.name=qa", *args],
        cwd=root,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


@pytest.fixture
def bundle(workdir: Path) -> tuple[zipfile.ZipFile, str]:
    """A protected environment, definitions committed to git, one approved run."""
    if shutil.which("git") is None:
        pytest.skip("git not installed")
    write_definitions(workdir)
    # a runbook scenario too: drill's objectives apply to runbooks (an experiment's
    # steady-state hypothesis decides it; it has none)
    write(workdir, "runbooks/marker-runbook.yaml", runbook(workdir / "marker"))
    mini = workdir / "drills" / "mini.yaml"
    mini.write_text(mini.read_text() + "  - runbook: marker-runbook\n")
    (workdir / "drill.yaml").write_text("environments:\n  lab: {provider: lab, protected: true}\n")
    _git(workdir, "init", "-q")
    _git(workdir, "add", "-A")
    _git(workdir, "commit", "-q", "-m", "definitions")
    commit = _git(workdir, "rev-parse", "HEAD")
    assert drill_out("run", "mini", "--env", "lab", "--yes")[0] == 1  # one scenario deviates
    assert drill_out("evidence", "export", "--period", _year_quarter(), "--out", "b.zip")[0] == 0
    return zipfile.ZipFile(workdir / "b.zip"), commit


def _year_quarter() -> str:
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    return f"{now.year}-Q{(now.month - 1) // 3 + 1}"


def _text_of_html(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_html_report_names_commit_definition_hashes_and_approval(
    bundle: tuple[zipfile.ZipFile, str],
) -> None:
    zf, commit = bundle
    text = _text_of_html(zf.read("report.html").decode())
    assert f"git commit {commit}" in text
    assert re.search(r"Definition sha256 mini\.yaml [0-9a-f]{16}…, (deviates|noop)\.yaml", text)
    assert "root at " in text and "--yes given on a protected environment" in text
    # and in runs.csv, for an auditor's spreadsheet
    import csv

    rows = list(csv.DictReader(io.StringIO(zf.read("runs.csv").decode())))
    assert rows and all((r["git_commit"], r["approved_by"]) == (commit, "root") for r in rows)
    # the chart: a heading per run, each value with its objective beside it, none cut
    assert "RTO / RPO against objectives" in text
    assert re.search(r"marker-runbook RTO .*objective 4h 00m", text)
    assert "noop RTO" not in text  # an experiment has no objective of drill's
    # objectives read as durations in the scenario table too (not "14400.000s")
    assert "RTO ≤ 4h 00m, RPO ≤ 1h 00m" in text and "14400.000s" not in text


@pytest.mark.skipif(PDFTOTEXT is None, reason="pdftotext not installed (poppler-utils)")
def test_pdf_report_has_the_chart_commit_and_approval(
    bundle: tuple[zipfile.ZipFile, str], tmp_path: Path
) -> None:
    zf, commit = bundle
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(zf.read("report.pdf"))
    assert PDFTOTEXT is not None
    text = subprocess.run(
        [PDFTOTEXT, "-layout", str(pdf), "-"], check=True, capture_output=True, text=True
    ).stdout
    flat = re.sub(r"\s+", " ", text)
    assert "RTO / RPO against objectives" in flat
    assert "objective 4h 00m" in flat and "marker-runbook RTO" in flat
    assert f"git commit {commit}" in flat
    assert "Approvals: root at" in flat
    assert "Definition sha256:" in flat and "mini.yaml" in flat
    manifest = json.loads(zf.read("manifest.json"))
    assert f"Signed by {manifest['signer']['fingerprint']}." in flat  # the PDF named no signer


def test_without_git_or_approval_the_report_says_so(workdir: Path) -> None:
    write_definitions(workdir)
    assert drill_out("run", "mini", "--env", "lab")[0] == 1
    assert drill_out("evidence", "export", "--period", _year_quarter(), "--out", "b.zip")[0] == 0
    with zipfile.ZipFile(workdir / "b.zip") as zf:
        text = _text_of_html(zf.read("report.html").decode())
    assert "no git commit recorded" in text
    assert "none recorded (only a protected environment requires one)" in text


def test_pdf_chart_of_a_large_period_spans_pages() -> None:
    """100 detailed runs of four scenarios: ~900 chart rows, more than a page holds (one
    drawing that tall made reportlab refuse the whole PDF)."""
    from datetime import UTC, datetime, timedelta

    from orchestrator.report.model import ReportData, RunView, ScenarioView
    from orchestrator.report.pdf import PdfRenderer

    t0 = datetime(2026, 11, 2, tzinfo=UTC)
    runs = [
        RunView(
            id=f"r-{i:04d}",
            target="quarterly-dr",
            target_kind="drill",
            env="lab",
            mode="live",
            status="succeeded",
            trigger="schedule",
            who="scheduler",
            started_at=t0 + timedelta(hours=i),
            ended_at=t0 + timedelta(hours=i, minutes=1),
            scenarios=[
                ScenarioView(
                    id=i * 4 + k,
                    scenario_id=name,
                    ref=name,
                    kind="runbook",
                    status="succeeded",
                    started_at=t0 + timedelta(hours=i),
                    rto_s=1.5,
                    rpo_s=0.0,
                    objective_rto_s=120.0,
                    objective_rpo_s=0.0,
                    met=True,
                )
                for k, name in enumerate(["az-loss", "rds-failover", "region-promotion", "x"])
            ],
        )
        for i in range(100)
    ]
    data = ReportData(
        title="t", generated_at=t0, generated_by="qa", period_label="2026-Q4", runs=runs
    )
    pdf = PdfRenderer().render(data)
    assert pdf.startswith(b"%PDF") and pdf.count(b"/Type /Page\n") + pdf.count(b"/Type /Page ") > 10


def test_runs_csv_cells_never_start_a_formula(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An operator name like ``=HYPERLINK(…)`` reaches runs.csv as text (a leading ``'``),
    not as a formula Excel would run; runs.json keeps the name as recorded."""
    import csv

    write_definitions(workdir)
    monkeypatch.setenv("DRILL_OPERATOR", '=HYPERLINK("http://127.0.0.1/x","open")')
    assert drill_out("run", "mini", "--env", "lab")[0] == 1
    assert drill_out("evidence", "export", "--period", _year_quarter(), "--out", "b.zip")[0] == 0
    with zipfile.ZipFile(workdir / "b.zip") as zf:
        rows = list(csv.DictReader(io.StringIO(zf.read("runs.csv").decode())))
        runs = json.loads(zf.read("runs.json"))["runs"]
    assert rows and {r["who"] for r in rows} == {'\'=HYPERLINK("http://127.0.0.1/x","open")'}
    assert runs[0]["who"] == '=HYPERLINK("http://127.0.0.1/x","open")'
