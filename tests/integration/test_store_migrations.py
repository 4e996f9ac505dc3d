"""The migrations give a new store (SQLite and a real PostgreSQL) exactly the schema it
had before 0001-0004 were folded into one baseline, and a store stamped with a revision
drill no longer ships is refused with what to do (exit 2, one error line), never a
traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from orchestrator.cli import main
from orchestrator.errors import StoreUnavailable
from orchestrator.evidence.store import SQUASHED, EvidenceStore, schema_heads
from orchestrator.evidence.writer import EvidenceDB
from tests.schemadump import SNAPSHOTS, snapshot


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/evidence.db"
    return str(request.getfixturevalue("pg_dsn"))


def test_a_new_store_has_the_schema_it_had_before_the_baseline(url: str) -> None:
    """The snapshots were taken of new stores made by 0001-0007 (before 0001-0004 became
    one baseline); tests/schemadump.py says how to regenerate them after a new revision."""
    dialect = url.split(":", 1)[0].split("+", 1)[0]
    expected = json.loads((SNAPSHOTS / f"{dialect}.json").read_text())
    assert snapshot(url) == expected
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            revisions = {
                r[0] for r in conn.execute(sa.text("SELECT version_num FROM alembic_version"))
            }
        assert revisions == schema_heads()
    finally:
        engine.dispose()


def _stamp(url: str, revision: str) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)"
                )
            )
            conn.execute(sa.text("INSERT INTO alembic_version VALUES (:r)"), {"r": revision})
    finally:
        engine.dispose()


@pytest.mark.parametrize("revision", sorted(SQUASHED))
def test_a_store_at_a_squashed_revision_is_refused_with_what_to_do(
    url: str,
    revision: str,
    workdir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _stamp(url, revision)
    with pytest.raises(StoreUnavailable, match=f"at schema revision {revision}, a development"):
        EvidenceStore(url)
    with pytest.raises(StoreUnavailable, match=revision) as refused:
        EvidenceDB.open(url)
    assert "the drill that wrote it" in (refused.value.hint or "")
    monkeypatch.setenv("DRILL_DATABASE", url)
    capsys.readouterr()
    assert main(["evidence", "verify"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("drill: error: evidence database ") and revision in err
    assert "Traceback" not in err and len(err.splitlines()) == 2  # the error and its hint


def test_a_store_from_a_newer_drill_is_refused(url: str) -> None:
    _stamp(url, "0099_future")
    with pytest.raises(StoreUnavailable, match="0099_future, which this drill does not know"):
        EvidenceStore(url)


def test_a_store_made_before_the_fold_of_0005_0007_is_restamped(url: str) -> None:
    """A store the development code stamped with its two heads has the schema of
    0005_event_journal (no index of environment events yet): it opens, is stamped with that
    and upgraded from there, and keeps its evidence."""
    from orchestrator.evidence.enums import utcnow
    from orchestrator.evidence.records import Finding
    from orchestrator.evidence.store import FOLDED_HEADS
    from orchestrator.evidence.verify import verify_db

    EvidenceStore(url).dispose()
    db = EvidenceDB.open(url)
    db.write(Finding(kind="manual", title="kept", created_at=utcnow()))
    db.close()
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("DROP INDEX ix_journal_environment"))  # made by 0006
            conn.execute(sa.text("DELETE FROM alembic_version"))
            for rev in sorted(FOLDED_HEADS):
                conn.execute(sa.text("INSERT INTO alembic_version VALUES (:r)"), {"r": rev})
    finally:
        engine.dispose()
    db = EvidenceDB.open(url)
    try:
        assert db._revisions() == schema_heads() == {"0007_plain_jobs"}
        assert [f.title for f in db.records(Finding)] == ["kept"]
        assert verify_db(db).ok
    finally:
        db.close()
