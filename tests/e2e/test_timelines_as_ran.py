"""Every timeline of a run draws its steps in the order they ran, as `drill runs show`
lists them: a rollback is recorded (numbered) when the step it undoes starts, so by
number the dashboard's and the reports' timelines drew "remove the marker" above the
"inject the fault" it undoes."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

from starlette.testclient import TestClient

from tests.clihelp import drill
from tests.e2e.defs import runbook, write

ORDER = ["inject the fault", "hold the fault", "remove the marker"]


def _order(text: str) -> list[str]:
    """The step names in the order ``text`` first gives each."""
    found = {name: text.find(name) for name in ORDER}
    assert all(at >= 0 for at in found.values()), (found, text)
    return sorted(ORDER, key=found.__getitem__)


def test_dashboard_and_report_timelines_draw_steps_as_they_ran(workdir: Path, capsys) -> None:
    write(workdir, "runbooks/two.yaml", runbook(workdir / "marker", rb_id="two", wait_s=0.1))
    res = drill(capsys, "run", "two", "--json")
    assert res.code == 0, res.err
    run_id = json.loads(res.out)["run_id"]
    shown = json.loads(drill(capsys, "runs", "show", run_id, "--json").out)
    by_number = [st["name"] for st in sorted(shown["steps"], key=lambda st: st["seq"])]
    assert by_number != ORDER, "the rollback is numbered before the steps it undoes"

    from orchestrator.web.app import create_app
    from orchestrator.web.metrics import Sources

    with TestClient(create_app(Sources.open(None))) as client:
        page = client.get(f"/runs/{run_id}").text
    chart = re.search(r'<div class="table-wrap" id="timeline">(.*?)</div>', page, re.S)
    assert chart, page
    assert _order(chart.group(1)) == ORDER

    html = workdir / "r.html"
    assert drill(capsys, "report", run_id, "--html", "--out", str(html)).code == 0
    svg = re.search(r'<svg[^>]*aria-label="timeline of run.*?</svg>', html.read_text(), re.S)
    assert svg, html.read_text()
    assert _order(svg.group(0)) == ORDER

    pdf = workdir / "r.pdf"
    assert drill(capsys, "report", run_id, "--pdf", "--out", str(pdf)).code == 0
    pdftotext = shutil.which("pdftotext")
    if pdftotext is not None:  # poppler-utils; the HTML above is drawn from the same view
        text = subprocess.run(
            [pdftotext, "-raw", str(pdf), "-"], check=True, capture_output=True, text=True
        ).stdout
        assert _order(text.split(run_id)[-1]) == ORDER, text


def test_a_step_started_on_a_whole_second_is_ordered_by_time_not_text() -> None:
    """A run document's times are ISO text, without a fraction on a whole second: as text
    "…:01Z" sorted after "…:01.5Z" (``Z`` after ``.``), a step after the one it preceded."""
    from orchestrator.views import steps_as_ran

    steps = [
        {"seq": 1, "started_at": "2026-12-02T10:00:01.500000Z"},
        {"seq": 2, "started_at": None},
        {"seq": 3, "started_at": "2026-12-02T10:00:01Z"},
    ]
    assert [st["seq"] for st in steps_as_ran(steps)] == [3, 1, 2]
