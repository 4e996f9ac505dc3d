"""What `drill evidence verify` tells the engineer at the terminal after tampering.

An event deleted from the middle of the journal was reported as a record "changed after
it was journaled" (its row now differed from its newest *remaining* event), with the
deleted event itself hidden behind "(and 1 more problem(s))"; events cut from the end
likewise led with a record. The cause comes first now — the chain — and the records it
explains follow, one line each, so the first two lines say what happened and where.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.clihelp import drill
from tests.integration.test_evidence_chain import run_drill, write_definitions
from tests.integration.test_evidence_witness import _sql


@pytest.fixture
def store(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A SQLite store holding one real run; verified once (so its head is remembered)."""
    url = f"sqlite:///{workdir}/.drill/evidence.db"
    monkeypatch.setenv("DRILL_DATABASE", url)
    write_definitions(workdir)
    run_drill(workdir)
    return url


def _newest_step_update(url: str) -> tuple[int, int]:
    """(seq, step id) of the last ``step_run.update`` event: the newest of its record."""
    with _sql(url) as conn:
        prefix = b'{"kind":"step_run.update"'
        seq, ev = conn.execute(
            sa.text(
                "SELECT seq, event FROM journal WHERE substr(event, 1, :n) = :p "
                "ORDER BY seq DESC LIMIT 1"
            ),
            {"n": len(prefix), "p": prefix},
        ).one()
    return int(seq), int(json.loads(bytes(ev))["pk"])


def test_a_deleted_event_is_named_first_and_the_record_it_leaves_behind_next(
    store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert drill(capsys, "evidence", "verify").code == 0
    seq, step = _newest_step_update(store)
    with _sql(store) as conn:
        conn.execute(sa.text("DELETE FROM journal WHERE seq = :s"), {"s": seq})
    res = drill(capsys, "evidence", "verify")
    assert res.code == 1, res
    first, second, *_ = res.err.splitlines()
    assert first.startswith("drill: error: evidence journal broken at "), res.err
    assert f"event #{seq + 1}, " in first and f"event #{seq} before it is missing" in first
    assert second.startswith(f"  also: step_run {step} (event #"), res.err
    assert "changed after it was journaled: status is" in second, res.err
    assert "  hint: " in res.err and "Traceback" not in res.err
    res = drill(capsys, "evidence", "verify", "--json")
    doc = json.loads(res.out)
    assert doc["first_break"]["seq"] == seq + 1 and "missing" in doc["first_break"]["detail"]


def test_events_cut_from_the_end_name_the_lost_head_first(
    store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert drill(capsys, "evidence", "verify").code == 0
    with _sql(store) as conn:
        head = int(conn.execute(sa.text("SELECT MAX(seq) FROM journal")).scalar_one())
        conn.execute(sa.text("DELETE FROM journal WHERE seq = :s"), {"s": head})
    res = drill(capsys, "evidence", "verify")
    assert res.code == 1, res
    first, second, *_ = res.err.splitlines()
    assert first.startswith(f"drill: error: evidence journal broken at event #{head}: "), first
    assert "events were cut from the end" in first, first
    assert second.startswith("  also: ") and "(written outside drill)" in second, res.err


def test_a_row_written_outside_drill_names_the_run_it_claims(
    store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A forged approval said only "approval 1 (no event)": which run it was slipped
    into, the first thing to look at, was left out."""
    with _sql(store) as conn:
        run = conn.execute(sa.text("SELECT id FROM run")).scalar_one()
        conn.execute(
            sa.text(
                "INSERT INTO approval (run_id, env, approved_by, at, reason) "
                "VALUES (:r, 'lab', 'mallory', '2026-12-01 23:53:31.000000', 'ok')"
            ),
            {"r": run},
        )
    res = drill(capsys, "evidence", "verify")
    assert res.code == 1, res
    first = res.err.splitlines()[0]
    assert f"approval 1 (no event, run {run}): the row has no event" in first, first
