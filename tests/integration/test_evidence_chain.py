"""The evidence journal on a real evidence database (SQLite and a real PostgreSQL server):
runs are made by the real engine, then records are changed, deleted and reordered
behind drill's back; `drill evidence verify` must fail naming the record, and pass
again once the change is undone."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from orchestrator.cli import main

NOOP = """
title: noop
description: a plain python probe and action
steady-state-hypothesis:
  title: cwd exists
  probes:
    - {type: probe, name: cwd-exists, tolerance: true,
       provider: {type: python, module: os.path, func: isdir, arguments: {s: "."}}}
method:
  - {type: action, name: list-cwd,
     provider: {type: python, module: os, func: listdir, arguments: {path: "."}}}
"""
DEVIATES = """
title: deviates
description: the steady state no longer holds after the method
steady-state-hypothesis:
  title: marker absent
  probes:
    - {type: probe, name: marker-absent, tolerance: false,
       provider: {type: python, module: os.path, func: exists, arguments: {path: marker}}}
method:
  - {type: action, name: create-marker,
     provider: {type: python, module: os, func: mkdir, arguments: {path: marker}}}
"""
DRILL = """
id: mini
title: mini drill
scenarios:
  - experiment: noop
  - experiment: deviates
"""


def write_definitions(root: Path) -> None:
    (root / "experiments").mkdir(exist_ok=True)
    (root / "drills").mkdir(exist_ok=True)
    (root / "experiments" / "noop.yaml").write_text(NOOP)
    (root / "experiments" / "deviates.yaml").write_text(DEVIATES)
    (root / "drills" / "mini.yaml").write_text(DRILL)


def run_drill(root: Path) -> dict[str, Any]:
    """One real run through the engine, in-process; returns its --json document."""
    marker = root / "marker"
    if marker.exists():
        marker.rmdir()
    out = io.StringIO()
    with redirect_stdout(out):
        code = main(["run", "mini", "--env", "lab", "--json"])
    assert code == 1  # the deviating scenario fails the drill (a finding is raised)
    return json.loads(out.getvalue())


def verify(capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["evidence", "verify"])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = (
        f"sqlite:///{workdir}/.drill/evidence.db"
        if request.param == "sqlite"
        else request.getfixturevalue("pg_dsn")
    )
    monkeypatch.setenv("DRILL_DATABASE", url)
    write_definitions(workdir)
    return url


def _text_column(table: sa.Table) -> sa.Column[Any] | None:
    for col in table.columns:
        impl = getattr(col.type, "impl", col.type)
        if isinstance(impl, sa.String) and not col.primary_key and not col.foreign_keys:
            return col
    return None


def test_changed_deleted_reordered_records_are_named(
    db: str, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from orchestrator.evidence.records import projections

    run_drill(workdir)
    run_drill(workdir)
    assert verify(capsys)[0] == 0
    engine = sa.create_engine(db)
    try:
        # 1. change: one text column of one row of every evidence table that has rows
        changed = []
        for spec in projections():
            with engine.begin() as conn:
                if not sa.inspect(conn).has_table(spec.name):
                    continue
                table = sa.Table(spec.name, sa.MetaData(), autoload_with=conn)
            col = _text_column(table)
            with engine.begin() as conn:
                row = conn.execute(sa.select(table).limit(1)).first()
                if row is None or col is None or row._mapping[col.name] is None:
                    continue
                pk_col = next(iter(table.primary_key.columns))
                pk = row._mapping[pk_col.name]
                old = row._mapping[col.name]
                conn.execute(table.update().where(pk_col == pk).values({col.name: old + "x"}))
            code, text = verify(capsys)
            assert code == 1, table.name
            assert f"{table.name} {pk} " in text and "changed" in text, text
            with engine.begin() as conn:
                conn.execute(table.update().where(pk_col == pk).values({col.name: old}))
            assert verify(capsys)[0] == 0
            changed.append(table.name)
        assert {"run", "scenario_run", "step_run", "timeline_event", "finding", "artifact"} <= set(
            changed
        )

        # 2. delete: an artifact (the journal of a scenario)
        with engine.begin() as conn:
            art = conn.execute(sa.text("SELECT * FROM artifact ORDER BY id DESC LIMIT 1")).first()
            assert art is not None
            conn.execute(sa.text("DELETE FROM artifact WHERE id = :i"), {"i": art.id})
        code, text = verify(capsys)
        assert code == 1 and f"artifact {art.id} " in text and "deleted" in text, text
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO artifact VALUES (" + ", ".join(f":{k}" for k in art._mapping) + ")"
                ),
                dict(art._mapping),
            )
        assert verify(capsys)[0] == 0

        # 3. reorder records: swap the contents of two timeline events (ids 1 and 2)
        swap = (
            "UPDATE timeline_event SET id = CASE id WHEN 1 THEN -2 ELSE -1 END WHERE id IN (1, 2)"
        )
        with engine.begin() as conn:
            conn.execute(sa.text(swap))
            conn.execute(sa.text("UPDATE timeline_event SET id = -id WHERE id < 0"))
        code, text = verify(capsys)
        assert code == 1 and "timeline_event 1 " in text, text
        with engine.begin() as conn:  # swap back
            conn.execute(sa.text(swap))
            conn.execute(sa.text("UPDATE timeline_event SET id = -id WHERE id < 0"))
        assert verify(capsys)[0] == 0

        # 4. reorder the journal itself: swap events #3 and #4
        swap_chain = (
            "UPDATE journal SET seq = CASE seq WHEN 3 THEN -4 ELSE -3 END WHERE seq IN (3, 4)"
        )
        with engine.begin() as conn:
            conn.execute(sa.text(swap_chain))
            conn.execute(sa.text("UPDATE journal SET seq = -seq WHERE seq < 0"))
        code, text = verify(capsys)
        assert code == 1 and "(event #3," in text, text
    finally:
        engine.dispose()


def test_finished_run_is_immutable_but_findings_evolve(
    db: str, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from orchestrator.errors import RecordImmutable
    from orchestrator.evidence.records import Finding, Run, StepRun
    from orchestrator.evidence.writer import EvidenceDB

    doc = run_drill(workdir)
    store = EvidenceDB.open(db)
    try:
        entries_before = _entries(db)
        step = store.records(StepRun, "run_id = ?", (doc["run_id"],), "id", 1)[0]
        step.error = "rewritten after the run"
        with pytest.raises(RecordImmutable, match="has ended"):
            store.write(step)
        run = store.get(Run, doc["run_id"])
        run.status = "succeeded" if run.status != "succeeded" else "failed"
        with pytest.raises(RecordImmutable, match="has ended"):
            store.write(run)
        assert _entries(db) == entries_before  # refused: no event, nothing changed
        assert store.get(StepRun, step.id).error != "rewritten after the run"
        finding = store.records(Finding, "run_id = ?", (doc["run_id"],), "id", 1)[0]
        assert (
            main(
                [
                    "findings",
                    "assign",
                    str(finding.id),
                    "--owner",
                    "sre-team",
                    "--due",
                    "2027-01-15",
                ]
            )
            == 0
        )
        assert (
            main(
                [
                    "findings",
                    "close",
                    str(finding.id),
                    "--resolution",
                    "marker cleanup added to the rollback",
                ]
            )
            == 0
        )
        assert _entries(db) == entries_before + 2  # each lifecycle change is an event
        assert verify(capsys)[0] == 0
        capsys.readouterr()
        assert main(["findings", "show", str(finding.id), "--json"]) == 0
        shown = json.loads(capsys.readouterr().out)
        assert shown["status"] == "closed" and shown["owner"] == "sre-team"
        assert main(["findings", "assign", "99999", "--owner", "x"]) == 2
        assert "no finding #99999" in capsys.readouterr().err
    finally:
        store.close()


def _entries(url: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text("SELECT COUNT(*) FROM journal")).scalar_one())
    finally:
        engine.dispose()
