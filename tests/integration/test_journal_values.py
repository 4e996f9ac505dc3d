"""Projection rows as the journal holds them, on SQLite and a real PostgreSQL: raw driver
rows read through ``journal.reader`` survive the trip through an event's bytes exactly,
for awkward values too; a value stored behind drill's back in another type or format
never passes for the original; verify names every changed record; the export's forked
report rendering produces the same as in one process."""

from __future__ import annotations

import json
import math
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import AutoString

from orchestrator.evidence import journal
from orchestrator.evidence.journal import ColumnType
from orchestrator.schedule.models import UTCDateTime

META = sa.MetaData()
ODD = sa.Table(
    "odd_values",
    META,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", AutoString()),
    sa.Column("text", sa.String()),
    sa.Column("count", sa.Integer()),
    sa.Column("ratio", sa.Float()),
    sa.Column("flag", sa.Boolean()),
    sa.Column("at", UTCDateTime()),
    sa.Column("doc", sa.JSON()),
    sa.Column("blob", sa.LargeBinary()),
)
#: how EvidenceDB stores each column of ODD (records.projection would say the same)
TYPES: list[ColumnType] = ["int", "str", "str", "int", "float", "bool", "datetime", "json", "bytes"]
ROWS: list[dict[str, Any]] = [
    {
        "id": 1,
        "name": "plain",
        "text": 'é ü \u2028 "quoted" \\ \n\t\x01 \U0001f600',
        "count": 2**31 - 1,
        "ratio": 1e-05,
        "flag": True,
        "at": datetime(2026, 11, 2, 14, 0, 0, 123456, tzinfo=UTC),
        "doc": {"b": [1, 2.5, None, "x"], "a": {"z": 1, "y": "ü"}},
        "blob": b"\x00\xff",
    },
    {
        "id": 2,
        "name": "",
        "text": None,
        "count": -1,
        "ratio": -0.0,
        "flag": False,
        "at": datetime(2026, 1, 1, tzinfo=UTC),
        "doc": None,
        "blob": b"",
    },
    {
        "id": 3,
        "name": "big",
        "text": "x" * 3000,
        "count": 0,
        "ratio": 1e300,
        "flag": None,
        "at": None,
        "doc": [],
        "blob": None,
    },
    {
        "id": 4,
        "name": "inf",
        "text": "t",
        "count": 7,
        "ratio": math.inf,
        "flag": True,
        "at": datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC),
        "doc": "just a string",
        "blob": b"abc",
    },
]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    url = (
        f"sqlite:///{tmp_path}/odd.db"
        if request.param == "sqlite"
        else request.getfixturevalue("pg_dsn")
    )
    eng = sa.create_engine(url)
    META.create_all(eng)
    with eng.begin() as conn:
        conn.execute(sa.insert(ODD), ROWS)
    yield eng
    eng.dispose()


def _values(conn: sa.Connection) -> dict[int, list[Any]]:
    read = journal.reader(TYPES, conn.dialect.name == "postgresql")
    return {
        row[0]: read(row)
        for row in conn.exec_driver_sql(
            "SELECT id, name, text, count, ratio, flag, at, doc, blob FROM odd_values"
        )
    }


def test_raw_rows_survive_the_trip_through_an_event(engine: Any) -> None:
    names = [c.name for c in ODD.columns]
    with engine.connect() as conn:
        values = _values(conn)
    for pk, row in values.items():
        ev = journal.event(
            "odd_values.insert", None, str(pk), journal.now(), dict(zip(names, row, strict=True))
        )
        data = journal.data_of(ev)
        assert data is not None and list(json.loads(data).values()) == row
        assert ev.isascii()
    doc = dict(zip(names, values[1], strict=True))
    assert doc["at"] == "2026-11-02 14:00:00.123456" and doc["flag"] is True
    assert doc["blob"] == "sha256:" + __import__("hashlib").sha256(b"\x00\xff").hexdigest()
    assert values[4][4] == "inf"  # JSON has no infinity: kept as text


@pytest.mark.parametrize(
    "column,raw",
    [
        ("count", "X'37'"),  # the same digit as a blob (text would be converted back)
        ("flag", "2"),  # not a boolean any more
        ("at", "'1999-12-31 23:59:59.000001'"),  # one microsecond later
        ("text", "X'74'"),  # the same text as a blob
    ],
)
def test_a_value_stored_differently_never_passes(tmp_path: Path, column: str, raw: str) -> None:
    eng = sa.create_engine(f"sqlite:///{tmp_path}/odd.db")
    META.create_all(eng)
    try:
        with eng.begin() as conn:
            conn.execute(sa.insert(ODD), ROWS)
            before = _values(conn)[4]
            conn.exec_driver_sql(f"UPDATE odd_values SET {column} = {raw} WHERE id = 4")
            after = _values(conn)[4]
        assert after != before
    finally:
        eng.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def drill_db(request: pytest.FixtureRequest, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    from tests.integration.test_evidence_chain import write_definitions

    url = (
        f"sqlite:///{workdir}/.drill/evidence.db"
        if request.param == "sqlite"
        else request.getfixturevalue("pg_dsn")
    )
    monkeypatch.setenv("DRILL_DATABASE", url)
    write_definitions(workdir)
    return str(url)


def test_verify_names_every_changed_record(
    drill_db: str, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from orchestrator.cli import main
    from tests.integration.test_evidence_chain import run_drill, verify

    run_drill(workdir)
    run_drill(workdir)
    assert verify(capsys)[0] == 0
    engine = sa.create_engine(drill_db)
    try:
        with engine.begin() as conn:
            for table, column in (
                ("run", "env"),
                ("step_run", "name"),
                ("timeline_event", "message"),
            ):
                conn.exec_driver_sql(
                    f"UPDATE {table} SET {column} = 'x' WHERE id = (SELECT MIN(id) FROM {table})"
                )
    finally:
        engine.dispose()
    capsys.readouterr()
    code = main(["evidence", "verify", "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 1
    assert {b["record"].split()[0] for b in doc["breaks"]} == {"run", "step_run", "timeline_event"}
    assert all("changed after it was journaled" in b["detail"] and b["seq"] for b in doc["breaks"])


def test_export_renders_reports_in_a_child_process_identically(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from orchestrator.cli import main
    from orchestrator.evidence import export
    from tests.integration.test_evidence_chain import run_drill, write_definitions

    monkeypatch.setenv("DRILL_DATABASE", f"sqlite:///{workdir}/.drill/evidence.db")
    write_definitions(workdir)
    run_drill(workdir)
    year = datetime.now(UTC).year
    assert main(["evidence", "keygen"]) == 0
    args = ["evidence", "export", "--from", f"{year}-01-01", "--to", f"{year}-12-31"]
    assert main([*args, "--out", "inline.zip"]) == 0
    monkeypatch.setattr(export, "PARALLEL_MIN_RUNS", 0)
    assert main([*args, "--out", "forked.zip"]) == 0
    assert main(["evidence", "verify", "forked.zip"]) == 0
    with zipfile.ZipFile("inline.zip") as a, zipfile.ZipFile("forked.zip") as b:
        assert a.namelist() == b.namelist()  # in the order they were made
        assert a.read("runs.csv") == b.read("runs.csv")  # (the others carry the time)
        assert b.read("report.pdf").startswith(b"%PDF-")
        html = b.read("report.html")
        assert html.startswith(b"<!DOCTYPE html>") and a.read("report.html")[:300] == html[:300]


def test_export_and_its_bundle_on_either_backend(
    drill_db: str, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The export's snapshot and scoped verify on SQLite and PostgreSQL; the key is
    created on first use, and the bundle's events are the database's own."""
    from orchestrator.cli import main
    from tests.integration.test_evidence_chain import run_drill

    doc = run_drill(workdir)
    year = datetime.now(UTC).year
    capsys.readouterr()
    assert (
        main(
            [
                "evidence",
                "export",
                "--from",
                f"{year}-01-01",
                "--to",
                f"{year}-12-31",
                "--out",
                "b.zip",
            ]
        )
        == 0
    )
    assert "created the signing key" in capsys.readouterr().err
    assert (workdir / ".drill" / "keys" / "evidence-ed25519.pem").is_file()
    assert main(["evidence", "verify", "b.zip"]) == 0
    with zipfile.ZipFile("b.zip") as zf:
        lines = zf.read("journal/events.jsonl").decode().splitlines()
        run_doc = json.loads(zf.read(f"journals/{doc['run_id']}.json"))
    engine = sa.create_engine(drill_db)
    try:
        with engine.connect() as conn:
            stored = {
                int(r[0]): bytes(r[1])
                for r in conn.exec_driver_sql("SELECT seq, event FROM journal")
            }
    finally:
        engine.dispose()
    assert len(lines) == len(stored)
    assert all(stored[e["seq"]] == e["event"].encode() for e in map(json.loads, lines))
    # the run's journal: every event but its environment's record, which is no run's
    of_run = [q for q, ev in stored.items() if not ev.startswith(b'{"kind":"environment.')]
    assert [e["seq"] for e in run_doc["events"]] == sorted(of_run)
