"""Run a Chaos Toolkit experiment through chaoslib, as ``chaos run`` would, with
drill's guarantees on top.

chaoslib runs the experiment with ``chaos run``'s options (vars, var files,
strategies, ``--dry``, controls: :mod:`orchestrator.engine.experiment_options`) and
keeps its journal, which drill stores as evidence and writes to ``--journal-path``.
drill hooks in only through chaoslib's public extension points:

* a :class:`chaoslib.run.RunEventHandler` commits every activity's start and end to
  the evidence DB as it happens;
* the same handler's ``started`` event (called on the running thread once chaoslib
  has installed its own signal handlers) puts drill's SIGINT/SIGTERM/SIGHUP handler
  back, and so does each activity's end (one may have changed them), so a signal or
  ``drill abort`` stops the run the same way for runbooks and experiments.
  chaoslib's SIGUSR1/SIGUSR2 meanings are left alone.

When drill's :class:`AbortSignal` stops chaoslib, drill plays the rollbacks itself
(if the rollback strategy says so; drill's default, ``always``, does) and closes the
journal as ``interrupted``. ``tests/unit/test_chaoslib_contract.py`` fails if a
chaoslib release changes any of this.
"""

from __future__ import annotations

import contextlib
import json
import logging
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.engine import experiment_journal as ej
from orchestrator.engine.calls import keep_std_fds, keep_std_streams, not_a_forked_copy
from orchestrator.engine.experiment_options import ExperimentOptions, resolve_runtime
from orchestrator.engine.experiment_stops import StopWitness
from orchestrator.engine.recorder import Recorder, recordable
from orchestrator.engine.reporter import Reporter
from orchestrator.engine.signals import (
    AbortSignal,
    AbortState,
    finished,
    let_finish,
    shielded,
    stop_signals,
)
from orchestrator.evidence.enums import StepPhase, StepStatus, utcnow
from orchestrator.evidence.records import ScenarioRun, StepRun
from orchestrator.secrets import redact_bytes

ROLLBACK_KIND = "experiment-rollbacks"


@dataclass
class ExperimentOutcome:
    """An experiment run through chaoslib: chaos's journal and drill's reading of it."""

    journal: dict[str, Any]
    reading: ej.Reading
    rollbacks_ok: bool
    error: str | None = None
    failed_rollbacks: list[str] = field(default_factory=list)


def _quiet_chaoslib() -> None:
    """chaoslib logs to the root "chaostoolkit" logger; drill reports progress itself."""
    for name in ("chaostoolkit", "chaoslib"):
        logger = logging.getLogger(name)
        logger.setLevel(logging.ERROR)
        logger.propagate = False
        if not logger.handlers:
            logger.addHandler(logging.NullHandler())


def prepare_document(document: dict[str, Any], extra_config: dict[str, Any]) -> dict[str, Any]:
    import copy

    doc = copy.deepcopy(document)
    doc.setdefault("configuration", {}).update(extra_config)
    return doc


#: configuration keys drill sets on the experiments it runs (runner._chaos_config)
DRILL_KEYS = ("drill_env", "drill_run_id", "drill_config", "drill_mode")


def experiment_vars(
    var: dict[str, Any] | None, var_files: list[str] | None, doc: dict[str, Any] | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(configuration vars, secret vars) exactly as ``chaos run`` merges them — except
    drill's own keys in ``doc``'s configuration, which they may not override: a var file
    saying ``drill_env: prod`` sent the run's actions to another environment than the
    one it was approved and recorded on (chaoslib lets vars override configuration).
    The secret vars are remembered for redaction."""
    from chaoslib import merge_vars

    from orchestrator.secrets import remember_from

    config_vars, secret_vars = merge_vars(dict(var or {}), list(var_files or []))
    # a var file's `secrets:` (where chaos users keep an environment's): masked wherever
    # they show up, as the experiment's own secrets are — a probe printing one left it in
    # the journal and the evidence
    remember_from({"secrets": secret_vars})
    config = (doc or {}).get("configuration") or {}
    return {**config_vars, **{k: config[k] for k in DRILL_KEYS if k in config}}, dict(secret_vars)


def _var_files_readable(paths: list[str]) -> None:
    """The run's var files, read again to play its rollbacks: one that no longer reads
    (removed, or a path relative to another directory) is a DrillError. chaoslib only
    logs it and goes on with the experiment's defaults — the rollbacks then undid
    something the run never changed, said 'ok', and the fault stayed in place."""
    from orchestrator.errors import DrillError

    for path in paths:
        try:
            with open(path, "rb"):
                pass
        except OSError as exc:
            raise DrillError(
                f"not played: the run's --var-file {path} cannot be read "
                f"({exc.strerror or exc}); without it the rollbacks would act on the "
                "experiment's defaults, not on what the run changed — undo the run's "
                "changes by hand"
            ) from None


def run_rollback_activities(
    doc: dict[str, Any], vars_: dict[str, Any] | None = None, handler: Any = None
) -> list[dict[str, Any]]:
    """Play an experiment's rollbacks outside chaoslib's runner (abort / recovery).

    ``vars_`` is the pending row's ``{"var": …, "var_files": […]}``, so a recovery
    substitutes the same ``${…}`` values the run did. ``handler`` (a
    :func:`rollback_handler`) records each rollback activity's row as chaoslib's own
    run does: an aborted or recovered experiment's undos were played with no trace of
    what each did.
    """
    from concurrent.futures import ThreadPoolExecutor

    from chaoslib.configuration import load_configuration, load_dynamic_configuration
    from chaoslib.rollback import run_rollbacks
    from chaoslib.run import EventHandlerRegistry
    from chaoslib.secret import load_secrets
    from chaoslib.types import Dry

    _quiet_chaoslib()
    _var_files_readable((vars_ or {}).get("var_files") or [])
    dry = doc.get("dry")
    dry = Dry.from_string(dry) if isinstance(dry, str) else dry
    config_vars, secret_vars = experiment_vars(
        (vars_ or {}).get("var"), (vars_ or {}).get("var_files"), doc
    )
    configuration = load_configuration(doc.get("configuration", {}), config_vars)
    secrets = load_secrets(doc.get("secrets", {}), configuration, secret_vars)
    configuration = load_dynamic_configuration(configuration, secrets)
    registry = None
    if handler is not None:
        registry = EventHandlerRegistry()
        registry.register(handler)
    runs: list[dict[str, Any]] = []
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            for result in run_rollbacks(
                doc, configuration, secrets, pool, dry, event_registry=registry, runs=runs
            ):
                run = result.result() if hasattr(result, "result") else result
                if run is not None and run not in runs:
                    runs.append(run)
    except (Exception, AbortSignal):
        raise
    except BaseException as exc:  # one chaoslib lets through (GeneratorExit, a library's
        # own): it ended drill, or `drill recover`, with a traceback, the run unclosed
        from orchestrator.engine.rollbacks import ActivityRaised

        raise ActivityRaised(f"{exc.__class__.__name__}: {exc}") from exc
    return runs


def rollback_handler(
    recorder: Recorder, scenario: ScenarioRun, reporter: Reporter, dry: Any = None
) -> Any:
    """The handler that records rollback activities drill plays itself (a recovery):
    each gets its ``rollback`` step row, as under chaoslib's own run."""
    from chaoslib.types import Dry

    handler = _event_handler(recorder, scenario, reporter, None)
    handler.rollbacks()
    handler.dry = Dry.from_string(dry) if isinstance(dry, str) else dry
    return handler


def _event_handler(
    recorder: Recorder,
    scenario: ScenarioRun,
    reporter: Reporter,
    abort: AbortState | None,
    pending: StepRun | None = None,
    witness: StopWitness | None = None,
) -> Any:
    """The handler, with the test hook's points where a runbook has them (crash safety:
    ``step:ID:N:start|end`` for each activity before the rollbacks;
    ``rollback:experiment-rollbacks:start`` once chaoslib begins them, the row
    ``running``; ``…:N:start|end`` around each; ``…:end`` when all ran, unrecorded)."""
    from chaoslib.run import RunEventHandler

    from orchestrator.engine.rollbacks import best_effort
    from orchestrator.testhooks import crashpoint

    undo = f"rollback:{ROLLBACK_KIND}"

    class Journaling(RunEventHandler):
        """Commits each activity's start and end as it happens; keeps drill's signals."""

        def __init__(self) -> None:
            # by name and thread: chaoslib starts and completes each activity on one
            # thread, and background activities of one name run at once on several (a
            # `ref` to a background action): keyed by name alone, one row stayed
            # running for good in a run that succeeded
            self.open: dict[tuple[str, int], StepRun] = {}
            self.phase = StepPhase.PRECONDITION
            self.rollbacks_started = False
            self.journal: dict[str, Any] | None = None
            self.count = 0  # activities started in this phase group (hook point names)
            self.last: str | None = None  # the last activity that completed
            self.shielded_before = False
            self.dry: Any = None  # the run's --dry (chaoslib.types.Dry)
            self.drill_handlers = {sig: signal.getsignal(sig) for sig in stop_signals()}
            self.streams = sys.stdout, sys.stderr

        def keep_signals(self) -> None:
            """drill's stop handlers, where chaoslib or an activity put others: chaoslib
            runs python activities in this thread, and one that set SIGTERM back to its
            default (a library it set up) left the next SIGTERM to kill drill — no
            rollbacks, the run left running — and SIGINT back to KeyboardInterrupt made
            a Ctrl-C chaoslib's interruption (a failed run), not drill's stop."""
            if threading.current_thread() is not threading.main_thread():
                return  # a background activity's end: only the main thread may set them
            for sig, handler in self.drill_handlers.items():
                if callable(handler) and signal.getsignal(sig) is not handler:
                    signal.signal(sig, handler)

        def started(self, experiment: Any, journal: Any) -> None:
            self.journal = journal  # kept: drill closes it if it stops the run
            self.dry = experiment.get("dry")
            self.keep_signals()
            if witness is not None:
                witness.wrap_signals()

        def start_method(self, experiment: Any) -> None:
            self.phase = StepPhase.STEP

        def start_hypothesis_after(self, experiment: Any) -> None:
            self.phase = StepPhase.VERIFICATION

        def rollbacks(self) -> None:
            """What follows are rollback activities (chaoslib's, or drill's own play)."""
            self.phase, self.count = StepPhase.ROLLBACK, 0

        def start_rollbacks(self, experiment: Any) -> None:
            self.rollbacks()
            self.rollbacks_started = True
            if abort is not None:  # a signal now is noted; the rollbacks finish first
                self.shielded_before, abort.shielded = abort.shielded, True
            if pending is not None:  # in flight: a recovery says it replays it
                pending.status, pending.started_at = StepStatus.RUNNING, utcnow()
                best_effort(
                    recorder,
                    "the start of the experiment's rollbacks",
                    lambda: recorder.save(pending),
                )
            crashpoint(f"{undo}:start")

        def rollbacks_completed(self, experiment: Any, journal: Any) -> None:
            crashpoint(f"{undo}:end")
            if abort is not None:
                abort.shielded = self.shielded_before

        def _point(self) -> str:
            if self.phase is StepPhase.ROLLBACK:
                return f"{undo}:{self.count}"
            return f"step:{scenario.scenario_id}:{self.count}"

        def start_activity(self, activity: Any) -> None:
            if abort is not None and abort.requested and self.phase is not StepPhase.ROLLBACK:
                # the handler's raise was lost (the signal landed in a weakref callback
                # or a __del__: "Exception ignored in …"); its flag stands: nothing new
                raise AbortSignal(abort.reason or "aborted")
            self.count += 1
            crashpoint(f"{self._point()}:start")
            if abort is not None and self.phase is StepPhase.STEP and is_action(activity):
                let_finish(abort)  # a stop now waits for it to end (bounded)
            name = str(activity.get("name", "activity"))
            reporter.step_started(self.phase.value, name)
            provider = activity.get("provider")
            self.open[name, threading.get_ident()] = recorder.step_started(
                scenario,
                self.phase,
                name,
                str(activity.get("type", "activity")),
                action=_activity_target(activity),
                args=provider.get("arguments") if isinstance(provider, dict) else None,
            )

        def activity_completed(self, activity: Any, run: Any) -> None:
            not_a_forked_copy()
            if abort is not None:
                finished(abort)  # a stop from now on raises: the next start refuses
            keep_std_fds()  # one may have closed them: drill writes on
            keep_std_streams(self.streams)  # … or replaced sys.stdout, sys.stderr
            self.keep_signals()
            name = str(activity.get("name", "activity"))
            self.last = name
            step = self.open.pop((name, threading.get_ident()), None)
            if step is None or run is None:
                return
            ok = run.get("status") == "succeeded"
            error = run.get("exception") and "".join(run["exception"])[-2000:]
            shown = None if ok else _last_line(run.get("exception"))
            if ok and self.phase is StepPhase.ROLLBACK and ej.rollback_failed(run):
                # chaoslib: succeeded; drill counts the run's rollbacks failed for it, and
                # its own step said "succeeded" beside "experiment rollback(s) failed: X"
                ok, error = False, f"the process exited {run['output']['status']}: not undone"
                shown = error
            status = StepStatus.SUCCEEDED if ok else StepStatus.FAILED
            if ok and _ran_dry(activity, self.dry):  # chaoslib says succeeded: nothing ran
                status, error = StepStatus.SKIPPED, DRY_RUN
            stopped = "status" not in run and abort is not None and abort.requested
            if stopped:  # it did not end: a stop interrupted it (said as a runbook's step)
                shown = abort.why() if abort is not None else None
                error = f"interrupted: {shown}"
            reporter.step_finished(
                self.phase.value, name, "interrupted" if stopped else status.value, shown
            )
            recorder.step_finished(step, status, run.get("output"), error)
            crashpoint(f"{self._point()}:end")

    return Journaling()


DRY_RUN = "not executed: a --dry run"


def is_action(activity: Any) -> bool:
    """An activity of the method that changes the environment (a probe only looks)."""
    return isinstance(activity, dict) and activity.get("type") == "action"


#: why a rollback strategy played no rollbacks (chaoslib.rollback's rules)
STRATEGY_SKIPS = {
    "default": ": none after a failed or interrupted run, as chaos run",
    "never": "",
    "deviated": ": only when the steady state deviated",
}


def _write_journal(path: Path, content: bytes, scenario_id: str) -> str | None:
    """Write ``--journal-path``; what went wrong, or None. It failed as "internal error:
    OSError: [Errno 28] No space left on device" (/dev/full, a full disk), turned a
    stopped run's "aborted" into "failed", and a FIFO nobody reads hung drill for good
    (its open waits for a reader: asked without waiting first)."""
    import os
    import stat

    try:
        if stat.S_ISFIFO(os.stat(path).st_mode):
            os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))  # ENXIO: no reader
    except FileNotFoundError:
        pass
    except OSError as exc:
        return _unwritten(path, exc, scenario_id)
    try:
        path.write_bytes(content)
    except OSError as exc:
        return _unwritten(path, exc, scenario_id)
    return None


def _unwritten(path: Path, exc: OSError, scenario_id: str) -> str:
    why = "no process reads that FIFO" if exc.errno == 6 else (exc.strerror or str(exc))
    return (
        f"--journal-path {path}: the journal could not be written ({why}); the evidence "
        f"keeps it (`drill runs show`: journal-{scenario_id}.json)"
    )


def _ran_dry(activity: dict[str, Any], dry: Any) -> bool:
    """Whether chaoslib ran ``activity`` dry — journaled ``succeeded`` with nothing
    executed; recorded ``skipped``, so that no evidence takes it for a fault or a
    failover that happened (chaoslib.activity.execute_activity's own rule)."""
    from chaoslib.types import Dry

    dry = activity.get("dry", dry)
    kind = activity.get("type")
    return (
        dry == Dry.ACTIVITIES
        or (dry == Dry.ACTIONS and kind == "action")
        or (dry == Dry.PROBES and kind == "probe")
    )


def _last_line(exception: Any) -> str:
    """What a failed activity says on the terminal: the last line of chaoslib's formatted
    exception (``ValueError: …``); the evidence keeps the whole trace."""
    text = "".join(exception) if isinstance(exception, list) else str(exception or "")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1].removeprefix("chaoslib.exceptions.ActivityFailed: ") if lines else ""


def _activity_target(activity: dict[str, Any]) -> str | None:
    provider = activity.get("provider") or {}
    if provider.get("type") == "python":
        return f"{provider.get('module')}.{provider.get('func')}"
    if provider.get("type") == "process":
        return str(provider.get("path"))
    if provider.get("type") == "http":
        return str(provider.get("url"))
    return None


def chaos_settings(path: Path | None) -> dict[str, Any]:
    """The Chaos Toolkit settings file (``chaos --settings``; default ~/.chaostoolkit)."""
    from chaoslib.settings import CHAOSTOOLKIT_CONFIG_PATH, load_settings

    from orchestrator.engine.experiment_options import unparsable_settings

    where = str(path) if path else CHAOSTOOLKIT_CONFIG_PATH
    if unparsable_settings(where) is not None:
        return {}  # as chaos: no settings (`drill run` warned, once, up front)
    loaded = load_settings(where)
    return loaded if isinstance(loaded, dict) else {}


def global_controls(opts: ExperimentOptions) -> bool:
    """Whether chaoslib will load controls of its own for every experiment of the run:
    ``--control-file``, or ``controls`` in the Chaos Toolkit settings."""
    return bool(opts.control_files or chaos_settings(opts.settings_path).get("controls"))


def run_experiment_scenario(
    doc: dict[str, Any],
    recorder: Recorder,
    scenario: ScenarioRun,
    reporter: Reporter,
    opts: ExperimentOptions | None = None,
    abort: AbortState | None = None,
    source: str | None = None,
) -> ExperimentOutcome:
    """Run ``doc`` (from the file ``source``: where recovery re-reads its secrets)."""
    from chaoslib.control import load_global_controls
    from chaoslib.exceptions import InterruptExecution
    from chaoslib.experiment import run_experiment
    from chaoslib.run import initialize_run_journal
    from chaoslib.types import Dry, Schedule, Strategy

    opts = opts or ExperimentOptions()
    _quiet_chaoslib()
    settings = chaos_settings(opts.settings_path)
    rollback_strategy, hypothesis = resolve_runtime(opts, settings, doc)
    runtime = settings.setdefault("runtime", {})
    runtime["rollbacks"] = {**(runtime.get("rollbacks") or {}), "strategy": rollback_strategy}
    runtime["hypothesis"] = {**(runtime.get("hypothesis") or {}), "strategy": hypothesis}
    var_files = [str(p) for p in opts.var_files]
    vars_ = {"var": opts.var, "var_files": var_files}
    config_vars, secret_vars = experiment_vars(opts.var, var_files, doc)
    load_global_controls(settings, [str(p) for p in opts.control_files])
    doc["dry"] = Dry.from_string(opts.dry.value if opts.dry else None)
    pending: StepRun | None = None
    if doc.get("rollbacks") and rollback_strategy != "never":
        from orchestrator.engine.rollbacks import run_directory

        pending = recorder.pending_rollback(
            scenario,
            "experiment rollbacks",
            ROLLBACK_KIND,
            ROLLBACK_KIND,
            {
                "document": {**doc, "dry": opts.dry.value if opts.dry else None},
                **vars_,
                **({"source": source} if source else {}),
                **run_directory(),
            },
            None,
        )
    started = time.time()
    aborted: AbortSignal | None = None
    error: str | None = None
    crashed: str | None = None  # chaoslib raised outside an activity (a tolerance check)
    uncaught = False  # … or let through a BaseException an activity or control raised
    witness = StopWitness()  # a signal chaoslib handles, or the error it stopped on
    handler = _event_handler(recorder, scenario, reporter, abort, pending, witness)
    schedule = Schedule(
        continuous_hypothesis_frequency=opts.hypothesis_frequency, fail_fast=opts.fail_fast
    )
    try:  # exactly what `chaos run` calls, with drill's event handler
        with witness.watching():
            journal: dict[str, Any] = run_experiment(
                doc,
                settings,
                experiment_vars=(config_vars, secret_vars),
                strategy=Strategy.from_string(hypothesis),
                schedule=schedule,
                event_handlers=[handler],
            )
    except AbortSignal as exc:
        aborted = exc
        journal = handler.journal or initialize_run_journal(doc)
        ej.close_interrupted(journal, started)
    except InterruptExecution as exc:  # SIGTERM in the instant before `started`
        error = str(exc)
        witness.signalled = witness.signalled or "SIGTERM"
        journal = handler.journal or initialize_run_journal(doc)
        ej.close_interrupted(journal, started)
    except BaseException as exc:  # chaoslib failing outside an activity, or a
        # BaseException it lets through from one (GeneratorExit, a library's own): that
        # ended drill with a traceback, the run left running, its rollbacks not played
        error = crashed = f"{exc.__class__.__name__}: {exc}"
        uncaught = not isinstance(exc, Exception)
        if handler.last:  # before drill's rollbacks run more activities
            crashed += f" (after the activity {handler.last})"
        journal = handler.journal or initialize_run_journal(doc)
        ej.close_interrupted(journal, started)  # its end and duration, as chaos's keys
        journal["status"] = "failed"
    if opts.dry is not None:
        journal.setdefault("experiment", {})["dry"] = opts.dry.value

    rollbacks_ok, failed = True, []
    if pending is not None:
        rollback_runs = journal.get("rollbacks") or []
        if not handler.rollbacks_started and ej.plays_rollbacks(rollback_strategy, journal):
            # chaoslib never reached its rollbacks (drill stopped it): play them here,
            # their row started as when chaoslib starts them (it had no start time)
            from orchestrator.engine.rollbacks import best_effort

            row = pending
            row.status, row.started_at = StepStatus.RUNNING, utcnow()
            best_effort(
                recorder, "the start of the experiment's rollbacks", lambda: recorder.save(row)
            )
            handler.rollbacks()  # each activity gets its row, as under chaoslib
            try:
                with shielded(abort) if abort is not None else contextlib.nullcontext():
                    rollback_runs = run_rollback_activities(doc, vars_, handler)
            except Exception as exc:
                rollbacks_ok = False
                error = f"rollbacks failed: {exc}"
            journal["rollbacks"] = rollback_runs
        failed = [
            str((r.get("activity") or {}).get("name"))
            for r in rollback_runs
            if ej.rollback_failed(r)
        ]
        declared = [a for a in doc.get("rollbacks") or [] if isinstance(a, dict)]
        if crashed and handler.rollbacks_started and len(rollback_runs) < len(declared):
            # chaoslib raised inside its rollbacks (a pause it could not read, a control's
            # error): the rest were never played — recorded "succeeded", the fault stayed
            failed += [str(a.get("name") or a.get("ref")) for a in declared[len(rollback_runs) :]]
            rollbacks_ok = False
        rollbacks_ok = rollbacks_ok and not failed
        played = bool(rollback_runs) or handler.rollbacks_started
        recorder.step_finished(
            pending,
            (
                StepStatus.FAILED
                if not rollbacks_ok
                else StepStatus.SUCCEEDED
                if played
                else StepStatus.SKIPPED
            ),
            {
                "rollbacks": [(r.get("activity") or {}).get("name") for r in rollback_runs],
                "strategy": rollback_strategy,
            },
            None if rollbacks_ok else f"experiment rollback(s) failed: {', '.join(failed)}",
        )
    if doc.get("rollbacks") and not (journal.get("rollbacks") or handler.rollbacks_started):
        # said where the run ends: a stopped run said "the rollbacks were played" when
        # its strategy had played none (`default` after an interruption, `never`)
        scenario.notes = {
            **(scenario.notes or {}),
            "rollbacks_not_played": f"rollback strategy {rollback_strategy!r}"
            + STRATEGY_SKIPS.get(rollback_strategy, ""),
        }
    # the journal holds the experiment (its secrets, DSNs) and every output (an `env`
    # probe prints AWS keys): redacted for the evidence store and for --journal-path alike
    # (a lone surrogate — a file name that is not UTF-8, as os.listdir gives it — is kept
    # as its JSON escape: encoding it failed, and the run with it after its rollbacks;
    # an output nested too deep is cut where its step's evidence is: see `recordable`)
    text = json.dumps(recordable(journal), default=str, indent=2, ensure_ascii=False)
    content = redact_bytes(text.encode("utf-8", "backslashreplace"))
    recorder.artifact(f"journal-{scenario.scenario_id}.json", content, "application/json", scenario)
    if opts.journal_path is not None:
        unwritten = _write_journal(opts.journal_path, content, scenario.scenario_id)
        if unwritten is not None and aborted is None:
            from orchestrator.errors import StepFailed

            raise StepFailed(unwritten)
        if unwritten is not None:  # the stop is what the run ends on; this is said too
            with contextlib.suppress(OSError):
                import sys

                sys.stderr.write(f"drill: {unwritten}\n")
    if aborted is not None:
        raise aborted
    reading = ej.read(journal, witness.signalled is not None, witness.fatal)
    if crashed and reading.verdict is not ej.Verdict.ABORTED:
        # the journal says only "failed": the finding said "experiment failed: see
        # journal", and the journal had no word of why
        reading = ej.Reading(
            ej.Verdict.FAILED,
            f"experiment failed: chaoslib raised {crashed}",
            "an activity or a control raised an exception that is not an Exception, which "
            "chaoslib does not catch: `chaos run` ends on it with a traceback, no journal "
            "and no rollbacks; drill played the rollbacks"
            if uncaught
            else "chaoslib stopped outside any activity (a tolerance it could not check, a "
            "control's error): `chaos run` ends on the same error with a traceback and "
            "no journal",
        )
    elif error and reading.verdict is ej.Verdict.SUCCEEDED:
        reading = ej.Reading(ej.Verdict.FAILED, error)
    return ExperimentOutcome(journal, reading, rollbacks_ok, error, failed)
