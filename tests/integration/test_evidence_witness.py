"""The newest events cut off together with their rows — or an older copy of the database
put back — leave a journal that chains and agrees with its tables. drill remembers the
newest event it wrote or verified outside the database (`.drill/journal-heads.json`),
so `drill evidence verify` and `drill evidence export` notice, on SQLite and PostgreSQL;
a new database in the same state directory is a new journal, not a cut one."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest.mock import ANY

import pytest
import sqlalchemy as sa

from orchestrator.cli import main
from orchestrator.evidence.records import projections
from tests.integration.test_evidence_chain import db, run_drill, verify  # noqa: F401  (db: a fixture)

HEADS = Path(".drill/journal-heads.json")


@contextmanager
def _sql(url: str) -> Iterator[sa.Connection]:
    """One transaction on the evidence database, behind drill's back."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            yield conn
    finally:
        engine.dispose()


def _cut_newest_run(url: str, run_id: str) -> None:
    """Delete a run with every row and every event of it: what is left chains."""
    with _sql(url) as conn:
        mark = f'"run":"{run_id}"'.encode()
        first = min(
            seq
            for seq, ev in conn.execute(sa.text("SELECT seq, event FROM journal"))
            if mark in bytes(ev)
        )
        conn.execute(sa.text("DELETE FROM journal WHERE seq >= :s"), {"s": first})
        order = [
            "approval",
            "artifact",
            "finding",
            "measurement",
            "probe_series",
            "step_run",
            "timeline_event",
            "scenario_run",
        ]
        names = {p.name for p in projections()}
        for table in order:
            assert table in names
            conn.execute(sa.text(f"DELETE FROM {table} WHERE run_id = :r"), {"r": run_id})
        conn.execute(sa.text("DELETE FROM run WHERE id = :r"), {"r": run_id})


def test_a_cut_tail_is_found_by_verify_and_export(
    db: str,  # noqa: F811
    workdir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    run_drill(workdir)
    newest = run_drill(workdir)["run_id"]
    heads = json.loads((workdir / HEADS).read_text())
    with _sql(db) as conn:
        head = conn.execute(sa.text("SELECT seq, hash FROM journal ORDER BY seq DESC")).first()
    assert head is not None
    assert list(heads.values()) == [{"seq": head[0], "hash": head[1], "at": ANY, "db": ANY}]
    assert verify(capsys)[0] == 0

    _cut_newest_run(db, newest)
    code, text = verify(capsys)
    assert code == 1, text
    assert "events were cut from the end, or an older copy" in " ".join(text.split())
    assert "journal-heads.json to accept that" in " ".join(text.split())
    capsys.readouterr()
    assert main(["evidence", "export", "--period", "2026-Q4", "--out", "q.zip"]) == 1
    assert "older copy of the database" in " ".join(capsys.readouterr().err.split())
    assert not (workdir / "q.zip").exists()

    # without what this machine remembered, the journal alone cannot tell
    (workdir / HEADS).unlink()
    assert verify(capsys)[0] == 0


def test_a_new_database_in_the_same_state_directory_is_a_new_journal(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.integration.test_evidence_chain import write_definitions

    write_definitions(workdir)
    run_drill(workdir)
    for f in (workdir / ".drill").glob("evidence.db*"):
        f.unlink()
    run_drill(workdir)
    assert verify(capsys)[0] == 0
    assert len(json.loads((workdir / HEADS).read_text())) == 2


def test_a_state_directory_that_cannot_be_written_fails_no_write(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from orchestrator.evidence.enums import utcnow
    from orchestrator.evidence.records import Finding
    from orchestrator.evidence.writer import EvidenceDB

    blocker = workdir / "not-a-dir"
    blocker.write_text("")
    store = EvidenceDB.open(f"sqlite:///{workdir}/e.db", blocker / "journal-heads.json")
    try:
        store.write(Finding(kind="manual", title="kept", created_at=utcnow()))
        assert [f.title for f in store.records(Finding)] == ["kept"]
    finally:
        store.close()


def test_a_dropped_journal_is_a_break_not_an_internal_error(
    db: str,  # noqa: F811
    workdir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    run_drill(workdir)
    with _sql(db) as conn:
        conn.execute(sa.text("DROP TABLE journal"))
    code, text = verify(capsys)
    assert code == 1 and "the table is missing" in text and "internal error" not in text, text


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (lambda p: p.write_bytes(b"garbage\x00\xff"), "is not text"),
        (lambda p: p.write_text("{not json"), "is not JSON"),
        (lambda p: p.write_text("[1, 2]"), "is not drill's record of journal heads"),
        (lambda p: (p.unlink(), p.mkdir()), "cannot be read (Is a directory)"),
        # a link to /dev/zero: read until memory ran out (verify and every run failed)
        (lambda p: (p.unlink(), p.symlink_to("/dev/zero")), "cannot be read (not a regular"),
    ],
    ids=["binary", "not-json", "not-an-object", "a-directory", "a-device"],
)
def test_a_damaged_witness_is_named_and_never_written_over(
    workdir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    damage: Any,
    problem: str,
) -> None:
    """A damaged journal-heads.json was taken for none: verify said OK with the tail
    check silently skipped, and the next write replaced the file (what it held, lost).
    Now verify and export name it (exit 0: the chain verifies), --json says
    ``witness.tail_checked: false``, and writers leave it as it is."""
    from tests.integration.test_evidence_chain import write_definitions

    monkeypatch.setenv("DRILL_DATABASE", f"sqlite:///{workdir}/.drill/evidence.db")
    write_definitions(workdir)
    run_drill(workdir)
    heads = workdir / HEADS
    damage(heads)
    kept = heads.read_bytes() if heads.is_file() else None

    code, text = verify(capsys)
    said = " ".join(text.split())
    assert code == 0, text
    assert f"drill: warning: {heads} {problem}" in said, text
    assert "no events were cut from the end of the journal could not be made" in said, text
    assert main(["evidence", "verify", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is True and doc["witness"]["tail_checked"] is False, doc
    assert doc["witness"]["path"] == str(heads) and problem in doc["witness"]["problem"]
    assert main(["evidence", "export", "--period", "2026-Q4", "--out", "q.zip", "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["witness"]["tail_checked"] is False
    assert str(heads) in " ".join(captured.err.split())

    run_drill(workdir)  # a writer leaves the damaged file as it found it
    assert (heads.read_bytes() if heads.is_file() else None) == kept and heads.exists()

    if heads.is_dir() and not heads.is_symlink():
        heads.rmdir()
    else:
        heads.unlink()
    code, text = verify(capsys)  # the next verify records the head anew
    assert code == 0 and "warning" not in text, text
    assert len(json.loads(heads.read_text())) == 1
    damage(heads)  # and with the database gone too, "nothing recorded there" is not said
    for f in (workdir / ".drill").glob("evidence.db*"):
        f.unlink()
    code, text = verify(capsys)
    assert code == 2 and "cannot be told" in text and "nothing has been recorded" not in text
