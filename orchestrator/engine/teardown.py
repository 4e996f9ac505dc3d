"""Tearing the local lab down, resetting or repairing it while a run on it awaits recovery.

An orphaned run's pending rollbacks undo faults in the lab. ``drill lab down`` and
``drill lab reset`` would take away what they undo: recovery would then fail them and
end the run ``rollback_failed`` (a critical finding) though nothing failed but the lab
being gone on purpose. ``drill lab up`` would repair the lab under the run: its
rollbacks, played afterwards, would be recorded as having restored a lab that the
repair had already restored (and a repair does not know everything a run left behind,
e.g. a restored instance). So all three refuse (:func:`refuse_orphans`), naming the run
and the two ways on: recover first, or ``--force``. With ``--force`` the lab goes (or
is repaired) and the orphaned runs are closed here (:func:`close_orphans`): each
pending rollback is kept in the evidence, ``cancelled`` with the reason and who did
it, and the run ends ``crashed`` — what it was before anyone touched the lab.
"""

from __future__ import annotations

from orchestrator.config import Settings
from orchestrator.engine.locks import LOCAL_LAB, lock_scope
from orchestrator.engine.recorder import Recorder
from orchestrator.engine.recovery import close_orphan, open_rollbacks
from orchestrator.engine.reporter import QuietReporter
from orchestrator.engine.runlog import RunLog
from orchestrator.errors import ConfirmationRequired, UsageError
from orchestrator.evidence.enums import RunStatus, StepStatus
from orchestrator.evidence.records import Run
from orchestrator.evidence.writer import EvidenceDB


def lab_orphans(settings: Settings, db: EvidenceDB) -> list[Run]:
    """Runs recorded ``running`` on an environment that stands on the local lab. The
    caller holds the lab's lock, so none of them has a live owner: all are orphaned."""
    runs: list[Run] = db.records(Run, "status = ?", (RunStatus.RUNNING.value,), "started_at")
    return [r for r in runs if lock_scope(settings, r.env) == LOCAL_LAB]


def refuse_orphans(settings: Settings, db: EvidenceDB, runs: list[Run], what: str) -> UsageError:
    """Why ``drill lab down|reset|up`` does not go ahead: which run awaits recovery, how
    to recover it (with ``--yes`` on a protected environment, which `drill recover`
    refuses without), and what ``--force`` does instead."""
    from orchestrator.engine.recovery import protected

    first = runs[0]
    yes = " --yes" if any(protected(settings, r.env, db) for r in runs) else ""
    others = f" (and {len(runs) - 1} more)" if len(runs) > 1 else ""
    harm = (
        "would repair the lab under it, in place of its pending rollbacks"
        if what == "up"
        else "would remove what its pending rollbacks undo"
    )
    return UsageError(
        f"run {first.id}{others} awaits recovery on the lab (environment {first.env!r}): "
        f"`drill lab {what}` {harm}",
        f"recover it first with `drill recover --env {first.env}{yes}` (its rollbacks restore "
        f"the lab), or give `--force{yes}` to {_DOING[what]} anyway (its pending rollbacks are "
        "then recorded as not played)",
    )


_DOING = {"down": "take the lab down", "reset": "reset the lab", "up": "repair the lab"}


def unconfirmed_orphan(
    settings: Settings, db: EvidenceDB, runs: list[Run], what: str
) -> ConfirmationRequired | None:
    """Why ``--force`` without ``--yes`` does not close ``runs``: one is of a protected
    environment, which nothing changes unconfirmed (DESIGN 10), as `drill recover`
    refuses it too. None when none is."""
    from orchestrator.engine.recovery import protected

    for run in runs:
        if protected(settings, run.env, db):
            return ConfirmationRequired(
                f"run {run.id} awaits recovery on the protected environment {run.env!r}: "
                f"`drill lab {what} --force` would close it with its pending rollbacks "
                "not played",
                f"review `drill runs show {run.id}`, then add --yes (your approval is "
                "recorded as evidence), or recover it with "
                f"`drill recover --env {run.env} --yes`",
            )
    return None


def close_orphans(
    settings: Settings,
    db: EvidenceDB,
    runs: list[Run],
    what: str,
    who: str,
    did: list[str] | None = None,
) -> int:
    """Close ``runs`` after the lab under them was torn down or repaired on purpose
    (``--force``; ``did``: what the lab said it did, kept with the event). ``who`` gave
    ``--yes`` for those of a protected environment (:func:`unconfirmed_orphan` refused
    otherwise): recorded as an approval of each, as `drill recover --yes` does.

    Their pending rollbacks stay in the evidence as ``cancelled`` with the reason; the
    runs end ``crashed`` (their process died; nothing failed to roll back). Returns how
    many rollbacks were not played."""
    repaired = what == "up"
    reason = (
        f"not played: {who} repaired the lab with `drill lab up --force` while this run "
        "awaited recovery; the repair, not these rollbacks, undid the faults"
        if repaired
        else f"not played: {who} tore the lab down with `drill lab {what} --force` "
        "while this run awaited recovery; the faults it would undo went with the lab"
    )
    from orchestrator.engine.recovery import protected

    cancelled = 0
    for run in runs:
        rec = Recorder(db, run)
        if protected(settings, run.env, db):
            rec.approval(
                who, f"--yes given to `drill lab {what} --force` on a protected environment"
            )
        undo = open_rollbacks(db, rec, run)
        for st in undo:
            rec.step_finished(st, StepStatus.CANCELLED, {"not_played": reason}, None)
        cancelled += len(undo)
        rec.event(
            "recovery.lab_repaired" if repaired else "recovery.lab_torn_down",
            f"{len(undo)} pending rollback(s) {reason}",
            data={"lab": did} if did else None,
        )
        said = RunLog(QuietReporter())
        for st in undo:
            said.note(f"rollback {st.name}: {reason}")
        close_orphan(
            rec,
            run,
            db,
            True,
            None,
            f"the drill process died; the lab was then "
            f"{'repaired' if repaired else 'torn down'} on purpose by {who} "
            f"(`drill lab {what} --force`), so its {len(undo)} pending rollback(s) "
            "were not played",
            said,
        )
    return cancelled
