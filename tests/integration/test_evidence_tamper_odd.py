"""Tampering an auditor tries after the obvious (changed, deleted, inserted rows): values
SQLite stores but cannot give back as the text its column promises, a dropped table that
held nothing yet, the whole database emptied, and the journal rewritten from its very
first event. Each is a break `drill evidence verify --json` names (exit 1, one JSON
document), never an internal error, never "OK"."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from orchestrator.evidence.records import projections
from tests.clihelp import drill, drill_out
from tests.integration.test_evidence_chain import db, run_drill  # noqa: F401  (db: a fixture)
from tests.integration.test_evidence_witness import _sql


def _verify() -> tuple[int, dict[str, Any]]:
    code, out = drill_out("evidence", "verify", "--json")
    return code, json.loads(out)


def _sqlite(workdir: Path) -> str:
    return f"sqlite:///{workdir}/.drill/evidence.db"


@pytest.fixture
def store(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A SQLite store holding one real run (and its finding); verified once."""
    from tests.integration.test_evidence_chain import write_definitions

    url = _sqlite(workdir)
    monkeypatch.setenv("DRILL_DATABASE", url)
    write_definitions(workdir)
    run_drill(workdir)
    assert _verify()[0] == 0
    return url


@pytest.mark.parametrize(
    ("table", "column", "value"),
    [
        ("run", "who", "CAST(X'FF41' AS TEXT)"),  # not UTF-8, in a text column
        ("step_run", "output", "CAST(X'7BFF7D' AS TEXT)"),  # not UTF-8, in a JSON column
        ("artifact", "content", "X'00' || content"),  # `||` makes a blob text
        ("artifact", "content", "CAST(X'FF' || content AS TEXT)"),
    ],
)
def test_text_sqlite_cannot_decode_is_a_break_naming_the_record(
    store: str, table: str, column: str, value: str
) -> None:
    with _sql(store) as conn:
        conn.execute(
            sa.text(
                f"UPDATE {table} SET {column} = {value} "
                f"WHERE rowid = (SELECT MIN(rowid) FROM {table})"
            )
        )
    code, doc = _verify()
    assert code == 1 and not doc["ok"], doc
    first = doc["first_break"]
    assert first["record"].startswith(f"{table} ") and first["seq"] and first["run"], first
    assert column in first["detail"] and "changed after it was journaled" in first["detail"]


def test_an_event_sqlite_cannot_decode_is_a_break_naming_it(store: str) -> None:
    with _sql(store) as conn:
        conn.execute(
            sa.text("UPDATE journal SET event = CAST(X'FF' || event AS TEXT) WHERE seq = 5")
        )
    code, doc = _verify()
    assert code == 1 and doc["first_break"]["seq"] == 5, doc
    assert "hash does not recompute" in doc["first_break"]["detail"]


def test_an_artifact_stored_as_text_with_the_same_bytes_still_exports(
    store: str, workdir: Path
) -> None:
    """Same bytes, another storage class: nothing changed an auditor could see."""
    with _sql(store) as conn:
        conn.execute(sa.text("UPDATE artifact SET content = CAST(content AS TEXT)"))
    assert _verify()[0] == 0
    code, _ = drill_out("evidence", "export", "--period", "2026-Q4", "--out", "q.zip")
    assert code == 0 and (workdir / "q.zip").exists()


@pytest.mark.parametrize("table", ["approval", "schedule_fire"])
def test_a_dropped_table_is_a_break_even_when_it_held_nothing(
    db: str,  # noqa: F811
    workdir: Path,
    table: str,
) -> None:
    run_drill(workdir)
    assert _verify()[0] == 0
    with _sql(db) as conn:
        assert conn.execute(sa.text(f"SELECT COUNT(*) FROM {table}")).scalar() == 0
        conn.execute(sa.text(f"DROP TABLE {table}"))
    code, doc = _verify()
    assert code == 1, doc
    assert {"record": table, "detail": "the table is missing"}.items() <= doc["first_break"].items()


def _empty(conn: sa.Connection) -> None:
    """Every event and every row deleted."""
    tables = ["journal", *(p.name for p in projections())]
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text(f"TRUNCATE {', '.join(tables)} CASCADE"))
        return
    for table in tables:  # SQLite does not enforce the foreign keys on this connection
        conn.execute(sa.text(f"DELETE FROM {table}"))


def test_an_emptied_database_is_a_break(db: str, workdir: Path) -> None:  # noqa: F811
    """Every event and every row deleted: the journal chains (it is empty) and agrees
    with its tables, but drill saw a journal there."""
    run_drill(workdir)
    assert _verify()[0] == 0
    with _sql(db) as conn:
        _empty(conn)
    code, doc = _verify()
    assert code == 1, doc
    detail = " ".join(doc["first_break"]["detail"].split())
    assert "emptied, replaced" in detail and "journal-heads.json" in detail, detail
    code, _ = drill_out("evidence", "export", "--period", "2026-Q4", "--out", "q.zip")
    assert code == 1 and not (workdir / "q.zip").exists()


def _rechain(conn: sa.Connection, first_event: bytes) -> None:
    """Replace event #1 and recompute every hash after it: a journal that chains."""
    rows = conn.execute(sa.text("SELECT seq, event FROM journal ORDER BY seq")).all()
    prev = "0" * 64
    for seq, ev in rows:
        ev = first_event if seq == 1 else bytes(ev)
        digest = hashlib.sha256(prev.encode() + b"\n" + ev).hexdigest()
        conn.execute(
            sa.text("UPDATE journal SET prev = :p, hash = :h, event = :e WHERE seq = :s"),
            {"p": prev, "h": digest, "e": ev, "s": seq},
        )
        prev = digest


def test_a_journal_rewritten_from_its_first_event_is_a_break(
    db: str,  # noqa: F811
    workdir: Path,
) -> None:
    """Changing event #1 and recomputing every hash after it makes a journal that chains
    and agrees with its tables; the head drill remembered is gone from it."""
    run_drill(workdir)
    assert _verify()[0] == 0
    with _sql(db) as conn:
        first = bytes(conn.execute(sa.text("SELECT event FROM journal WHERE seq = 1")).scalar_one())
        forged = first.replace(b'"at":"2', b'"at":"1', 1)
        assert forged != first
        _rechain(conn, forged)
    code, doc = _verify()
    assert code == 1, doc
    assert "journal-heads.json" in doc["first_break"]["detail"]


def test_a_new_database_made_by_drill_is_a_new_journal_there(
    db: str,  # noqa: F811
    workdir: Path,
) -> None:
    """Emptied behind drill's back and then written by drill again: what drill wrote
    itself is the journal it remembers there from then on (the lost one was reported
    until then)."""
    run_drill(workdir)
    with _sql(db) as conn:
        _empty(conn)
    assert _verify()[0] == 1
    run_drill(workdir)
    assert _verify()[0] == 0


@pytest.mark.parametrize(
    ("was", "now"),
    [("true", "1"), ("false", "0"), ("true", "1.0")],
)
def test_a_json_value_of_another_type_is_a_break_though_python_calls_them_equal(
    db: str,  # noqa: F811
    workdir: Path,
    was: str,
    now: str,
) -> None:
    """`true` → `1`, `false` → `0`, `true` → `1.0` in a JSON column: Python's == calls
    each pair equal; an auditor reading the table sees another value than the event's."""
    run_drill(workdir)
    with _sql(db) as conn:
        text = "CAST(output AS TEXT)" if conn.dialect.name == "sqlite" else "output::text"
        json_of = "" if conn.dialect.name == "sqlite" else "::json"
        rows = conn.execute(sa.text(f"SELECT id, {text} FROM step_run")).all()
        # a probe's output (the experiments' probes answer true and false)
        pk, old = next((pk, out) for pk, out in rows if out is not None and was in out)
        new = old.replace(was, now, 1)
        conn.execute(
            sa.text(f"UPDATE step_run SET output = CAST(:v AS TEXT){json_of} WHERE id = :id"),
            {"v": new, "id": pk},
        )
    code, doc = _verify()
    assert code == 1, (old, new, doc)
    assert (
        doc["first_break"]["record"] == f"step_run {pk}"
        and "output" in doc["first_break"]["detail"]
    )


class _WritesMeanwhile:
    """A DB-API connection that, when verify first reads the ``finding`` table (the
    journal pass done), lets a drill elsewhere commit a new finding: what a scheduled
    drill running during `drill evidence verify` does."""

    def __init__(self, conn: Any, write: Any) -> None:
        self._conn, self._write = conn, write

    def _before(self, sql: str) -> None:
        if self._write is not None and 'FROM "finding"' in sql:
            write, self._write = self._write, None
            write()

    def execute(self, sql: str, *args: Any) -> Any:
        self._before(sql)
        return self._conn.execute(sql, *args)

    def cursor(self, *args: Any, **kwargs: Any) -> Any:
        cur = self._conn.cursor(*args, **kwargs)
        outer = self

        class _Cursor:
            def execute(self, sql: str, *a: Any) -> Any:
                outer._before(sql)
                return cur.execute(sql, *a)

            def __getattr__(self, name: str) -> Any:
                return getattr(cur, name)

        return _Cursor()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


def test_a_drill_writing_during_verify_is_no_break(
    db: str,  # noqa: F811
    workdir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """verify reads the journal, then the tables: a record committed in between (with its
    event) was reported "written outside drill" — a false alarm on every verify that
    overlapped a running drill. One read snapshot for the whole check."""
    from orchestrator.evidence.enums import utcnow
    from orchestrator.evidence.records import Finding
    from orchestrator.evidence.writer import EvidenceDB

    run_drill(workdir)
    connect = EvidenceDB.connect

    def write() -> None:
        other = EvidenceDB(db)
        other._conn = connect(other)  # the drill's own connection, not the wrapper
        try:
            other.write(Finding(kind="manual", title="raised meanwhile", created_at=utcnow()))
        finally:
            other.close()

    with pytest.MonkeyPatch.context() as patch:  # (monkeypatch.undo() also undid the
        # workdir and the database: the check below verified a new, empty store elsewhere)
        patch.setattr(EvidenceDB, "connect", lambda self: _WritesMeanwhile(connect(self), write))
        code, doc = _verify()
    assert code == 0 and doc["ok"], doc
    code, doc = _verify()  # and the finding, now in both, verifies
    assert code == 0 and doc["events"] > 0, doc


@pytest.mark.parametrize(
    ("table", "column"), [("journal", "prev"), ("step_run", "output"), ("run", "error")]
)
def test_a_dropped_column_is_a_break_naming_it_first(
    db: str,  # noqa: F811
    workdir: Path,
    table: str,
    column: str,
) -> None:
    """A column dropped behind drill's back: reading the table failed (internal error),
    or on SQLite read the column's quoted name as a string. The break says which column
    of which table, before the records it takes with it; the export refuses."""
    run_drill(workdir)
    with _sql(db) as conn:
        conn.execute(sa.text(f"ALTER TABLE {table} DROP COLUMN {column}"))
    code, doc = _verify()
    assert code == 1, doc
    assert doc["first_break"]["record"] == table, doc["first_break"]
    assert doc["first_break"]["detail"] == f"the table has no column {column}"
    # its records follow, rows that are there, not rows 'deleted'
    rest = doc["breaks"][1:]
    assert all(b["record"].startswith(f"{table} ") for b in rest) and (table == "journal") != bool(
        rest
    ), rest
    assert {b["detail"] for b in rest} <= {
        f"its row could not be read: the table has no column {column}"
    }, rest
    code, _ = drill_out("evidence", "export", "--period", "2026-Q4", "--out", "q.zip")
    assert code == 1 and not (workdir / "q.zip").exists()


@pytest.mark.postgres
def test_a_column_of_another_type_stops_the_export_as_tampered(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    """`run.started_at` made text behind drill's back (PostgreSQL): verify names the run;
    the export, which selects the period's runs by it first, failed with an internal error
    (operator does not exist: text >= timestamp) — now it refuses as tampered."""
    from tests.integration.test_evidence_chain import write_definitions

    url = str(request.getfixturevalue("pg_dsn"))
    monkeypatch.setenv("DRILL_DATABASE", url)
    write_definitions(workdir)
    run_drill(workdir)
    with _sql(url) as conn:
        conn.execute(sa.text("ALTER TABLE run ALTER COLUMN started_at TYPE text"))
    code, doc = _verify()
    assert code == 1 and doc["first_break"]["record"].startswith("run r-"), doc
    assert "started_at" in doc["first_break"]["detail"]
    import io
    from contextlib import redirect_stderr

    err = io.StringIO()
    with redirect_stderr(err):
        code, _ = drill_out("evidence", "export", "--period", "2026-Q4", "--out", "q.zip")
    assert code == 1 and not (workdir / "q.zip").exists()
    assert "internal error" not in err.getvalue() and "changed outside drill" in err.getvalue()


@pytest.mark.parametrize("seq", [0, -5])
def test_an_event_numbered_below_one_is_a_break(
    db: str,  # noqa: F811
    workdir: Path,
    seq: int,
) -> None:
    """Events are numbered 1, 2, …: a row inserted at #0 or below was outside every
    pass over the journal, and verify said OK."""
    run_drill(workdir)
    with _sql(db) as conn:
        conn.execute(
            sa.text("INSERT INTO journal (seq, prev, hash, event) VALUES (:s, :p, :h, :e)"),
            {"s": seq, "p": "0" * 64, "h": "0" * 64, "e": b'{"kind":"run.insert"}'},
        )
    code, doc = _verify()
    assert code == 1, doc
    assert doc["first_break"]["seq"] == seq and "below #1" in doc["first_break"]["detail"]


def _lines(code: int, err: str) -> list[str]:
    assert code == 1, err
    return [line for line in err.splitlines() if not line.lstrip().startswith("hint:")]


def test_a_changed_hash_is_one_break_at_its_event(
    db: str,  # noqa: F811
    workdir: Path,
) -> None:
    """Only the stored hash of an event changed: the event after it still names what that
    event hashes to. verify also reported that next event, 'it names 9475e4fdae29c914… as
    the event before it, but event #5 hashes to 9475e4fdae29c914…' — the same digits
    twice, an accusation of an event nobody touched."""
    run_drill(workdir)
    with _sql(db) as conn:
        digest = conn.execute(sa.text("SELECT hash FROM journal WHERE seq = 5")).scalar_one()
        conn.execute(
            sa.text("UPDATE journal SET hash = :h WHERE seq = 5"),
            {"h": digest[:-1] + ("0" if digest[-1] != "0" else "1")},
        )
    code, doc = _verify()
    assert code == 1, doc
    assert [(b["seq"], b["detail"]) for b in doc["breaks"]] == [
        (5, "its bytes or its hash were changed (the hash does not recompute)")
    ]


def test_a_changed_prev_shows_two_hashes_that_differ(
    db: str,  # noqa: F811
    workdir: Path,
) -> None:
    """An event's `prev` changed past its 16th digit: the break showed the 16 first digits
    of both hashes, which were the same."""
    run_drill(workdir)
    with _sql(db) as conn:
        prev = conn.execute(sa.text("SELECT prev FROM journal WHERE seq = 5")).scalar_one()
        forged = prev[:40] + ("0" if prev[40] != "0" else "1") + prev[41:]
        conn.execute(sa.text("UPDATE journal SET prev = :p WHERE seq = 5"), {"p": forged})
    code, doc = _verify()
    assert code == 1, doc
    detail = doc["first_break"]["detail"]
    named, _, rest = detail.removeprefix("it names ").partition(" as the event before it")
    shown = rest.split("the hash of event #4 is ")[1].split(" ")[0]
    assert named == forged[:41] + "…" and shown == prev[:41] + "…", detail


def test_an_event_not_drills_is_named_by_its_number(
    db: str,  # noqa: F811
    workdir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """An event appended whose bytes are not an event drill writes: the CLI said
    'evidence journal broken at ? ? (event #N, ?)'."""
    run_drill(workdir)
    with _sql(db) as conn:
        head, digest = conn.execute(
            sa.text("SELECT seq, hash FROM journal ORDER BY seq DESC LIMIT 1")
        ).one()
        conn.execute(
            sa.text("INSERT INTO journal (seq, prev, hash, event) VALUES (:s, :p, :h, :e)"),
            {"s": head + 1, "p": digest, "h": "0" * 64, "e": b'{"kind":"run.update"}'},
        )
    result = drill(capsys, "evidence", "verify")
    first = _lines(result.code, result.err)[0]
    assert first == (
        f"drill: error: evidence journal broken at event #{head + 1}: "
        "its bytes or its hash were changed (the hash does not recompute)"
    ), result.err
    _, doc = _verify()
    assert doc["first_break"]["record"] == f"event #{head + 1}", doc


def test_a_head_given_in_capitals_or_mistyped_is_not_tampering(
    store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--head SEQ:HASH` copied from a bundle: the same hash in capitals was 'evidence
    journal broken … the database was changed outside drill' (exit 1, a false alarm), a
    hash that is not hex too, and a number '²' (a digit to Python) an internal error. The
    first verifies; the others are usage errors (exit 2) saying what --head takes."""
    _, doc = _verify()
    seq, digest = doc["head"]["seq"], doc["head"]["hash"]
    result = drill(capsys, "evidence", "verify", "--head", f"{seq}:{digest.upper()}")
    assert result.code == 0 and "evidence journal OK" in result.out, result.err
    for bad in (f"{seq}:{'z' * 64}", f"²:{digest}", f"{seq}:{digest[:-1]}"):
        result = drill(capsys, "evidence", "verify", "--head", bad)
        assert result.code == 2, (bad, result.err)
        assert result.err.startswith(f"drill: error: --head {bad!r} is not SEQ:HASH"), result.err
    # a head that is not there says what that can mean, beyond 'events removed'
    result = drill(capsys, "evidence", "verify", "--head", f"{seq}:{'0' * 64}")
    assert result.code == 1, result.err
    assert "this is not the database that export was made from" in " ".join(result.err.split())


@pytest.mark.parametrize(
    ("column", "value", "shown"),
    [
        ("output", "'x'", "output is 'x' (not JSON) in the table"),
        ("output", "'{\"ok\": tru'", "output is '{\"ok\": tru' (not JSON) in the table"),
    ],
)
def test_a_value_its_column_cannot_hold_is_shown_as_it_is(
    store: str, column: str, value: str, shown: str
) -> None:
    """A step's JSON output set to plain text behind drill's back read "output is
    ['not JSON', 'x'] in the table" — the reader's marker, not the value."""
    with _sql(store) as conn:
        conn.execute(
            sa.text(
                f"UPDATE step_run SET {column} = {value} WHERE id = (SELECT MIN(id) FROM step_run)"
            )
        )
    code, doc = _verify()
    assert code == 1 and doc["first_break"]["detail"].startswith(
        f"changed after it was journaled: {shown}, "
    ), doc["first_break"]
