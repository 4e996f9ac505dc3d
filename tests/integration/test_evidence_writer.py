"""The one evidence writer (DB-API): rows another connection reads back as written,
journal events that hold exactly what the tables hold, a unique constraint that refuses
a second claim without a trace, on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator.errors import RecordImmutable
from orchestrator.evidence import journal
from orchestrator.evidence.enums import utcnow
from orchestrator.evidence.records import Artifact, Run, StepRun, TimelineEvent
from orchestrator.evidence.verify import verify_db
from orchestrator.evidence.writer import EvidenceDB


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/evidence.db"
    return str(request.getfixturevalue("pg_dsn"))


def _run(run_id: str = "r-1") -> Run:
    return Run(
        id=run_id,
        target="t",
        target_kind="experiment",
        env="lab",
        who="me",
        host="h",
        pid=1,
        started_at=utcnow(),
        definition_hashes={"a.yaml": "ab"},
    )


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.text(max_size=20)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
texts = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=30
)


def test_schema_is_created_and_rows_read_back_by_another_connection(url: str) -> None:
    db = EvidenceDB.open(url)  # a new database: migrated on open
    run = _run()
    db.write(run)
    step = StepRun(
        run_id=run.id,
        seq=1,
        name="probe é",
        kind="probe",
        args={"x": [1, 2.5]},
        started_at=utcnow(),
    )
    db.write(step)
    step.status, step.output, step.ended_at = "succeeded", {"ok": True}, utcnow()
    db.write(
        step,
        TimelineEvent(run_id=run.id, at=utcnow(), kind="k", message="m"),
        Artifact(run_id=run.id, name="j", sha256="x", size=3, content=b"abc", created_at=utcnow()),
    )
    other = EvidenceDB(url)
    try:
        back = other.get(StepRun, step.id)
        assert (back.name, back.args, back.output, back.status) == (
            "probe é",
            {"x": [1, 2.5]},
            {"ok": True},
            "succeeded",
        )
        assert back.ended_at == step.ended_at and back.ended_at.tzinfo is not None
        back_run = other.get(Run, run.id)
        assert back_run.abort_requested is False
        assert back_run.definition_hashes == {"a.yaml": "ab"}
        report = verify_db(db)
        assert report.ok, report.first and report.first.describe()
        assert report.events == 5 and report.records == 4
    finally:
        other.close()
        db.close()


def test_a_second_claim_of_a_fire_is_refused_without_a_trace(url: str) -> None:
    from orchestrator.schedule.records import ScheduleFire

    at = datetime(2030, 1, 7, 9, tzinfo=UTC)

    def claim(who: str) -> ScheduleFire:
        return ScheduleFire(
            schedule_id="s-1", target="t", env="lab", scheduled_at=at, claimed_at=at, claimed_by=who
        )

    first, other = EvidenceDB.open(url), EvidenceDB(url)
    try:
        first.write(claim("a"))
        events = first.query("SELECT COUNT(*) FROM journal")[0][0]
        lost = claim("b")
        with pytest.raises(other.IntegrityError):
            other.write(lost)
        assert lost.id is None and not lost._stored
        assert first.query("SELECT COUNT(*) FROM journal")[0][0] == events
        assert [f.claimed_by for f in other.records(ScheduleFire)] == ["a"]
        other.write(
            claim("b").__class__(
                schedule_id="s-1",
                target="t",
                env="lab",
                scheduled_at=at + timedelta(hours=1),
                claimed_at=at,
                claimed_by="b",
            )
        )  # still usable
        assert verify_db(first).ok
    finally:
        first.close()
        other.close()


def test_only_changed_columns_are_written_and_unchanged_saves_are_not_journaled(url: str) -> None:
    db = EvidenceDB.open(url)
    run = _run()
    db.write(run)
    other = EvidenceDB(url)  # `drill abort` in another process
    seen = other.get(Run, run.id)
    seen.abort_requested = True
    other.write(seen)
    db.write(run)  # nothing changed in this copy: no write, no entry
    run.status, run.ended_at = "aborted", utcnow()
    db.write(run)  # must not reset abort_requested
    assert db.get(Run, run.id).abort_requested is True
    kinds = [
        journal.keys(bytes(r[0]))[0].decode()
        for r in db.query("SELECT event FROM journal ORDER BY seq")
    ]
    assert kinds == ["run.insert", "run.update", "run.update"]
    assert verify_db(db).ok
    other.close()
    db.close()


def test_evidence_of_an_ended_run_is_immutable(url: str) -> None:
    db = EvidenceDB.open(url)
    run = _run()
    db.write(run)
    step = StepRun(run_id=run.id, seq=1, name="s", kind="probe")
    db.write(step)
    run.ended_at = utcnow()
    db.write(run)
    step.status = "failed"
    with pytest.raises(RecordImmutable):
        db.write(step)
    assert db.get(StepRun, step.id).status == "pending"  # the transaction rolled back
    db.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_events_hold_what_the_tables_hold_for_any_values(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = (
        f"sqlite:///{tmp_path}/evidence.db"
        if backend == "sqlite"
        else str(request.getfixturevalue("pg_dsn"))
    )
    db = EvidenceDB.open(url)
    db.write(_run())
    base = datetime(2026, 1, 1, tzinfo=UTC)

    @settings(
        max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(
        name=texts,
        output=json_values,
        error=st.none() | texts,
        attempts=st.integers(0, 2**31 - 1),
        micros=st.integers(0, 10**12),
        args=st.dictionaries(texts, json_values, max_size=3),
    )
    def check(
        name: str, output: Any, error: str | None, attempts: int, micros: int, args: dict[str, Any]
    ) -> None:
        at = base + timedelta(microseconds=micros)
        step = StepRun(
            run_id="r-1",
            seq=1,
            name=name,
            kind="probe",
            args=args,
            output=output,
            error=error,
            attempts=attempts,
            started_at=at,
        )
        db.write(step)
        ev = db.query("SELECT event FROM journal ORDER BY seq DESC LIMIT 1")[0][0]
        data = json.loads(journal.data_of(bytes(ev)) or b"null")
        assert (data["name"], data["output"], data["attempts"]) == (
            step.name,
            step.output,
            attempts,
        )
        assert data["started_at"] == at.strftime(journal.DATA_TS)

    check()
    report = verify_db(db)
    db.close()
    assert report.ok, report.first and report.first.describe()


def test_non_finite_floats_round_trip(tmp_path: Path) -> None:
    db = EvidenceDB.open(f"sqlite:///{tmp_path}/e.db")
    db.write(_run())
    from orchestrator.evidence.records import Measurement

    m = Measurement(run_id="r-1", name="rto", value=math.inf, method="probe")
    db.write(m)
    assert db.get(Measurement, m.id).value == math.inf
    assert verify_db(db).ok


def test_unreachable_database_is_a_clear_error(tmp_path: Path) -> None:
    from orchestrator.errors import StoreUnavailable

    with pytest.raises(StoreUnavailable, match="unreachable"):
        EvidenceDB.open("postgresql+psycopg://u:secret@127.0.0.1:1/none")
    bad = tmp_path / "file"
    bad.write_text("x")
    with pytest.raises(StoreUnavailable):
        EvidenceDB.open(f"sqlite:///{bad}/sub/e.db")
