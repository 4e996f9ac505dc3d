"""`drill report RUN --out FILE`: the format follows the file's suffix when no flag says it.

`drill report RUN --out r.html` was refused with "choose one of --html or --pdf"
(exit 2, no hint) although the file name said which.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.clihelp import drill
from tests.e2e.defs import runbook, write


@pytest.fixture()
def run_id(workdir: Path, capsys: pytest.CaptureFixture[str]) -> str:
    rb = write(workdir, "runbooks/m.yaml", runbook(workdir / "marker"))
    res = drill(capsys, "run", str(rb), "--json")
    assert res.code == 0, res.err
    return str(json.loads(res.out)["run_id"])


def test_suffix_picks_the_format(
    workdir: Path, capsys: pytest.CaptureFixture[str], run_id: str
) -> None:
    res = drill(capsys, "report", run_id, "--out", "r.html")
    assert res.code == 0, res.err
    assert (workdir / "r.html").read_text().lstrip().lower().startswith("<!doctype html")


def test_no_format_at_all_is_a_usage_error_with_a_hint(
    workdir: Path, capsys: pytest.CaptureFixture[str], run_id: str
) -> None:
    for args in ([], ["--out", "r.txt"], ["--html", "--pdf"]):
        res = drill(capsys, "report", run_id, *args)
        assert (res.code, res.out) == (2, ""), (args, res.err)
        assert res.err.startswith("drill: error: ") and "--html" in res.err
        assert "hint:" in res.err, res.err


def test_a_flag_and_a_suffix_that_disagree_are_refused(
    workdir: Path, capsys: pytest.CaptureFixture[str], run_id: str
) -> None:
    """`--html --out report.pdf` wrote HTML into report.pdf (and `--pdf --out r.html` a
    PDF into r.html): an auditor's PDF reader then refused the file. Refused, nothing
    written; a suffix that names no format (`--html --out r.txt`) is still the user's."""
    for flag, name in (("--html", "r.pdf"), ("--pdf", "r.html"), ("--pdf", "R.HTM")):
        res = drill(capsys, "report", run_id, flag, "--out", name)
        assert (res.code, res.out) == (2, ""), (flag, name, res.err)
        assert f"{flag} but --out {name}" in res.err and "hint:" in res.err, res.err
        assert not (workdir / name).exists()
    res = drill(capsys, "report", run_id, "--html", "--out", "r.txt")
    assert res.code == 0, res.err
    assert (workdir / "r.txt").read_text().lstrip().lower().startswith("<!doctype html")
