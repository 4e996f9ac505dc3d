"""best_effort: a failing evidence store never stops an undo, and each run says so once
per outage — per run, not per process: the scheduler service recovers several orphaned
runs in one process, and a second run's failure must not go unsaid because the first
already said its own."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from orchestrator.engine.recorder import Recorder
from orchestrator.engine.rollbacks import best_effort, play_rollback
from orchestrator.evidence.enums import StepStatus, utcnow
from orchestrator.evidence.records import Run
from orchestrator.evidence.writer import EvidenceDB
from orchestrator.providers.base import StepContext
from tests.faults import damage


def _fails() -> None:
    raise OSError("disk I/O error")


def _recorder(db: EvidenceDB, run_id: str) -> Recorder:
    run = Run(
        id=run_id,
        target="marker-runbook",
        target_kind="runbook",
        env="lab",
        who="tester",
        host=socket.gethostname(),
        pid=1,
        started_at=utcnow(),
    )
    db.write(run)
    return Recorder(db, run)


def test_an_outage_is_said_once_and_the_next_one_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rec = _recorder(EvidenceDB.open(f"sqlite:///{tmp_path}/evidence.db"), "run-1")
    assert best_effort(rec, "step 1", lambda: None)  # a working store: nothing said
    assert not best_effort(rec, "step 2", _fails)
    assert not best_effort(rec, "step 3", _fails)
    said = capsys.readouterr().err.splitlines()
    assert len(said) == 1 and "could not record step 2 of run run-1" in said[0], said
    assert "disk I/O error" in said[0] and "drill recover" in said[0]

    assert best_effort(rec, "step 4", lambda: None)  # the store works again: the outage ended
    assert not best_effort(rec, "step 5", _fails)
    said = capsys.readouterr().err.splitlines()
    assert len(said) == 1 and "could not record step 5" in said[0], said


def test_each_run_in_one_process_says_its_own_outage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two runs' undos played by one long-lived process on a store damaged under them:
    both undos run, and each run says once that its evidence could not be written."""
    path = tmp_path / "evidence.db"
    db = EvidenceDB.open(f"sqlite:///{path}")
    markers, undos = [], []
    for run_id in ("run-a", "run-b"):
        marker = tmp_path / f"{run_id}.marker"
        marker.write_text("fault injected\n")
        rec = _recorder(db, run_id)
        activity = {
            "type": "action",
            "name": "remove-marker",
            "provider": {
                "type": "python",
                "module": "tests.faults",
                "func": "remove",
                "arguments": {"path": str(marker)},
            },
        }
        pending = rec.pending_rollback(
            None, "remove marker", "activity", "", {"activity": activity}, None
        )
        markers.append(marker)
        undos.append((rec, pending))
    db.close()
    damage(str(path))

    for rec, pending in undos:
        ctx = StepContext(run_id=rec.run.id, scenario_id="recovery", mode="live", deadline_s=60)
        assert play_rollback(rec, pending, None, ctx) == (True, None)
        assert pending.status == StepStatus.SUCCEEDED  # in memory: the store took nothing

    assert not any(m.exists() for m in markers), "an undo did not run"
    said = [ln for ln in capsys.readouterr().err.splitlines() if "could not record" in ln]
    assert len(said) == 2, said
    assert "of run run-a" in said[0] and "of run run-b" in said[1], said
