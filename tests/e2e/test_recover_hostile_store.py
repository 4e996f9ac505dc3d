"""Recovery plays no code that the evidence database alone describes.

A pending rollback is recorded in the evidence database, and `drill recover` (also the
start of `drill run` and of the scheduler) plays what it reads there. For an experiment's
rollbacks and a runbook rollback step's inline activity that is Python: anyone who could
write to the database (a shared PostgreSQL store) had code of theirs run on the next host
that recovered. Recovery now plays them only when the definition file the run named
holds that very code; otherwise the rollback fails, saying why, and nothing runs.
"""

from __future__ import annotations

import json
import signal
import sqlite3
from pathlib import Path

from tests.e2e.defs import activity, experiment, write
from tests.e2e.test_crash_safety import drill, hooked, killed_run, plays, runs, show


def _rewrite_pending(cwd: Path, change: callable) -> None:  # type: ignore[valid-type]
    """What a writer of the database could do: change the args of the pending rollback."""
    db = sqlite3.connect(cwd / ".drill" / "evidence.db")
    try:
        ((sid, raw),) = db.execute(
            "SELECT id, args FROM step_run WHERE phase = 'rollback' AND status = 'pending'"
        ).fetchall()
        db.execute(
            "UPDATE step_run SET args = ? WHERE id = ?", (json.dumps(change(json.loads(raw))), sid)
        )
        db.commit()
    finally:
        db.close()


def _refused(cwd: Path, run_id: str, planted: Path) -> None:
    rec = drill(cwd, "recover")
    assert rec.code == 1, rec.err
    assert not planted.exists(), "recovery ran code read from the evidence database"
    doc = show(cwd, run_id)
    assert doc["status"] == "rollback_failed"
    (undo,) = [s for s in doc["steps"] if s["phase"] == "rollback"]  # type: ignore[attr-defined]
    assert undo["status"] == "failed"
    assert "not played: the code recorded for it is not what" in undo["error"], undo
    assert "undo it by hand" in undo["error"]


def test_a_runbook_activity_rewritten_in_the_database_is_not_run(workdir: Path) -> None:
    marker, planted = workdir / "marker", workdir / "planted"
    run_id = killed_run(workdir, marker)

    def plant(args: dict) -> dict:
        return {**args, "activity": json.loads(activity("touch", path=str(planted)))}

    _rewrite_pending(workdir, plant)
    _refused(workdir, run_id, planted)
    assert plays(marker) == 0


def test_experiment_rollbacks_rewritten_in_the_database_are_not_run(workdir: Path) -> None:
    marker, planted = workdir / "marker", workdir / "planted"
    exp = write(workdir, "exp.yaml", experiment(marker))
    point = "step:exp:3:end"  # the fault injected, the rollbacks pending
    res = drill(workdir, "run", str(exp), crash=point)
    assert res.code == -signal.SIGKILL, res.err
    hooked(res, point)
    (entry,) = runs(workdir)

    def plant(args: dict) -> dict:
        doc = args["document"]
        doc["rollbacks"] = [json.loads(activity("touch", path=str(planted)))]
        return args

    _rewrite_pending(workdir, plant)
    _refused(workdir, str(entry["run_id"]), planted)


def test_a_definition_changed_since_the_crash_is_not_played_either(workdir: Path) -> None:
    """The file is what recovery trusts: changed since the run, it no longer vouches for
    the recorded undo, which is left to the operator (said), not guessed at."""
    marker = workdir / "marker"
    run_id = killed_run(workdir, marker)
    rb = workdir / "runbooks" / "hold.yaml"
    rb.write_text(
        rb.read_text()
        .replace("remove the marker", "remove the marker (v2)")
        .replace("name: remove,", "name: remove-v2,")
    )
    _refused(workdir, run_id, workdir / "nothing-planted")
    assert plays(marker) == 0
