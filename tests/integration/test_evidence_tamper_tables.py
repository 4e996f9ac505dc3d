"""Outside-in: rows inserted into and deleted from *every* journaled table behind drill's
back (and an event appended to the journal), on SQLite and a real PostgreSQL server.
`drill evidence verify --json` exits 1 with one document whose break names the record
(and, for a deleted row, the event: seq, kind, run); undone, it verifies again."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from orchestrator.evidence.writer import EvidenceDB
from tests.clihelp import drill_out
from tests.integration.test_evidence_chain import write_definitions


@pytest.fixture
def db(evidence_url: str, workdir: Path) -> Iterator[EvidenceDB]:
    write_definitions(workdir)
    (workdir / "drill.yaml").write_text("environments:\n  lab: {provider: lab, protected: true}\n")
    assert drill_out("run", "mini", "--env", "lab", "--yes")[0] == 1  # approved; one deviates
    for args in (  # rows in the schedule's tables too
        ["schedule", "add", "mini", "--env", "lab", "--every", "1h", "--var", "k=v", "--yes"],
        ["gameday", "create", "--date", "2030-03-01T10:00", "--drills", "mini", "--yes"],
    ):
        assert drill_out(*args)[0] == 0, args
    evidence = EvidenceDB(evidence_url)
    yield evidence
    evidence.close()


def _verify() -> tuple[int, dict[str, Any]]:
    code, out = drill_out("evidence", "verify", "--json")
    return code, json.loads(out)


def _sql(db: EvidenceDB, sql: str, *params: Any) -> list[Any]:
    """One statement in its own transaction, behind drill's back (``?`` placeholders)."""
    conn = db.connect()
    try:
        if db.is_postgres:
            from psycopg.types.json import Json

            sql = sql.replace("?", "%s")
            params = tuple(Json(p) if isinstance(p, dict | list) else p for p in params)
        cur = conn.execute(sql, params)
        rows = list(cur.fetchall()) if cur.description else []
        conn.commit()
        return rows
    finally:
        conn.close()


def _tables(db: EvidenceDB) -> list[tuple[str, str, list[str], list[str]]]:
    """(table, primary key, columns, their types) of every journaled table with rows."""
    from orchestrator.evidence.records import projections

    out = []
    for spec in projections():
        if _sql(db, f"SELECT COUNT(*) FROM {spec.name}")[0][0]:
            out.append((spec.name, spec.pk, spec.names, list(spec.types)))
    return out


def _as_stored(db: EvidenceDB, types: list[str], row: Any) -> list[Any]:
    """A row read back, ready to be written again: a JSON column's value as JSON."""
    if not db.is_postgres:
        return list(row)
    from psycopg.types.json import Json

    return [
        Json(v) if t == "json" and v is not None else v for t, v in zip(types, row, strict=True)
    ]


def _fresh(value: Any) -> Any:
    return value + 100_000 if isinstance(value, int) else f"{value}-forged"


def test_a_row_added_or_removed_in_any_table_is_named(db: EvidenceDB) -> None:
    assert _verify()[0] == 0
    tables = _tables(db)
    assert {"run", "step_run", "finding", "approval", "environment", "schedule", "gameday"} <= {
        t for t, *_ in tables
    }
    kept_by_keys: list[str] = []
    for table, pk, cols, types in tables:
        quoted = ", ".join(f'"{c}"' for c in cols)
        row = _as_stored(
            db, types, _sql(db, f"SELECT {quoted} FROM {table} ORDER BY {pk} LIMIT 1")[0]
        )
        key = row[cols.index(pk)]

        # INSERT: a copy of the row under a new key has no event
        unique = {pk, "name"} if table == "environment" else {pk}  # its name is unique too
        forged = [_fresh(v) if c in unique else v for c, v in zip(cols, row, strict=True)]
        marks = ", ".join("?" * len(cols))
        _sql(db, f"INSERT INTO {table} ({quoted}) VALUES ({marks})", *forged)
        code, doc = _verify()
        first = doc["first_break"]
        assert code == 1 and not doc["ok"], table
        assert first["record"] == f"{table} {_fresh(key)}" and "no event" in first["detail"], doc
        _sql(db, f"DELETE FROM {table} WHERE {pk} = ?", _fresh(key))
        assert _verify()[0] == 0, table

        # DELETE: the record's newest event names the seq, kind and run (a row other
        # rows reference is kept by its foreign keys: the row last written is tried)
        (newest,) = _sql(db, f"SELECT {pk} FROM {table} ORDER BY {pk} DESC LIMIT 1")
        key = newest[0]
        row = _as_stored(
            db, types, _sql(db, f"SELECT {quoted} FROM {table} WHERE {pk} = ?", key)[0]
        )
        try:
            _sql(db, f"DELETE FROM {table} WHERE {pk} = ?", key)
        except db.IntegrityError:
            kept_by_keys.append(table)
            continue
        code, doc = _verify()
        assert code == 1, table
        gone = [b for b in doc["breaks"] if b["record"] == f"{table} {key}"]
        assert gone and "deleted" in gone[0]["detail"], doc
        assert gone[0]["seq"] > 0 and gone[0]["kind"].startswith(f"{table}."), gone
        _sql(db, f"INSERT INTO {table} ({quoted}) VALUES ({marks})", *row)
        assert _verify()[0] == 0, table
    assert set(kept_by_keys) <= {"run", "scenario_run", "schedule"}, kept_by_keys


def test_an_event_appended_to_the_journal_is_named(db: EvidenceDB) -> None:
    (head,) = _sql(db, "SELECT MAX(seq) FROM journal")
    seq = head[0] + 1
    _sql(
        db,
        "INSERT INTO journal (seq, prev, hash, event) VALUES (?, ?, ?, ?)",
        seq,
        "0" * 64,
        "f" * 64,
        b'{"kind":"run.update"}',
    )
    code, doc = _verify()
    assert code == 1 and doc["first_break"]["seq"] == seq, doc
    _sql(db, "DELETE FROM journal WHERE seq = ?", seq)
    assert _verify()[0] == 0
