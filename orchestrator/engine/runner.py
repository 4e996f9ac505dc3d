"""The run state machine: drill → scenarios → steps, with rollbacks that always run.

For each scenario: preconditions (steady state) → probes start → steps (timing marks
taken as they happen) → verification → probes stop → rollbacks (reverse order, then
the runbook's own rollback steps) → measurements vs objectives → findings.

Rollbacks are written as ``pending`` rows before the action they undo starts, and
are played on success, failure, SIGINT/SIGTERM and ``drill abort``. If drill itself
is killed, :mod:`orchestrator.engine.recovery` plays them — ``drill recover``, the
scheduler's start, or this engine before it starts anything on that environment.

The run is shielded from signals except inside scenario bodies: a stop that arrives
during rollbacks or recording is noted and the run starts nothing new afterwards. An
exception that is not a DrillError fails its step (and scenario), the rollbacks run, an
``internal_error`` finding is written and the run stops. See docs/crash-safety.md.
"""

from __future__ import annotations

import getpass
import os
import secrets as _secrets
import socket
import subprocess
import time
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.config import EnvironmentConfig, Settings
from orchestrator.definitions.kinds import DefinitionKind, Mark, RunMode, StepKind, StopPolicy
from orchestrator.durations import format_duration
from orchestrator.engine.calls import CallTimeout, call_with_deadline, sleep_responsive
from orchestrator.engine.experiment import prepare_document, run_experiment_scenario
from orchestrator.engine.experiment_journal import Verdict
from orchestrator.engine.experiment_options import ExperimentOptions
from orchestrator.engine.locks import EnvLock, lock_scope
from orchestrator.engine.objectives import NOT_STARTED
from orchestrator.engine.plan import RunPlan, ScenarioPlan
from orchestrator.engine.recorder import Recorder
from orchestrator.engine.reporter import QuietReporter, Reporter
from orchestrator.engine.rollbacks import (
    ActivityRaised,
    best_effort,
    internal_message,
    locked_error,
    play_rollback,
    record_internal_error,
)
from orchestrator.engine.runlog import LOG_MEDIA_TYPE, LOG_NAME, RunLog
from orchestrator.engine.signals import (
    AbortSignal,
    AbortState,
    abort_on_signals,
    shielded,
    unshielded,
)
from orchestrator.errors import (
    ConfirmationRequired,
    DrillError,
    ExitStatus,
    RollbackFailed,
    StepFailed,
)
from orchestrator.evidence.enums import RunStatus, StepPhase, StepStatus, Trigger, utcnow
from orchestrator.evidence.records import Artifact, Run, ScenarioRun, StepRun
from orchestrator.evidence.writer import EvidenceDB
from orchestrator.testhooks import crashpoint

if TYPE_CHECKING:  # runbooks only (probes, providers, steps): an experiment never needs them
    from collections.abc import Callable

    from orchestrator.definitions.models import Step
    from orchestrator.measure.base import ObservationResult, ScenarioObserver
    from orchestrator.providers.base import Provider, StepContext


def new_run_id() -> str:
    return f"r-{utcnow():%Y%m%d-%H%M%S}-{_secrets.token_hex(3)}"


def operator() -> str:
    return os.environ.get("DRILL_OPERATOR") or getpass.getuser()


def _approval(db: EvidenceDB, opts: RunOptions) -> tuple[str, str]:
    """Who approves the run's changes to a protected environment, and why (as recorded):
    for a run the scheduler started, whoever gave --yes when creating its game day or
    adding its schedule (the run's own --yes is the service's, whose user approved
    nothing: the evidence named it the approver); else whoever gave this run --yes."""
    if opts.gameday_id or opts.schedule_id:  # (a manual run need not import the tables)
        from orchestrator.schedule.records import GameDay, Schedule

        for cls, key, made in (
            (GameDay, opts.gameday_id, "game day {} was created"),
            (Schedule, opts.schedule_id, "schedule {} was added"),
        ):
            row = db.get(cls, key) if key else None
            if row is not None and row.approved_by:
                return row.approved_by, "--yes given when " + made.format(key)
    return operator(), "--yes given on a protected environment"


def git_commit(cwd: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=2,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


@dataclass
class RunOptions:
    """How to run a plan: the command line's choices (confirmation, trigger, chaos's)."""

    yes: bool = False
    trigger: Trigger = Trigger.MANUAL
    keep: bool = False
    schedule_id: str | None = None
    gameday_id: str | None = None
    ack_timeout_s: float | None = None
    experiment: ExperimentOptions = field(default_factory=ExperimentOptions)


@dataclass
class RunOutcome:
    """How a run ended: its status and the exit status the CLI returns."""

    run_id: str
    status: RunStatus
    exit_status: ExitStatus
    error: str | None = None
    scenarios: list[ScenarioRun] = field(default_factory=list)


class EndNotRecorded(DrillError):
    """The run ended (rollbacks played) but its end could not be written to the evidence
    database: ``outcome`` says how it ended, ``run`` is its record as this process holds
    it — what `drill run --json` prints when the store cannot give them back."""

    def __init__(self, message: str, hint: str, outcome: RunOutcome, run: Run) -> None:
        super().__init__(message, hint)
        self.outcome, self.run = outcome, run


class _ScenarioFailed(Exception):
    pass


@dataclass
class _ScenarioEnd:
    """How one scenario ended, as far as the rest of the run cares."""

    row: ScenarioRun
    rollback_failed: bool = False
    fatal: str | None = None  # why the run cannot go on (internal error, unusable env)


class RunEngine:
    """Executes a :class:`RunPlan` against one environment, recording evidence."""

    def __init__(
        self,
        settings: Settings,
        db: EvidenceDB,
        env_name: str,
        env: EnvironmentConfig,
        provider_factory: Any,
        reporter: Reporter | None = None,
    ) -> None:
        self.settings, self.db = settings, db
        self.env_name, self.env = env_name, env
        self.provider_factory = provider_factory
        self.reporter: Reporter = reporter or QuietReporter()
        self.abort = AbortState()
        # `drill abort`'s SIGTERM lands first: what a stop interrupted says the request
        self.abort.explain = lambda: self._abort_reason(fresh=True)
        self._last_db_poll = 0.0
        self._source: Path | None = None  # the runbook being run (see _register_rollback)
        self.provider: Provider | None = None
        self.recorder: Recorder | None = None
        self._started: list[ScenarioRun] = []  # this run's scenario rows, as in memory
        self.log: RunLog | None = None
        self._step_no = 0  # steps started in the current scenario (test hook point names)

    # ---- safety -------------------------------------------------------------------
    def check_safety(self, plan: RunPlan, opts: RunOptions) -> None:
        """A protected environment is changed only with --yes: anything that can still
        change it under chaos's options (``--dry actions`` runs no action, but
        ``--dry probes`` does, and so do controls) needs it."""
        if not self.env.protected or opts.yes:
            return
        from orchestrator.config import protected_note

        note = protected_note(self.env)
        why = plan.change(opts.experiment)
        if why:
            raise ConfirmationRequired(
                f"environment {self.env_name!r} is protected{note} and {plan.target} would "
                f"change it ({why})",
                f"review `drill plan {plan.target} --env {self.env_name}`, then re-run with "
                "--yes (your approval is recorded as evidence)",
            )
        why = plan.lab_change(self.settings, self.env)
        if why:  # the run prepares the lab first: a start or repair changes it too
            raise ConfirmationRequired(
                f"environment {self.env_name!r} is protected{note} and running "
                f"{plan.target} would change its lab first: {why}",
                f"bring the lab up with `drill lab up --env {self.env_name}` first, or re-run "
                "with --yes (your approval is recorded as evidence)",
            )

    # ---- abort plumbing -----------------------------------------------------------
    def _abort_reason(self, fresh: bool = False) -> str | None:
        """Why the run is to stop (None: it is not). ``drill abort`` sets the run's flag
        and then sends SIGTERM, which usually lands first: ``fresh`` (the run's end)
        reads the flag now, so the run says it was `drill abort`, not "received SIGTERM"."""
        if self.abort.requested and not fresh:
            return self.abort.reason
        fresh = fresh and self.abort.requested
        now = time.monotonic()
        if self.recorder is not None and (fresh or now - self._last_db_poll > 1.0):
            self._last_db_poll = now
            try:
                rows = self.db.query(
                    "SELECT abort_requested FROM run WHERE id = ?", (self.recorder.run.id,)
                )
            except Exception:
                if not fresh:
                    raise
                rows = []  # the run stops all the same; its end says why it could not record
            if rows and rows[0][0]:
                self.abort.reason = None  # the signal was its messenger
                self.abort.request("aborted by `drill abort`")
        return self.abort.reason if self.abort.requested else None

    # ---- the run -------------------------------------------------------------------
    def execute(self, plan: RunPlan, opts: RunOptions) -> RunOutcome:
        self.check_safety(plan, opts)
        inner = self.reporter.inner if isinstance(self.reporter, RunLog) else self.reporter
        self.reporter = self.log = RunLog(inner)  # this run's log, kept with it at its end
        run_id = new_run_id()
        lock = EnvLock(
            self.db,
            self.settings.state_path(),
            self.env_name,
            lock_scope(self.settings, self.env_name),
        )
        holder = {
            "run_id": run_id,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "what": "run",
            "env": self.env_name,
        }
        if not lock.try_acquire(holder):
            raise locked_error(self.env_name, lock.holder())
        try:
            # Shielded by default: only scenario bodies are interruptible (signals.py).
            with abort_on_signals(self.abort), shielded(self.abort):
                approval = _approval(self.db, opts)
                self._recover_first(lock, approval[0] if opts.yes else None)
                lock.note(holder)
                return self._execute_locked(plan, opts, run_id, approval)
        finally:
            lock.release()

    def _recover_first(self, lock: EnvLock, approved_by: str | None) -> None:
        """Finish what a dead drill left on this environment before touching it again —
        and on every environment sharing its lock (``lab`` and ``lab-aws`` drive one
        lab: a run that died on one left its faults under the other). A protected one
        among them needs ``--yes`` (``approved_by``), as any change to it does. If an undo
        fails, the run does not start: its faults would land on a degraded environment."""
        from orchestrator.engine.recovery import recover_env, running_envs

        def provider_for(env: str) -> Provider | None:
            if env == self.env_name:
                return self.provider_factory()
            from orchestrator.providers import build_provider

            name, cfg = self.settings.environment(env)
            return build_provider(name, cfg, self.settings)

        recovered = []
        for env in dict.fromkeys([self.env_name, *running_envs(self.db)]):
            if env == self.env_name or lock_scope(self.settings, env) == lock.scope:
                recovered += recover_env(
                    self.settings,
                    self.db,
                    env,
                    provider_for,
                    self.reporter.warning,
                    lambda: self._abort_reason() is not None,
                    lock,
                    approved_by,
                )
        failed = [r for r in recovered if r.status == RunStatus.ROLLBACK_FAILED]
        if failed:  # no new faults on top of an environment left degraded
            raise RollbackFailed(
                f"run {failed[0].id} on {failed[0].env} could not be recovered: a rollback "
                "failed and the environment may be degraded, so nothing was started",
                f"inspect the environment and restore it by hand (`drill runs show "
                f"{failed[0].id}` names the failed rollback), then run again",
            )

    def _execute_locked(
        self, plan: RunPlan, opts: RunOptions, run_id: str, approval: tuple[str, str]
    ) -> RunOutcome:
        run = Run(
            id=run_id,
            target=plan.target,
            target_kind=plan.kind.value,
            env=self.env_name,
            mode=plan.mode.value,
            status=RunStatus.RUNNING,
            trigger=opts.trigger.value,
            who=operator(),
            host=socket.gethostname(),
            pid=os.getpid(),
            started_at=utcnow(),
            definition_hashes=plan.definition_hashes,
            git_commit=git_commit(str(self.settings.base_dir)),
            schedule_id=opts.schedule_id,
            gameday_id=opts.gameday_id,
        )
        self.recorder = rec = Recorder(self.db, run)
        self._started = []
        _remember_secrets(plan)
        rec.save(run)
        rec.environment(str(self.env.provider), bool(self.env.protected))
        if self.env.protected and opts.yes:
            run.approved_by = approval[0]
            rec.approval(*approval)
        rec.event(
            "run.start",
            f"{plan.kind.value} {plan.target} started on {self.env_name} ({plan.mode.value})",
            data={"trigger": opts.trigger.value},
        )
        self.reporter.run_started(run_id, plan.title, self.env_name, len(plan.scenarios))
        outcome = RunOutcome(run_id, RunStatus.RUNNING, ExitStatus.OK)
        failed = rollback_failed = False
        error: str | None = None
        try:
            for sc in plan.scenarios:
                if self._abort_reason() is not None:
                    break  # a stop during the previous scenario: start nothing new
                end = self._run_scenario(plan, sc, opts)
                outcome.scenarios.append(end.row)
                rollback_failed = rollback_failed or end.rollback_failed
                if end.fatal is not None:
                    failed, error = True, end.fatal
                    rec.event("run.stop", f"stopping after {sc.scenario_id}: {end.fatal}")
                    break
                if end.row.status != RunStatus.SUCCEEDED:
                    failed = True
                    if plan.stop_policy is StopPolicy.STOP and not self.abort.requested:
                        rec.event(
                            "run.stop", f"stopping after {sc.scenario_id} (stop_policy: stop)"
                        )
                        break
        except DrillError as exc:
            failed, error = True, exc.message
            message, hint = exc.message, exc.hint or "fix the environment and run again"
            best_effort(  # the store itself may be what failed: the run still ends
                rec,
                "the step_failed finding",
                lambda: rec.finding("step_failed", f"{plan.target} could not run", message, hint),
            )
        except Exception as exc:  # drill's own failure outside a scenario (recording…)
            failed, error = True, internal_message(exc)
            record_internal_error(rec, f"{plan.target}: {error}", None)
        finally:
            if self.provider is not None:
                self.provider.close()
        started = {row.scenario_id for row in outcome.scenarios}
        left = [sc.scenario_id for sc in plan.scenarios if sc.scenario_id not in started]
        if left:  # an aborted run's evidence held the scenarios it ran, and no word of these
            said = f"not started (the run ended before them): {', '.join(left)}"
            best_effort(rec, "the scenarios not started", lambda: rec.event(NOT_STARTED, said))
        self._end_run(outcome, failed, rollback_failed, error)
        return outcome

    def _end_run(
        self, outcome: RunOutcome, failed: bool, rollback_failed: bool, error: str | None
    ) -> None:
        assert self.recorder is not None
        if self._abort_reason(fresh=True) is not None:
            status = RunStatus.ROLLBACK_FAILED if rollback_failed else RunStatus.ABORTED
            code = ExitStatus.FAILED if rollback_failed else ExitStatus.ABORTED
            error = self.abort.reason if error is None or not failed else error
        elif rollback_failed:
            status, code = RunStatus.ROLLBACK_FAILED, ExitStatus.FAILED
            error = error or "a rollback failed: the environment may be degraded"
        elif failed:
            status, code = RunStatus.FAILED, ExitStatus.FAILED
        else:
            status, code = RunStatus.SUCCEEDED, ExitStatus.OK
        outcome.status, outcome.exit_status, outcome.error = status, code, error
        try:
            log = [] if self.log is None else [self._log_artifact(status, int(code), error)]
            self.recorder.update_run(
                *log, status=status.value, ended_at=utcnow(), exit_code=int(code), error=error
            )
            self.recorder.event("run.end", f"run {status.value}", data={"exit_code": int(code)})
        except Exception as exc:
            run = self.recorder.run
            run.status, run.exit_code, run.error = status.value, int(code), error
            run.ended_at = run.ended_at or utcnow()
            for row in self._started:  # one whose end could not be recorded ended so too
                if row.status == RunStatus.RUNNING.value:
                    row.status = status.value
            outcome.scenarios = list(self._started)
            raise EndNotRecorded(
                f"run {outcome.run_id} ended {status.value} (rollbacks played) but its end "
                f"could not be recorded: {internal_message(exc)}",
                (exc.hint if isinstance(exc, DrillError) and exc.hint else None)
                or "fix the evidence database (reachable, space, permissions), then `drill "
                "recover` closes the run",
                outcome,
                run,
            ) from None

    def _log_artifact(self, status: RunStatus, code: int, error: str | None) -> Artifact:
        """The run log (:mod:`orchestrator.engine.runlog`), written with the run's end."""
        assert self.recorder is not None and self.log is not None
        self.log.ended(status.value, code, error)
        return self.recorder.artifact_record(LOG_NAME, self.log.content(), LOG_MEDIA_TYPE)

    # ---- one scenario ---------------------------------------------------------------
    def _run_scenario(self, plan: RunPlan, sc: ScenarioPlan, opts: RunOptions) -> _ScenarioEnd:
        rec = self.recorder
        assert rec is not None
        crashpoint(f"scenario:{sc.scenario_id}:start")
        row = rec.start_scenario(
            sc.seq,
            sc.scenario_id,
            sc.ref,
            sc.kind.value,
            sc.objectives.rto,
            sc.objectives.rpo,
            sc.objectives_from,
        )
        self._started.append(row)
        self.reporter.scenario_started(sc.scenario_id, sc.title)
        marks: dict[str, datetime] = {}
        error: str | None = None
        fatal: str | None = None
        internal = False
        status = RunStatus.SUCCEEDED
        result: ObservationResult | None = None  # what a runbook's probes saw
        ctx: StepContext | None = None  # what a runbook's steps are given
        rollback_ok = True
        why = sc.skipped(plan.mode)
        if why:
            row.status, row.ended_at = RunStatus.SUCCEEDED, utcnow()
            row.notes = {**(row.notes or {}), "skipped": why}
            rec.save(row)
            rec.event(
                "scenario.skip",
                f"{sc.scenario_id} skipped in isolated mode ({why})",
                row,
                data={"skipped": why},
            )
            self.reporter.scenario_finished(sc.scenario_id, {"status": "skipped", "skipped": why})
            return _ScenarioEnd(row)
        self._step_no = 0
        try:
            with unshielded(self.abort):
                if sc.kind is DefinitionKind.EXPERIMENT:
                    status, error, rollback_ok = self._run_experiment(sc, row, opts)
                else:
                    ctx = self._step_context(sc, plan.mode, marks, opts.keep)
                    observer = self._observer(sc)
                    try:
                        self._runbook_body(sc, row, plan.mode, ctx, observer)
                    finally:
                        result = self._stop_observer(observer, row)
        except AbortSignal as exc:
            error, status = self.abort.why() or exc.reason, RunStatus.ABORTED
        except (_ScenarioFailed, StepFailed) as exc:
            error, status = str(exc), RunStatus.FAILED
        except DrillError as exc:  # the environment cannot be used (e.g. lab up failed)
            error, status, fatal = exc.message, RunStatus.FAILED, exc.message
        except Exception as exc:  # a bug or a host fault: a failed step, rollbacks run
            error = fatal = internal_message(exc)
            # a python activity's exception failed a step of the runbook: that is said too
            status, internal = RunStatus.FAILED, not isinstance(exc, ActivityRaised)
            what = "drill failed internally" if internal else "a python activity raised"
            record_internal_error(rec, f"{sc.scenario_id}: {error}", row, what)
        self._settle(rec, row)
        crashpoint(f"scenario:{sc.scenario_id}:rollbacks")
        outcome = status  # how the scenario ended: what its objectives are judged on
        rollback_ok = (
            self._play_rollbacks(
                row, lambda: ctx or self._step_context(sc, plan.mode, marks, opts.keep)
            )
            and rollback_ok
        )
        if not rollback_ok:
            status = RunStatus.ROLLBACK_FAILED
            rec.finding(
                "rollback_failed",
                f"{sc.scenario_id}: rollback failed",
                "one or more rollback steps failed; the environment may be degraded",
                "inspect the environment now and restore it by hand; see the "
                "failed rollback step in `drill runs show`",
                row,
                "critical",
            )
        self._finish_scenario(sc, row, marks, result, status, outcome, error, internal)
        crashpoint(f"scenario:{sc.scenario_id}:end")
        return _ScenarioEnd(row, not rollback_ok, fatal)

    def _step_context(
        self, sc: ScenarioPlan, mode: RunMode, marks: dict[str, datetime], keep: bool
    ) -> StepContext:
        """What a runbook's steps and a scenario's rollbacks are given (an experiment's own
        steps are chaoslib's: it needs one only if a rollback of it is left to play)."""
        from orchestrator.providers.base import StepContext

        assert self.recorder is not None
        return StepContext(
            run_id=self.recorder.run.id,
            scenario_id=sc.scenario_id,
            mode=mode.value,
            deadline_s=0,
            marks=marks,
            should_abort=lambda: self._abort_reason() is not None,
            log=self.reporter.note,
            keep=keep,
        )

    def _provider(self) -> Provider:
        """The environment's provider, built and prepared on first need.

        A plain experiment or a runbook of inline activities never touches it, so they
        run without, e.g., bringing the lab up.
        """
        if self.provider is None:
            self.provider = self.provider_factory()
            self.provider.prepare(self.reporter.note)
        return self.provider

    def _observer(self, sc: ScenarioPlan) -> ScenarioObserver:
        assert self.recorder is not None
        observer = None
        if self._needs_observer(sc):
            observer = self._provider().observer(
                sc.scenario_id, sc.runbook.scenario if sc.runbook else None, self.recorder.run.id
            )
        if observer is None:
            from orchestrator.measure.base import MarksObserver

            observer = MarksObserver()
        if hasattr(observer, "status_sink"):  # live probe status line (measure/observer.py)
            observer.status_sink = self.reporter.probe_status
        return observer

    @staticmethod
    def _needs_observer(sc: ScenarioPlan) -> bool:
        if sc.runbook is None:
            return False
        return any(s.mark or s.until for s in sc.runbook.steps)

    def _stop_observer(self, observer: ScenarioObserver, row: ScenarioRun) -> ObservationResult:
        try:
            return observer.stop()
        except Exception as exc:  # measurement trouble must not hide the run's result
            assert self.recorder is not None
            self.recorder.event("measure.error", f"measurement failed: {exc}", row)
            from orchestrator.measure.base import ObservationResult

            return ObservationResult(notes={"measurement_error": str(exc)})

    def _runbook_body(
        self,
        sc: ScenarioPlan,
        row: ScenarioRun,
        mode: RunMode,
        ctx: StepContext,
        observer: ScenarioObserver,
    ) -> None:

        assert sc.runbook is not None and self.recorder is not None
        # where a crashed run's recovery finds the secrets of its rollbacks
        self._source = sc.path.resolve() if sc.path else None
        for step in sc.preconditions_for(mode):
            self._run_step(row, StepPhase.PRECONDITION, step, ctx, observer)
        observer.start()
        for step in reversed(sc.rollback_for(mode)):  # registered now, played last
            self._register_rollback(row, step.title, step.action, step.args, None, step)
        for step in sc.steps_for(mode):
            self._run_step(row, StepPhase.STEP, step, ctx, observer)
        for vstep in sc.verification_steps(mode):
            self._run_step(row, StepPhase.VERIFICATION, vstep, ctx, observer)

    def _register_rollback(
        self,
        row: ScenarioRun,
        name: str,
        action: str | None,
        args: dict[str, Any],
        of: int | None,
        step: Step | None = None,
    ) -> StepRun:
        assert self.recorder is not None
        if action is None and step is not None and step.activity:
            from orchestrator.engine.rollbacks import run_directory

            source = {"source": str(self._source)} if self._source else {}
            args = {"activity": step.activity, **source, **run_directory()}
            return self.recorder.pending_rollback(row, name, "activity", "activity", args, of)
        return self.recorder.pending_rollback(row, name, "action", action or "", args, of)

    def _run_step(
        self,
        row: ScenarioRun,
        phase: StepPhase,
        step: Step,
        ctx: StepContext,
        observer: ScenarioObserver,
    ) -> None:
        from orchestrator.actions import ACTIONS, ActivityKind, rollback_of

        rec = self.recorder
        assert rec is not None
        if self.abort.requested:  # never start a step after a stop
            raise AbortSignal(self.abort.reason or "aborted")
        self._step_no += 1
        point = f"step:{row.scenario_id}:{self._step_no}"
        crashpoint(f"{point}:start")
        args = (
            ACTIONS.get(step.action).validate_args(step.args).model_dump()
            if step.action
            else dict(step.args)
        )
        self.reporter.step_started(phase.value, step.title)
        run = rec.step_started(row, phase, step.title, step.kind.value, step.action, args)
        if step.mark is Mark.FAULT_INJECTED:
            self._mark(row, ctx, observer, step.mark.value, run)
        pending: StepRun | None = None
        if (
            step.kind is StepKind.ACTION
            and step.action
            and step.rollback
            and ACTIONS.get(step.action).kind is ActivityKind.ACTION
        ):
            undo = rollback_of(step.action, args)
            if undo is not None:
                pending = self._register_rollback(
                    row, f"undo {step.title}", undo[0], undo[1], run.id
                )
        try:
            output = self._attempt(step, args, ctx, observer, run)
        except (StepFailed, CallTimeout) as exc:
            rec.step_finished(run, StepStatus.FAILED, None, str(exc))
            self.reporter.step_finished(phase.value, step.title, "failed", str(exc))
            rec.event("step.failed", f"{step.title}: {exc}", row)
            raise _ScenarioFailed(f"{phase.value} {step.title!r} failed: {exc}") from None
        except AbortSignal as exc:
            reason = self.abort.why() or exc.reason  # (`drill abort`, not its SIGTERM)
            rec.step_finished(run, StepStatus.FAILED, None, f"interrupted: {reason}")
            self.reporter.step_finished(phase.value, step.title, "interrupted", reason)
            raise
        except Exception as exc:  # not drill's own: recorded as this step's failure
            message = internal_message(exc)
            self.reporter.step_finished(phase.value, step.title, "failed", message)
            rec.step_finished(run, StepStatus.FAILED, None, message)
            raise
        if pending is not None and isinstance(output, dict) and output.get("rollback_args"):
            pending.args = {**(pending.args or {}), **output["rollback_args"]}
            rec.save(pending)
        skipped = isinstance(output, dict) and output.get("skipped") is True
        rec.step_finished(run, StepStatus.SKIPPED if skipped else StepStatus.SUCCEEDED, output)
        if step.action and step.kind is StepKind.ACTION:
            observer.observe_step(step.action, args, output)
        self.reporter.step_finished(
            phase.value,
            step.title,
            "skipped" if skipped else "succeeded",
            output.get("reason") if skipped else None,
        )
        if step.mark is Mark.SERVICE_RESTORED:
            self._mark(row, ctx, observer, step.mark.value, run, at=run.ended_at)
        crashpoint(f"{point}:end")

    def _mark(
        self,
        row: ScenarioRun,
        ctx: StepContext,
        observer: ScenarioObserver,
        name: str,
        step: StepRun,
        at: datetime | None = None,
    ) -> None:
        assert self.recorder is not None
        when = at or step.started_at or utcnow()
        ctx.marks.setdefault(name, when)
        observer.mark(name, when)
        self.recorder.event(f"mark.{name}", f"{name} at {when.isoformat()}", row, at=when)
        if name == Mark.FAULT_INJECTED.value and row.fault_injected_at is None:
            # on the scenario's row now, not only when it ends: a run whose drill dies
            # with its fault in place (recovered as `crashed`) said "fault injected: —"
            row.fault_injected_at = ctx.marks[name]
            self.recorder.save(row)

    def _attempt(
        self,
        step: Step,
        args: dict[str, Any],
        ctx: StepContext,
        observer: ScenarioObserver,
        run: StepRun,
    ) -> Any:
        last: Exception | None = None
        for attempt in range(step.retries + 1):
            run.attempts = attempt + 1
            try:
                return self._dispatch(step, args, ctx, observer)
            except (StepFailed, CallTimeout) as exc:
                last = exc
                if attempt < step.retries:
                    sleep_responsive(min(2.0**attempt, 10.0), self._abort_reason)
            except DrillError as exc:
                last = StepFailed(exc.message, exc.hint)
                if attempt < step.retries:
                    sleep_responsive(min(2.0**attempt, 10.0), self._abort_reason)
        assert last is not None
        raise last if isinstance(last, StepFailed | CallTimeout) else StepFailed(str(last))

    def _dispatch(
        self, step: Step, args: dict[str, Any], ctx: StepContext, observer: ScenarioObserver
    ) -> Any:
        ctx.deadline_s = step.timeout
        if step.kind is StepKind.WAIT:
            if step.until:
                until = step.until
                at = call_with_deadline(
                    lambda: observer.wait_until(until, step.timeout, lambda: self.abort.requested),
                    step.timeout + 5,
                    self._abort_reason,
                )
                return {"condition": step.until, "at": at.isoformat()}
            assert step.duration is not None
            sleep_responsive(step.duration, self._abort_reason)
            return {"slept_s": step.duration}
        if step.kind is StepKind.MANUAL:
            return self._manual(step)
        if step.activity is not None:
            activity = step.activity
            return call_with_deadline(
                lambda: _run_activity(activity, self._chaos_config()),
                step.timeout,
                self._abort_reason,
            )
        assert step.action is not None
        action = step.action
        provider = self._provider()
        why = provider.skip_reason(action, args)
        if why:  # e.g. SQL with `probes: none`: recorded as skipped, never failed
            return {"skipped": True, "reason": why}
        output = call_with_deadline(
            lambda: provider.execute(action, args, ctx), step.timeout, self._abort_reason
        )
        if step.kind is StepKind.PROBE and isinstance(output, dict) and output.get("ok") is False:
            raise StepFailed(f"probe {action} not satisfied: {output.get('reason', output)}")
        return output

    def _chaos_config(self) -> dict[str, Any]:
        assert self.recorder is not None
        return {  # (experiment.DRILL_KEYS: no --var or var file overrides them)
            "drill_env": self.env_name,
            "drill_run_id": self.recorder.run.id,
            "drill_config": self.settings.source,
            # without it, orchestrator.chaos activities ran live in an isolated run: the
            # real replica promoted and the production record repointed
            "drill_mode": self.recorder.run.mode,
        }

    def _manual(self, step: Step) -> dict[str, Any]:
        """Wait for an operator: a prompt on a terminal, or `drill ack RUN_ID`."""
        from orchestrator.engine.ack import acked_since, wait_for_ack

        assert self.recorder is not None
        run_id = self.recorder.run.id
        self.recorder.event(
            "manual.waiting",
            f"waiting for operator: {step.title}",
            data={"instructions": step.instructions},
        )
        since, deadline = utcnow(), time.monotonic() + step.timeout

        def watch() -> str | None:
            """While the prompt waits: a stop or the step's timeout ends it (it waited for
            ever, the fault in place), and so does a `drill ack` (not looked for)."""
            reason = self._abort_reason()
            if reason:
                raise AbortSignal(reason)
            if time.monotonic() > deadline:
                raise CallTimeout(f"timed out after {step.timeout:g}s")
            return acked_since(self.db, run_id, since)

        try:
            answer = self.reporter.prompt_ack(step.instructions or step.title, step.timeout, watch)
        except CallTimeout:
            raise StepFailed(
                f"no answer at the prompt within {format_duration(step.timeout)}",
                f"re-run when an operator can do {step.title!r}",
            ) from None
        if isinstance(answer, str):
            return {"acknowledged_by": answer, "via": "drill ack"}
        if answer is True:
            return {"acknowledged_by": operator(), "via": "prompt"}
        if answer is False:
            raise StepFailed(f"operator declined {step.title!r}")
        # nobody to prompt here (--json, no terminal): the operator must still be told
        self.reporter.warning(
            f"manual step {step.title!r} waits for an operator"
            + (f": {step.instructions}" if step.instructions else "")
            + f" — when done, run `drill ack {run_id}` "
            f"(within {format_duration(step.timeout)})"
        )
        by = wait_for_ack(self.db, run_id, step.timeout, self._abort_reason)
        if by is None:
            raise StepFailed(
                f"no acknowledgement within {step.timeout:g}s",
                f"acknowledge with `drill ack {run_id}`",
            )
        return {"acknowledged_by": by, "via": "drill ack"}

    def _run_experiment(
        self, sc: ScenarioPlan, row: ScenarioRun, opts: RunOptions
    ) -> tuple[RunStatus, str | None, bool]:
        """Run it through chaoslib; chaos's journal status decides drill's (DESIGN 13)."""
        assert sc.experiment is not None and self.recorder is not None
        doc = prepare_document(sc.experiment.document, self._chaos_config())
        eopts = opts.experiment
        if sc.vars or sc.var_files:  # the drill's values first; the command line wins
            eopts = replace(
                eopts, var={**sc.vars, **eopts.var}, var_files=[*sc.var_files, *eopts.var_files]
            )
        from orchestrator.secrets import remember_from

        remember_from(eopts.var)  # a --var secret is masked wherever it shows up
        if eopts.dry is not None:  # every view says "dry run"; objectives.judge reads it
            row.notes = {**(row.notes or {}), "dry": eopts.dry.value}
        from orchestrator.engine.experiment_options import aws_environment

        with aws_environment(self.env):  # chaosaws activities reach this env's endpoint
            out = run_experiment_scenario(
                doc,
                self.recorder,
                row,
                self.reporter,
                eopts,
                self.abort,
                str(sc.path.resolve()) if sc.path else None,
            )
        reading = out.reading
        if reading.verdict is Verdict.ABORTED:
            self.abort.request(out.error or reading.reason or "experiment interrupted")
            raise AbortSignal(self.abort.reason or "interrupted")
        if reading.verdict is Verdict.SUCCEEDED:
            return RunStatus.SUCCEEDED, None, out.rollbacks_ok
        # the finding (_finish_scenario) names the deviating probe or the steady state
        return RunStatus.FAILED, reading.reason, out.rollbacks_ok

    def _settle(self, rec: Recorder, row: ScenarioRun) -> None:
        """The step a stop (or its timeout) interrupted may still be acting: it ends
        first, or its timeout passes, or a further stop says not to wait (calls.settle)."""
        from orchestrator.engine.calls import settle

        stops = self.abort.count
        # warnings: seen under --json too (drill seems to hang after the stop otherwise)
        self.abort.settling = True
        try:
            left = settle(self.reporter.warning, lambda: self.abort.count > stops)
        finally:
            self.abort.settling = False
        if left:
            best_effort(
                rec,
                "that a step was still running",
                lambda: rec.event(
                    "step.still_running",
                    "the interrupted step's action was still running when the rollbacks "
                    "began: it may act after its undo; check what it changes",
                    row,
                ),
            )
            self.reporter.warning(
                "the step that was stopped or timed out is still running (it cannot be "
                "interrupted): it may act after the rollbacks; check what it changes"
            )

    def _play_rollbacks(self, row: ScenarioRun, context: Callable[[], StepContext]) -> bool:
        """Play this scenario's pending rollbacks, newest first. True if all succeeded.

        Every one of them is played even after a stop (a stop starts no new *fault*; an
        undo left unplayed would leave the environment broken). ``context`` gives what
        they are played with: the runbook's steps' own, or one made for them."""
        assert self.recorder is not None
        ok = True
        ctx: StepContext | None = None
        for pending in self.recorder.pending_rollbacks():  # from memory: the store may fail
            if pending.scenario_run_id != row.id:
                continue
            self.reporter.step_started("rollback", pending.name)
            ctx = ctx or context()
            provider: Provider | None = None
            if pending.kind == "action":
                try:
                    provider = self._provider()
                except DrillError as exc:
                    self.reporter.note(f"no provider for rollbacks: {exc.message}")
            good, detail = play_rollback(self.recorder, pending, provider, ctx)
            self.reporter.step_finished(
                "rollback", pending.name, "succeeded" if good else "failed", detail
            )
            ok = ok and good
        return ok

    def _finish_scenario(
        self,
        sc: ScenarioPlan,
        row: ScenarioRun,
        marks: dict[str, datetime],
        result: ObservationResult | None,
        status: RunStatus,
        outcome: RunStatus,
        error: str | None,
        internal: bool = False,
    ) -> None:
        """Record how the scenario ended (``status``) and its verdict, judged on how its
        own steps ended (``outcome``: a failed rollback does not unmeasure anything)."""
        from orchestrator.engine.objectives import judge, rerun_command

        rec = self.recorder
        assert rec is not None
        row.fault_injected_at = marks.get("fault_injected")
        restored = result.service_restored_at if result is not None else None
        row.service_restored_at = restored or marks.get("service_restored")
        if result is not None:  # a runbook's probes (an experiment is measured by chaos's)
            row.rto_s, row.rpo_s, row.lost_writes = result.rto_s, result.rpo_s, result.lost_writes
            rec.observation(row, result)
        verdict = judge(row, outcome)
        row.met = verdict.met
        notes = {**(row.notes or {}), **(result.notes if result is not None else {})}
        if error:
            notes["error"] = error
        row.notes = notes or None
        if status is RunStatus.SUCCEEDED and verdict.met is False:
            status = RunStatus.FAILED
        row.status, row.ended_at = status.value, utcnow()
        rec.save(row)
        for miss in verdict.misses:
            rec.finding(
                "objective_missed",
                f"{sc.scenario_id}: {miss.title}",
                miss.detail,
                miss.corrective_action,
                row,
            )
        if error and status is RunStatus.FAILED and not verdict.misses and not internal:
            rec.finding(
                "step_failed",
                f"{sc.scenario_id}: {error}",
                error,
                "fix the cause, then re-run the scenario with "
                f"`{rerun_command(rec.run, sc.scenario_id)}`",
                row,
                "medium",
            )
        rec.event("scenario.end", f"scenario {sc.scenario_id} {status.value}", row)
        self.reporter.scenario_finished(
            sc.scenario_id,
            {
                "status": status.value,
                "rto_s": row.rto_s,
                "rpo_s": row.rpo_s,
                "lost_writes": row.lost_writes,
                "met": row.met,
                "objective": row.objective_rto_s is not None or row.objective_rpo_s is not None,
                "error": error,
                **({"dry": row.notes["dry"]} if row.notes and row.notes.get("dry") else {}),
            },
        )


def _remember_secrets(plan: RunPlan) -> None:
    """Secrets the definitions hold are masked wherever they show up (step output, errors)."""
    from orchestrator.secrets import remember_from

    for sc in plan.scenarios:
        if sc.experiment is not None:
            remember_from(sc.experiment.document)
        elif sc.runbook is not None:
            remember_from(sc.runbook.model_dump(mode="json"))


def _run_activity(activity: dict[str, Any], configuration: dict[str, Any]) -> Any:
    """An inline Chaos Toolkit activity; its failure is a step failure — and an exception
    its python function raised other than ``ActivityFailed`` is not drill's own either:
    :class:`ActivityRaised` (chaoslib wraps both in ``ActivityFailed``). So is a
    ``SystemExit`` (a library calling ``sys.exit()``, argparse's exit on bad arguments),
    which chaoslib lets through: it ended drill — exit 0 for ``sys.exit()``, nothing
    printed, the run left ``running`` with its rollbacks unplayed and the fault in place.
    Any other exception that is not an ``Exception`` (``GeneratorExit``, a
    ``KeyboardInterrupt`` the activity raised itself, a library's own ``BaseException``)
    did the same, with a traceback: it is an :class:`ActivityRaised` too. A stop drill
    asked for (:class:`AbortSignal`) is not the activity's and goes on as it is."""

    from chaoslib.activity import run_activity
    from chaoslib.exceptions import ActivityFailed

    from orchestrator.engine.calls import keep_std_fds, not_a_forked_copy

    try:
        return run_activity(activity, configuration, {})
    except SystemExit as exc:
        raise ActivityRaised(f"SystemExit: the activity called sys.exit({exc.code!r})") from None
    except AbortSignal:
        raise
    except ActivityFailed as exc:
        cause = exc.__context__
        python = (activity.get("provider") or {}).get("type") == "python"
        if python and isinstance(cause, Exception) and not isinstance(cause, ActivityFailed):
            raise ActivityRaised(str(exc)) from cause
        raise StepFailed(f"activity failed: {exc}") from None
    except Exception:
        raise
    except BaseException as exc:
        raise ActivityRaised(internal_message(exc).removeprefix("internal error: ")) from exc
    finally:
        not_a_forked_copy()
        keep_std_fds()  # (sys.stdout and sys.stderr: call_with_deadline's, which waits)
