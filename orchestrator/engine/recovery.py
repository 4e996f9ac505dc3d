"""Recovering runs whose process died.

If drill is killed mid-run (SIGKILL, host loss), its run row stays ``running`` and its
rollbacks stay ``pending`` — or ``running``, for the one that was in flight. A
``running`` run whose environment lock can be taken has no live owner: it is orphaned.

Recovery is explicit, because it changes the environment: ``drill recover [--env E]``,
``drill run`` on that environment (before anything else, holding its lock) and the
scheduler service when it starts. It plays every pending rollback and replays the one
in flight (undos are idempotent), newest first, then marks the run ``crashed`` — or
``rollback_failed`` with a critical finding when an undo could not complete.
Read-only commands only *detect* orphans (:func:`awaiting_recovery`) and say so.
A host loss on the local lab takes every lab process (and so every fault injected into
them) with drill: the undos of lab actions then have nothing to undo and would only fail
— a ``rollback_failed`` about a lab that no longer exists, stopping the next run too —
so they are recorded ``cancelled`` with why (:func:`_lab_gone`); the next ``lab up``
builds the lab afresh. Python activities' undos still play.
On a ``protected`` environment the rollbacks change it like any action, so they are
played only with a confirmation (``--yes``), recorded as an approval of the orphaned run;
the scheduler service, which nobody confirms, leaves such an environment to ``drill
recover --env E --yes``.

A stop (SIGINT, SIGTERM) during a recovery lets the rollback in progress finish and
starts no other: the run stays orphaned, with what is left still pending, and
:class:`~orchestrator.errors.Aborted` (exit 3) tells the operator to run ``drill
recover`` again.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING

from orchestrator.config import Settings
from orchestrator.definitions.kinds import DefinitionKind
from orchestrator.engine.locks import LOCAL_LAB, EnvLock, lock_scope
from orchestrator.engine.recorder import Recorder
from orchestrator.engine.reporter import QuietReporter
from orchestrator.engine.rollbacks import (
    ROLLBACK_TIMEOUT_S,
    locked_error,
    play_rollback,
)
from orchestrator.engine.runlog import LOG_MEDIA_TYPE, RunLog
from orchestrator.errors import Aborted, ConfigError, ConfirmationRequired, DrillError
from orchestrator.evidence.enums import RunStatus, StepPhase, StepStatus, utcnow
from orchestrator.evidence.records import Environment, Run, ScenarioRun, StepRun
from orchestrator.evidence.writer import EvidenceDB
from orchestrator.testhooks import crashpoint

if TYPE_CHECKING:  # needed only when there is something to recover
    from orchestrator.providers.base import Provider

RECOVERY_LOG_NAME = "recovery-log.jsonl"
ProviderFor = Callable[[str], "Provider | None"]
Log = Callable[[str], None]


def running_runs(db: EvidenceDB, env: str | None = None) -> list[Run]:
    """The runs recorded ``running`` (of ``env``), alive or orphaned, oldest first."""
    where, params = "status = ?", [RunStatus.RUNNING.value]
    if env is not None:
        where, params = where + " AND env = ?", [*params, env]
    runs: list[Run] = db.records(Run, where, params, "started_at")
    return runs


def running_envs(db: EvidenceDB) -> list[str]:
    """The environments with a run recorded ``running`` (alive or orphaned)."""
    return list(dict.fromkeys(r.env for r in running_runs(db)))


def awaiting_recovery(settings: Settings, db: EvidenceDB) -> list[Run]:
    """Orphaned runs, found without changing anything (a lock is only tried)."""
    orphans = []
    for run in running_runs(db):
        lock = EnvLock(db, settings.state_path(), run.env, lock_scope(settings, run.env))
        if lock.try_acquire():
            lock.release()
            orphans.append(run)
    return orphans


def protected(settings: Settings, env: str, db: EvidenceDB) -> bool:
    """Whether ``env`` is protected: as drill.yaml says; for an environment no longer
    configured, as the evidence recorded it when its runs started (its orphans' undos,
    e.g. an experiment's rollbacks, still change what was protected: they were played
    without --yes once the environment had left drill.yaml)."""
    try:
        return bool(settings.environment(env)[1].protected)
    except DrillError:
        found: list[Environment] = db.records(Environment, "name = ?", (env,), "id", 1)
        return bool(found and found[0].protected)


def needs_confirmation(run: Run) -> ConfirmationRequired:
    """Why an orphan of a protected environment is not recovered without ``--yes``."""
    return ConfirmationRequired(
        f"run {run.id} awaits recovery on the protected environment {run.env!r}: "
        "playing its rollbacks would change it",
        f"review `drill runs show {run.id}`, then run `drill recover --env {run.env} --yes` "
        "(your approval is recorded as evidence)",
    )


def recover_all(
    settings: Settings,
    db: EvidenceDB,
    provider_for: ProviderFor,
    log: Log,
    should_stop: Callable[[], bool],
    env: str | None = None,
    approved_by: str | None = None,
) -> list[Run]:
    """Recover every orphaned run (of ``env``); returns them, as they ended. A protected
    environment without ``approved_by`` (who gave ``--yes``) is left as it is, said in
    ``log``."""
    done: list[Run] = []
    for env_name in dict.fromkeys(r.env for r in running_runs(db, env)):
        if approved_by is None and protected(settings, env_name, db):
            log(
                f"environment {env_name!r} is protected: its recovery changes it and needs "
                f"a confirmation; not recovering it now (`drill recover --env {env_name} --yes`)"
            )
            continue
        lock = EnvLock(db, settings.state_path(), env_name, lock_scope(settings, env_name))
        holder = {"pid": os.getpid(), "host": socket.gethostname(), "what": "recovery"}
        if not lock.try_acquire(holder):
            # (the message names the environment: it read "environment 'lab': environment
            # 'lab' is being recovered by …")
            log(f"{locked_error(env_name, lock.holder()).message}; not recovering it now")
            continue
        try:
            done += recover_env(
                settings, db, env_name, provider_for, log, should_stop, lock, approved_by
            )
        except RecoveryDeferred as exc:
            if env is not None:  # `drill recover --env E`: that one is the answer
                raise
            log(f"{exc.message} ({exc.hint})")  # the others (the scheduler's start) go on
        finally:
            lock.release()
    return done


def recover_env(
    settings: Settings,
    db: EvidenceDB,
    env: str,
    provider_for: ProviderFor,
    log: Log,
    should_stop: Callable[[], bool],
    lock: EnvLock | None = None,
    approved_by: str | None = None,
) -> list[Run]:
    """Recover the orphaned runs of ``env``. The caller holds the environment's lock, so
    every ``running`` run of it is orphaned. On a protected environment that needs
    ``approved_by`` (raises :class:`ConfirmationRequired` before any change without it),
    recorded as an approval of each run recovered."""
    done = []
    runs = running_runs(db, env)
    guarded = bool(runs) and protected(settings, env, db)
    if guarded and approved_by is None:
        raise needs_confirmation(runs[0])
    for run in runs:
        if lock is not None:
            lock.note(
                {
                    "run_id": run.id,
                    "pid": os.getpid(),
                    "host": socket.gethostname(),
                    "what": "recovery",
                }
            )
        log(
            f"recovering run {run.id} on {env} (its process {run.pid} on {run.host} "
            "ended without closing it): playing its pending rollbacks"
        )
        if guarded and approved_by is not None:
            Recorder(db, run).approval(
                approved_by, "--yes given to recover a protected environment"
            )
        lab_gone = _lab_gone(settings, env)
        on_lab = lock_scope(settings, env) == LOCAL_LAB
        done.append(_recover(db, run, provider_for, log, should_stop, lab_gone, on_lab))
    return done


LAB_GONE = (
    "not played: the local lab is not running (every one of its processes is gone: a "
    "host restart, or killed outside drill), and the fault this undoes went with it; "
    "`drill lab up` builds the lab afresh"
)


class RecoveryDeferred(ConfigError):
    """An orphaned run whose rollbacks cannot be played now; nothing was changed."""


NO_API_HINT = (
    "nothing was played, the run still awaits recovery; the AWS API it needs went with "
    "its record of the faults, so a new one could not undo them: `drill lab up --aws "
    "--force` restarts it and repairs the lab in place of the rollbacks (recorded as not "
    "played)"
)


def _lab_gone(settings: Settings, env: str) -> bool:
    """``env`` stands on the local lab, and nothing of that lab runs any more: its
    provider actions' undos have nothing left to undo (a host loss took the lab)."""
    if lock_scope(settings, env) != LOCAL_LAB:
        return False
    from orchestrator.providers.lab import gone

    return gone(settings)


def _recover(
    db: EvidenceDB,
    run: Run,
    provider_for: ProviderFor,
    log: Log,
    should_stop: Callable[[], bool],
    lab_gone: bool = False,
    on_lab: bool = False,
) -> Run:
    from orchestrator.providers.base import StepContext

    said = RunLog(QuietReporter())  # the recovery's log, kept with the run (runlog.py)

    def log_too(message: str) -> None:
        said.note(message)
        log(message)

    log_too(f"recovery of run {run.id} by pid {os.getpid()} on {socket.gethostname()}")
    rec = Recorder(db, run)
    undo = open_rollbacks(db, rec, run)
    provider: Provider | None = None
    error: str | None = None
    if on_lab and not lab_gone and any(st.kind == "action" for st in undo):
        # Before anything is played: `lab-aws` while the lab runs but its AWS API does
        # not failed every undo ("no provider") and closed the run rollback_failed, the
        # lab's faults left in place. The run stays awaiting recovery instead, and the
        # hint says the way out (a new API knows nothing of the faults to undo).
        try:
            provider = provider_for(run.env)
        except DrillError as exc:
            raise RecoveryDeferred(
                f"run {run.id} awaits recovery on {run.env}, and its rollbacks cannot be "
                f"played now: {exc.message}",
                NO_API_HINT,
            ) from None
    rec.event("recovery.start", f"recovery by pid {os.getpid()}: {len(undo)} rollback(s) to play")
    crashpoint("recovery:start")
    ctx = StepContext(
        run_id=run.id,
        scenario_id="recovery",
        mode=run.mode,
        deadline_s=ROLLBACK_TIMEOUT_S,
        log=log_too,
    )
    ok, unplayed, played = True, 0, 0
    try:
        for pending in sorted(undo, key=lambda st: st.seq, reverse=True):
            if should_stop():
                rec.event(
                    "recovery.stopped", "recovery stopped by a signal; what is left stays pending"
                )
                raise Aborted(
                    f"recovery of run {run.id} stopped: "
                    + (
                        "the rollback in progress finished, no other was started"
                        if played
                        else "before its first rollback, none was played"
                    ),
                    "run `drill recover` to play the rollbacks still pending",
                )
            if pending.kind == "action" and lab_gone:  # python activities still play
                rec.step_finished(pending, StepStatus.CANCELLED, {"not_played": LAB_GONE})
                log_too(f"  rollback {pending.name}: {LAB_GONE}")
                unplayed += 1
                continue
            if pending.kind == "action" and provider is None and error is None:
                try:
                    provider = provider_for(run.env)
                except DrillError as exc:
                    error = f"cannot build provider for {run.env}: {exc.message}"
            if pending.status == StepStatus.RUNNING:
                log_too(f"  replaying {pending.name!r}, in flight when drill died")
            good, detail = play_rollback(rec, pending, provider, ctx)
            played += 1
            log_too(f"  rollback {pending.name}: {'ok' if good else 'FAILED: ' + str(detail)}")
            ok = ok and good
    finally:
        if provider is not None:
            provider.close()
    crashpoint("recovery:end")
    note = "the drill process died; its rollbacks were played by a later invocation"
    if unplayed:
        note += (
            f", except {unplayed} that undo faults in the local lab, which was no longer "
            "running (every one of its processes gone): nothing was left for them to undo"
        )
    close_orphan(rec, run, db, ok, error, note, said=said)
    return run


def open_rollbacks(db: EvidenceDB, rec: Recorder, run: Run) -> list[StepRun]:
    """An orphaned run's rollbacks still to play (pending, or in flight when drill
    died), by seq; every other step it left ``running`` is closed as interrupted. For
    recovery, and for ``drill lab down --force`` (:mod:`.teardown`), which records
    them as not played."""
    steps: list[StepRun] = db.records(StepRun, "run_id = ?", (run.id,), "seq")
    rec._seq = max((st.seq for st in steps), default=0)
    undo = [
        st
        for st in steps
        if st.phase == StepPhase.ROLLBACK
        and st.status in (StepStatus.PENDING, StepStatus.RUNNING)
        and not _part_of_experiment_rollbacks(db, run, st)
    ]
    for st in steps:
        if st.status == StepStatus.RUNNING and st not in undo:
            rec.step_finished(st, StepStatus.FAILED, None, "interrupted: the drill process died")
    return undo


def _part_of_experiment_rollbacks(db: EvidenceDB, run: Run, step: StepRun) -> bool:
    """``step`` is one rollback activity of an experiment, not an undo of its own: the
    experiment's one undo is its ``experiment-rollbacks`` row, which replays them all.
    (Killed inside such an activity, its row stayed ``running``, and recovery played
    it as a lab action: "no provider action", ``rollback_failed``.)"""
    from orchestrator.engine.experiment import ROLLBACK_KIND

    if step.kind == ROLLBACK_KIND or step.scenario_run_id is None:
        return False
    scenario = db.get(ScenarioRun, step.scenario_run_id)
    return scenario is not None and scenario.kind == DefinitionKind.EXPERIMENT.value


def close_orphan(
    rec: Recorder,
    run: Run,
    db: EvidenceDB,
    ok: bool,
    error: str | None,
    note: str = "the drill process died; its rollbacks were played by a later invocation",
    said: RunLog | None = None,
) -> None:
    """End an orphaned run ``crashed`` (``ok``) or ``rollback_failed``, with ``note``
    saying what became of its rollbacks; ``said``, what the closing said, is kept as the
    run's ``recovery-log.jsonl`` (what the dead process printed died with it)."""
    scenarios: list[ScenarioRun] = db.records(ScenarioRun, "run_id = ?", (run.id,))
    crashed = [sc for sc in scenarios if sc.status == RunStatus.RUNNING]
    for sc in crashed:
        sc.status, sc.ended_at, sc.met = RunStatus.CRASHED.value, utcnow(), None  # not judged
    if crashed:
        rec.save(*crashed)
    status = RunStatus.CRASHED if ok else RunStatus.ROLLBACK_FAILED
    if not ok:
        note += "; at least one rollback FAILED"
        rec.finding(
            "rollback_failed",
            f"{run.target}: rollback failed during recovery",
            "a rollback of the orphaned run could not complete; the environment may be degraded",
            "inspect the environment now and restore it by hand; "
            f"see the failed rollback in `drill runs show {run.id}`",
            severity="critical",
        )
    rec.finding(
        "run_crashed",
        f"{run.target} run {run.id} crashed",
        note,
        "check why the runner died (OOM, host loss, kill) and re-run the drill",
        severity="high" if ok else "critical",
    )
    rec.event("run.recovered", note)
    kept = []
    if said is not None:
        said.ended(status.value, 1, error or note)
        kept.append(rec.artifact_record(RECOVERY_LOG_NAME, said.content(), LOG_MEDIA_TYPE))
    rec.update_run(*kept, status=status.value, ended_at=utcnow(), exit_code=1, error=error or note)
