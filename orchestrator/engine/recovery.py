"""Playing rollbacks, and recovering runs whose process died.

If ``drill`` is killed with SIGKILL mid-run, its run row stays ``running`` and its
rollbacks stay ``pending``. The next ``drill`` invocation that opens the evidence
store calls :func:`recover_orphans`: a ``running`` run whose environment lock can be
taken has no live owner, so its pending rollbacks are played (newest first) and the
run is marked ``crashed`` (or ``rollback_failed`` when an undo fails).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from orchestrator.config import Settings
from orchestrator.engine.calls import CallTimeout, call_with_deadline
from orchestrator.engine.experiment import ROLLBACK_KIND, run_rollback_activities
from orchestrator.engine.experiment_journal import rollback_failed
from orchestrator.engine.locks import EnvLock
from orchestrator.engine.recorder import Recorder
from orchestrator.errors import DrillError
from orchestrator.evidence.enums import RunStatus, StepStatus, utcnow
from orchestrator.evidence.records import Run, ScenarioRun, StepRun
from orchestrator.evidence.writer import EvidenceDB
from orchestrator.providers.base import Provider, StepContext

ROLLBACK_TIMEOUT_S = 900.0


def play_rollback(recorder: Recorder, pending: StepRun, provider: Provider | None,
                  ctx: StepContext) -> tuple[bool, str | None]:
    """Run one pending rollback row; record its outcome. Returns (ok, error)."""
    pending.status = StepStatus.RUNNING
    pending.started_at = utcnow()
    recorder.save(pending)
    args = _with_secrets(recorder.rollback_args(pending))
    try:
        if pending.kind == ROLLBACK_KIND:
            runs = run_rollback_activities(args["document"], args)
            failed = [r for r in runs if rollback_failed(r)]
            output: Any = {"rollbacks": len(runs)}
            if failed:
                raise DrillError(f"{len(failed)} experiment rollback(s) failed")
        elif pending.kind == "activity":
            from orchestrator.engine.runner import _run_activity

            output = _run_activity(args["activity"], {})
        else:
            if provider is None:
                raise DrillError("no provider to run the rollback with")
            action = pending.action or ""
            output = call_with_deadline(lambda: provider.execute(action, args, ctx),
                                        ROLLBACK_TIMEOUT_S, lambda: None)
    except (DrillError, CallTimeout, Exception) as exc:
        message = exc.message if isinstance(exc, DrillError) else f"{exc.__class__.__name__}: {exc}"
        recorder.step_finished(pending, StepStatus.FAILED, None, message)
        recorder.event("rollback.failed", f"rollback {pending.name!r} FAILED: {message}")
        return False, message
    recorder.step_finished(pending, StepStatus.SUCCEEDED, output)
    return True, None


def _with_secrets(args: dict[str, Any]) -> dict[str, Any]:
    """A rollback's args with the secrets redaction took out of the stored copy put back
    from its definition file (named in ``source``) — after a crash this process never
    saw them. What cannot be matched stays masked, and the rollback says so if it fails."""
    from orchestrator.secrets import find_restorable, is_redacted

    source = args.get("source")
    if not isinstance(source, str) or not is_redacted(args):
        return args
    from orchestrator.yamlsrc import load_file

    try:
        definition = load_file(Path(source)).data
    except DrillError:
        return args
    return {k: find_restorable(v, definition) if k in ("document", "activity") else v
            for k, v in args.items()}


def recover_orphans(settings: Settings, db: EvidenceDB,
                    provider_for: Callable[[str], Provider | None],
                    log: Callable[[str], None]) -> list[str]:
    """Recover every orphaned run; returns the ids recovered."""
    running: list[Run] = db.records(Run, "status = ?", (RunStatus.RUNNING.value,))
    recovered = []
    for run in running:
        lock = EnvLock(db, settings.state_path(), run.env)
        if not lock.try_acquire({"run_id": f"recovery of {run.id}"}):
            continue  # its owner is alive
        try:
            fresh: Run | None = db.get(Run, run.id)
            if fresh is None or fresh.status != RunStatus.RUNNING:
                continue
            log(f"recovering run {run.id} (its process {run.pid} on {run.host} died): "
                "playing pending rollbacks")
            _recover(db, fresh, provider_for, log)
            recovered.append(run.id)
        finally:
            lock.release()
    return recovered


def _recover(db: EvidenceDB, run: Run, provider_for: Callable[[str], Provider | None],
             log: Callable[[str], None]) -> None:
    rec = Recorder(db, run)
    steps: list[StepRun] = db.records(StepRun, "run_id = ?", (run.id,))
    scenarios: list[ScenarioRun] = db.records(ScenarioRun, "run_id = ?", (run.id,))
    rec._seq = max((st.seq for st in steps), default=0)
    for st in steps:
        if st.status == StepStatus.RUNNING:
            rec.step_finished(st, StepStatus.FAILED, None, "interrupted: the drill process died")
    provider: Provider | None = None
    error: str | None = None
    ctx = StepContext(run_id=run.id, scenario_id="recovery", mode=run.mode,
                      deadline_s=ROLLBACK_TIMEOUT_S, log=log)
    ok = True
    for pending in rec.pending_rollbacks():
        if pending.kind == "action" and provider is None and error is None:
            try:
                provider = provider_for(run.env)
            except DrillError as exc:
                error = f"cannot build provider for {run.env}: {exc.message}"
        good, detail = play_rollback(rec, pending, provider, ctx)
        log(f"  rollback {pending.name}: {'ok' if good else 'FAILED: ' + str(detail)}")
        ok = ok and good
    if provider is not None:
        provider.close()
    for sc in scenarios:
        if sc.status == RunStatus.RUNNING:
            sc.status, sc.ended_at, sc.met = RunStatus.CRASHED.value, utcnow(), False
            rec.save(sc)
    status = RunStatus.CRASHED if ok else RunStatus.ROLLBACK_FAILED
    note = "the drill process died; pending rollbacks were played by a later invocation"
    if not ok:
        note += "; at least one rollback FAILED"
    rec.update_run(status=status.value, ended_at=utcnow(), exit_code=1,
                   error=error or note)
    rec.event("run.recovered", note)
    rec.finding("run_crashed", f"{run.target} run {run.id} crashed", note,
                "check why the runner died (OOM, host loss, kill) and re-run the drill",
                severity="high" if ok else "critical")
