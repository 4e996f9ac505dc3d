"""`drill findings assign|close` as a user types them, and what the export's controls
make of the result. A blank owner was accepted ("finding #1 assigned to ") and made the
finding count as tracked for SOC 2 CC7.5, PCI 12.10.2 and the others."""

from __future__ import annotations

import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.clihelp import drill_out
from tests.integration.test_evidence_chain import run_drill, write_definitions


@pytest.fixture
def finding(workdir: Path) -> int:
    """The open finding of one real run (its deviating scenario)."""
    write_definitions(workdir)
    run_id = run_drill(workdir)["run_id"]
    code, out = drill_out("findings", "list", "--run", run_id, "--json")
    assert code == 0
    (found,) = json.loads(out)
    assert found["status"] == "open" and found["owner"] is None
    return int(found["id"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--owner", ""], "--owner must name who carries out the corrective action"),
        (["--owner", "  \t"], "--owner must name who carries out the corrective action"),
        (["--owner", "bob", "--due", "0001-01-01"], "--due 0001-01-01 is out of range"),
        (["--owner", "bob", "--due", "2027-02-30"], "--due '2027-02-30' is not a date"),
    ],
)
def test_assign_refuses_a_blank_owner_or_a_bad_date(
    finding: int, args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert drill_out("findings", "assign", str(finding), *args)[0] == 2
    err = capsys.readouterr().err
    assert err.startswith("drill: error: ") and message in err, err
    shown = json.loads(drill_out("findings", "show", str(finding), "--json")[1])
    assert shown["owner"] is None and shown["due_date"] is None  # nothing was written


def test_owner_is_stored_trimmed_and_tracks_the_finding(finding: int) -> None:
    assert drill_out("findings", "assign", str(finding), "--owner", " sre-team ")[0] == 0
    shown = json.loads(drill_out("findings", "show", str(finding), "--json")[1])
    assert shown["owner"] == "sre-team"
    missing = _soc2_cc75()["missing"]
    assert isinstance(missing, list) and not [m for m in missing if "findings_tracked" in m]


def test_a_blank_owner_already_stored_does_not_count_as_tracked(
    finding: int, workdir: Path
) -> None:
    """A blank owner written by an earlier version stays "open without an owner"."""
    from orchestrator.evidence.records import Finding
    from orchestrator.evidence.writer import EvidenceDB

    db = EvidenceDB.open(f"sqlite:///{workdir}/.drill/evidence.db")
    try:
        row = db.get(Finding, finding)
        row.owner = "   "
        db.write(row)
    finally:
        db.close()
    cc75 = _soc2_cc75()
    assert cc75["satisfied"] is False
    assert f"findings_tracked: 1 finding(s) open without an owner: #{finding}" in cc75["missing"]


def _soc2_cc75() -> dict[str, object]:
    now = datetime.now(UTC)
    period = f"{now.year}-Q{(now.month - 1) // 3 + 1}"
    code, _ = drill_out(
        "evidence", "export", "--period", period, "--framework", "soc2", "--out", "s.zip"
    )
    assert code == 0
    with zipfile.ZipFile("s.zip") as zf:
        doc = json.loads(zf.read("controls/soc2.json"))
    (cc75,) = [r for r in doc["results"] if r["control_id"] == "CC7.5"]
    return dict(cc75)


def test_export_says_what_each_control_without_full_evidence_lacks(
    finding: int, capsys: pytest.CaptureFixture[str]
) -> None:
    """`controls without full evidence: soc2:CC7.5` named the controls only: what was
    missing took unzipping the bundle. Each now has a line saying what it lacks."""
    now = datetime.now(UTC)
    period = f"{now.year}-Q{(now.month - 1) // 3 + 1}"
    capsys.readouterr()
    code, out = drill_out(
        "evidence", "export", "--period", period, "--framework", "soc2", "--out", "s.zip"
    )
    assert code == 0, out
    lines = " ".join(out.split())
    assert "controls without full evidence: soc2:A1.3, soc2:CC7.5" in lines, out
    assert (
        f"soc2:CC7.5: findings_tracked: 1 finding(s) open without an owner: #{finding}" in lines
    ), out


def test_runs_show_says_where_each_finding_stands(
    finding: int, capsys: pytest.CaptureFixture[str]
) -> None:
    """`drill runs show` listed a run's findings with title and corrective action only:
    whether one was still open, and whose it was, took `drill findings show` each."""
    run_id = json.loads(drill_out("findings", "show", str(finding), "--json")[1])["run_id"]
    code, out = drill_out("runs", "show", run_id)
    assert code == 0 and "(open, no owner)" in " ".join(out.split()), out
    assert (
        drill_out("findings", "assign", str(finding), "--owner", "sre", "--due", "2027-01-15")[0]
        == 0
    )
    shown = json.loads(drill_out("runs", "show", run_id, "--json")[1])
    (mine,) = [f for f in shown["findings"] if f["id"] == finding]
    assert (mine["owner"], mine["due_date"]) == ("sre", "2027-01-15")
    assert "(open, sre by 2027-01-15)" in " ".join(drill_out("runs", "show", run_id)[1].split())


def test_list_and_show_say_what_to_do_next(finding: int) -> None:
    """`drill findings list` and `show` gave an open finding no next step: nothing said
    it lacked an owner nor how to give it one, while the export counted it against SOC 2
    CC7.5 and the others; then how to close it."""
    listed = " ".join(drill_out("findings", "list")[1].split())
    assert f"#{finding}" in listed and "(no owner)" in listed
    assert "drill findings assign ID --owner WHO --due YYYY-MM-DD" in listed
    shown = " ".join(drill_out("findings", "show", str(finding))[1].split())
    assert f"next give it an owner: `drill findings assign {finding} --owner WHO" in shown
    assert (
        drill_out("findings", "assign", str(finding), "--owner", "sre", "--due", "2027-01-15")[0]
        == 0
    )
    listed = " ".join(drill_out("findings", "list")[1].split())
    assert "→ sre by 2027-01-15" in listed and "(no owner)" not in listed and "assign" not in listed
    shown = " ".join(drill_out("findings", "show", str(finding))[1].split())
    assert f"next when its corrective action is done: `drill findings close {finding}" in shown
    assert drill_out("findings", "close", str(finding), "--resolution", "tuned")[0] == 0
    assert "next" not in drill_out("findings", "show", str(finding))[1]


def test_the_controls_say_when_an_owned_finding_is_due_and_whether_it_is_late(
    finding: int,
) -> None:
    """An open finding with an owner and a due date two months past was evidence
    '#1 … — open, owner bob', as if on track: the due date went unsaid."""
    assert (
        drill_out("findings", "assign", str(finding), "--owner", "bob", "--due", "2000-01-31")[0]
        == 0
    )
    items = _soc2_cc75()["evidence"]["findings_tracked"]  # type: ignore[index]
    (item,) = [i for i in items if i["ref"] == f"finding:{finding}"]
    assert item["description"].endswith(
        "— open, owner bob, due 2000-01-31, overdue when exported"
    ), item
    assert (
        drill_out("findings", "assign", str(finding), "--owner", "bob", "--due", "2999-01-31")[0]
        == 0
    )
    items = _soc2_cc75()["evidence"]["findings_tracked"]  # type: ignore[index]
    (item,) = [i for i in items if i["ref"] == f"finding:{finding}"]
    assert item["description"].endswith("— open, owner bob, due 2999-01-31"), item
