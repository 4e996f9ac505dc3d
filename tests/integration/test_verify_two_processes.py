"""`drill evidence verify` checks a large journal in two processes (a forked child
recomputes the chain and checks some tables, the parent checks the others). Whatever is
tampered with, the two-process verify must report exactly what the one-process verify
reports: same breaks in the same order, same counts, same head — on SQLite and on a
real PostgreSQL server, with the child checking tables and with the child only
recomputing the chain."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from orchestrator.evidence import verify as verify_mod
from orchestrator.evidence.writer import EvidenceDB
from tests.integration.test_evidence_chain import run_drill, write_definitions
from tests.procs import children

Exec = Callable[..., list[Any]]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(
    request: pytest.FixtureRequest, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[EvidenceDB]:
    url = (
        f"sqlite:///{workdir}/.drill/evidence.db"
        if request.param == "sqlite"
        else request.getfixturevalue("pg_dsn")
    )
    monkeypatch.setenv("DRILL_DATABASE", url)
    write_definitions(workdir)
    run_drill(workdir)
    run_drill(workdir)
    evidence = EvidenceDB(url)
    yield evidence
    evidence.close()


def _exec(db: EvidenceDB) -> Exec:
    """Run one statement, committed at once (``?`` placeholders on both backends)."""
    conn = db.connect()

    def run(sql: str, *params: Any) -> list[Any]:
        if db.is_postgres:  # a JSON column's value goes back as JSON
            from psycopg.types.json import Json

            sql = sql.replace("?", "%s")
            params = tuple(Json(p) if isinstance(p, dict | list) else p for p in params)
        cur = conn.execute(sql, params)
        return list(cur.fetchall()) if cur.description else []

    return run


def _change_rows(ex: Exec) -> Callable[[], None]:
    ex("UPDATE step_run SET name = name || 'x' WHERE id = (SELECT MIN(id) FROM step_run)")
    ex("UPDATE run SET who = who || 'x' WHERE id = (SELECT MIN(id) FROM run)")
    return lambda: (
        ex(
            "UPDATE step_run SET name = substr(name, 1, length(name) - 1) "
            "WHERE id = (SELECT MIN(id) FROM step_run)"
        ),
        ex(
            "UPDATE run SET who = substr(who, 1, length(who) - 1) "
            "WHERE id = (SELECT MIN(id) FROM run)"
        ),
        None,
    )[-1]


def _delete_row(ex: Exec) -> Callable[[], None]:
    (row,) = ex("SELECT * FROM timeline_event WHERE id = (SELECT MAX(id) FROM timeline_event)")
    ex("DELETE FROM timeline_event WHERE id = ?", row[0])
    return lambda: (
        ex(f"INSERT INTO timeline_event VALUES ({', '.join('?' * len(row))})", *row) and None
    )


def _event_bytes(ex: Exec, seq: int, new: Callable[[bytes], bytes]) -> Callable[[], None]:
    (old,) = ex("SELECT event FROM journal WHERE seq = ?", seq)[0]
    ex("UPDATE journal SET event = ? WHERE seq = ?", new(bytes(old)), seq)
    return lambda: ex("UPDATE journal SET event = ? WHERE seq = ?", bytes(old), seq) and None


def _flip_a_byte(ex: Exec) -> Callable[[], None]:
    return _event_bytes(ex, 5, lambda b: b[:20] + bytes([b[20] ^ 1]) + b[21:])


def _remove_an_event(ex: Exec) -> Callable[[], None]:
    (row,) = ex("SELECT seq, prev, hash, event FROM journal WHERE seq = 7")
    ex("DELETE FROM journal WHERE seq = 7")
    return lambda: (
        ex("INSERT INTO journal (seq, prev, hash, event) VALUES (?, ?, ?, ?)", *row) and None
    )


def _swap_events(ex: Exec) -> Callable[[], None]:
    def swap() -> None:
        ex("UPDATE journal SET seq = CASE seq WHEN 3 THEN -4 ELSE -3 END WHERE seq IN (3, 4)")
        ex("UPDATE journal SET seq = -seq WHERE seq < 0")

    swap()
    return swap


def _rewrite_with_new_hashes(ex: Exec, keep_kind: bool | None) -> Callable[[], None]:
    """Event #10 replaced by bytes drill never writes (its kind kept, or not; None: an
    intact event of a table that does not exist), every later hash recomputed: only the
    projections and the event's form give it away."""
    rows = ex("SELECT seq, prev, hash, event FROM journal WHERE seq >= 9 ORDER BY seq")
    prev = rows[0][2]
    for seq, _prev, _hash, event in rows[1:]:
        ev = bytes(event)
        if seq == 10 and keep_kind is None:
            ev = b'{"kind":"no_such_table' + ev[ev.index(b".") :]
        elif seq == 10:
            ev = ev[: ev.index(b'","run"')] + b'"}' if keep_kind else b'{"not":"an event"}'
        digest = hashlib.sha256(prev.encode() + b"\n" + ev).hexdigest()
        ex("UPDATE journal SET prev = ?, hash = ?, event = ? WHERE seq = ?", prev, digest, ev, seq)
        prev = digest

    def undo() -> None:
        for seq, p, h, event in rows:
            ex(
                "UPDATE journal SET prev = ?, hash = ?, event = ? WHERE seq = ?",
                p,
                h,
                bytes(event),
                seq,
            )

    return undo


def _change_a_hash(ex: Exec) -> Callable[[], None]:
    """Only the stored hash of event #5: the next event still names what #5 hashes to."""
    (digest,) = ex("SELECT hash FROM journal WHERE seq = 5")[0]
    ex(
        "UPDATE journal SET hash = ? WHERE seq = 5",
        digest[:-1] + ("1" if digest[-1] == "0" else "0"),
    )
    return lambda: ex("UPDATE journal SET hash = ? WHERE seq = 5", digest) and None


def _rename_a_column(ex: Exec) -> Callable[[], None]:
    """A column of a table renamed: its rows are there, but cannot be read as drill's."""
    ex("ALTER TABLE step_run RENAME COLUMN output TO output_renamed")
    return lambda: ex("ALTER TABLE step_run RENAME COLUMN output_renamed TO output") and None


TAMPERING = [
    _change_rows,
    _change_a_hash,
    _rename_a_column,
    _delete_row,
    _flip_a_byte,
    _remove_an_event,
    _swap_events,
    partial(_rewrite_with_new_hashes, keep_kind=True),
    partial(_rewrite_with_new_hashes, keep_kind=False),
    partial(_rewrite_with_new_hashes, keep_kind=None),
]


@pytest.mark.parametrize("child_checks_tables", [True, False])
def test_two_processes_find_exactly_what_one_finds(
    db: EvidenceDB, child_checks_tables: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(verify_mod, "SPLIT_FROM", 0)
    # a free chain gives the child tables; a priceless one leaves it only the chain
    monkeypatch.setattr(verify_mod, "_COST_LINK", 0.0 if child_checks_tables else 1e12)
    ex = _exec(db)

    def both() -> tuple[dict[str, Any], dict[str, Any]]:
        conn = db.connect()
        try:
            one = verify_mod.verify(conn, db.is_postgres)
            two = verify_mod.verify(conn, db.is_postgres, connect=db.connect)
        finally:
            conn.close()
        return one.to_dict(), two.to_dict()

    one, two = both()
    assert one["ok"] and two == one
    for tamper in TAMPERING:
        undo = tamper(ex)
        one, two = both()
        assert not one["ok"], str(tamper)
        assert two == one, f"{tamper}: {json.dumps([one['breaks'], two['breaks']])}"
        undo()
        one, two = both()
        assert one["ok"] and two == one, str(tamper)


def test_ctrl_c_during_a_two_process_verify_is_an_interruption(
    db: EvidenceDB, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ctrl-C reaches both processes; the parent says "interrupted" (exit 3), not that its
    worker failed, and leaves no child behind."""
    import os

    from orchestrator.cli import main

    monkeypatch.setattr(verify_mod, "SPLIT_FROM", 0)
    started: list[int] = []

    def interrupted_here(*args: Any) -> None:  # in both processes, as a Ctrl-C would
        if os.getpid() == parent:  # the verify's own child (pytest may have others)
            started.extend(children(parent) - before)
        raise KeyboardInterrupt

    parent = os.getpid()
    before = children(parent)
    monkeypatch.setattr(verify_mod, "_check_projections", interrupted_here)
    capsys.readouterr()
    assert main(["evidence", "verify"]) == 3
    assert capsys.readouterr().err.strip() == "drill: interrupted"
    assert started and not set(started) & children(parent)
