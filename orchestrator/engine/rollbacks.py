"""Playing one rollback, and the failure vocabulary the engine and the recovery share.

A rollback must run even when drill itself is failing — a full disk under the evidence
database, a read-only file, a bug. So its *evidence* is best effort (a write that fails
is reported on stderr and the undo goes on), while its *action* is the point: every lab
and AWS undo is idempotent, so playing one twice (recovery replays the rollback that
was in flight when drill died) is always safe.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.engine.calls import CallTimeout, call_with_deadline
from orchestrator.engine.recorder import Recorder
from orchestrator.errors import DrillError, EnvironmentLocked
from orchestrator.evidence.enums import StepStatus, utcnow
from orchestrator.evidence.records import ScenarioRun, StepRun
from orchestrator.testhooks import crashpoint

if TYPE_CHECKING:
    from orchestrator.providers.base import Provider, StepContext

ROLLBACK_TIMEOUT_S = 900.0


class ActivityRaised(Exception):
    """A python activity raised an exception other than chaoslib's ``ActivityFailed``
    (its way to fail on purpose): not drill's own, so its step fails *and* the run gets
    an ``internal_error`` finding (DESIGN "Crash safety"). The message is the exception's
    ``Kind: message``."""


def internal_message(exc: BaseException) -> str:
    """``internal error: Kind: message`` — what a failure that is not drill's own says."""
    if isinstance(exc, DrillError):
        return exc.message
    if isinstance(exc, ActivityRaised):
        return f"internal error: {exc}"
    from orchestrator.commands.storecheck import store_fault

    fault = store_fault(exc)  # full, damaged, read-only: the store's, not a bug of drill
    if fault is not None:
        return f"the evidence database failed: {fault}"
    text = str(exc).strip().splitlines()
    return f"internal error: {exc.__class__.__name__}" + (f": {text[0]}" if text else "")


def best_effort(recorder: Recorder, what: str, write: Callable[[], Any]) -> bool:
    """Record evidence of ``recorder``'s run, but never let a failing store stop an undo.
    True if written.

    A failure is said once per outage of the run's store, with what follows from it: a
    store that is gone fails every later write too, and a line for each would bury the
    rollbacks' progress. A write that works again ends the outage. The outage belongs to
    the run (its :class:`Recorder`), not to the process: the scheduler service recovers
    several orphaned runs in one process, and each says its own failure."""
    try:
        write()
        recorder.store_failing = None
        return True
    except Exception as exc:
        if recorder.store_failing is None:
            recorder.store_failing = what
            with contextlib.suppress(OSError):  # nobody reads stderr: the undo goes on
                sys.stderr.write(
                    f"drill: could not record {what} of run {recorder.run.id}: "
                    f"{internal_message(exc)} — the rollbacks still run, unrecorded if the "
                    "evidence database keeps failing (`drill recover` closes the run once it "
                    "works again)\n"
                )
        return False


def record_internal_error(
    rec: Recorder, detail: str, scenario: ScenarioRun | None, what: str = "drill failed internally"
) -> None:
    best_effort(
        rec,
        "the internal_error finding",
        lambda: rec.finding(
            "internal_error",
            f"{rec.run.target}: {what}",
            detail,
            "rollbacks were played; fix the cause (see the detail: a bug in drill or in a python "
            "activity it ran, or a fault of its host such as a full disk), then re-run; "
            "`--traceback` shows where",
            scenario,
            "high",
        ),
    )


def play_rollback(
    recorder: Recorder, pending: StepRun, provider: Provider | None, ctx: StepContext
) -> tuple[bool, str | None]:
    """Run one pending (or interrupted) rollback row; record its outcome. (ok, error).

    The undo runs with a context that never asks it to abort: the stop that ended the
    scenario (or one arriving now) already holds ``should_abort`` true, and a provider's
    wait inside the undo (e.g. for the rebuilt RDS replica) would give up at once,
    leaving the environment degraded. A stop starts no *further* rollback; the engine and
    the recovery decide that between rollbacks, not inside one.
    """
    ctx = replace(ctx, should_abort=lambda: False)
    pending.status = StepStatus.RUNNING
    pending.started_at = utcnow()
    best_effort(recorder, f"the start of rollback {pending.name!r}", lambda: recorder.save(pending))
    point = f"rollback:{pending.action or pending.kind}"
    args = _with_secrets(recorder.rollback_args(pending))
    try:
        crashpoint(f"{point}:start")
        if recorder.recorded_here(pending):
            output = _act(pending, args, provider, ctx, recorder)
        else:  # read from the database: a recovery, maybe from another directory
            held_by_definition(pending, args)
            with _in_run_directory(args):
                output = _act(pending, args, provider, ctx, recorder)
        crashpoint(f"{point}:end")
    except Exception as exc:
        message = internal_message(exc) if not isinstance(exc, CallTimeout) else str(exc)

        def failed() -> None:
            recorder.step_finished(pending, StepStatus.FAILED, None, message)
            recorder.event("rollback.failed", f"rollback {pending.name!r} FAILED: {message}")

        best_effort(recorder, f"the failure of rollback {pending.name!r}", failed)
        return False, message
    skipped = isinstance(output, dict) and output.get("skipped") is True
    status = StepStatus.SKIPPED if skipped else StepStatus.SUCCEEDED
    best_effort(
        recorder,
        f"the end of rollback {pending.name!r}",
        lambda: recorder.step_finished(pending, status, output),
    )
    return True, None


def held_by_definition(pending: StepRun, args: dict[str, Any]) -> None:
    """Raise unless the code a recovered rollback would run is what its definition file
    on disk holds. An experiment's rollbacks, and a runbook rollback step's inline
    activity, run Python or a process; read back from the evidence database they could
    be anything a writer of that database put there (a shared PostgreSQL store), so the
    recovery plays them only when the file named in ``source`` holds that very code:
    an experiment whose document (but for what drill adds to every run) is the file's,
    or an activity one of the runbook's steps has. Drill's own actions (lab, AWS) are
    looked up in its registry by name and need no such check."""
    from orchestrator.engine.experiment import ROLLBACK_KIND

    if pending.kind not in (ROLLBACK_KIND, "activity"):
        return
    source = args.get("source")
    if not isinstance(source, str):
        raise DrillError(
            "not played: its record names no definition file, and drill runs no code that "
            "the evidence database alone describes; undo it by hand"
        )
    from orchestrator.definitions.kinds import Experiment
    from orchestrator.definitions.loader import load_definition

    try:
        _kind, definition, _doc = load_definition(Path(source))
    except DrillError as exc:
        raise DrillError(
            f"not played: its definition {source} cannot be read ({exc.message}), and drill "
            f"runs no code that the evidence database alone describes; undo it by hand"
        ) from None
    if isinstance(definition, Experiment):
        held = [_code_of(definition.document)]
        recorded = _code_of(args.get("document"))
    else:
        steps = getattr(definition, "preconditions", []) + getattr(definition, "steps", [])
        steps += getattr(definition, "rollback", [])
        held = [_plain(s.activity) for s in steps if s.activity]
        recorded = _plain(args.get("activity"))
    if recorded not in held:
        raise DrillError(
            f"not played: the code recorded for it is not what {source} holds (the file "
            "changed since the run, or something other than drill wrote the evidence "
            "database), and drill runs no code that the evidence database alone describes; "
            "undo it by hand"
        )


def _plain(value: Any) -> Any:
    """``value`` as JSON reads it back (tuples are lists, keys strings)."""
    import json

    return json.loads(json.dumps(value, default=str))


def _code_of(document: Any) -> Any:
    """An experiment document without what drill adds to every run (``dry``, its own
    configuration keys): what the file itself says."""
    from orchestrator.engine.experiment import DRILL_KEYS

    if not isinstance(document, dict):
        return None
    doc = {k: v for k, v in _plain(document).items() if k != "dry"}
    config = {k: v for k, v in (doc.get("configuration") or {}).items() if k not in DRILL_KEYS}
    doc.pop("configuration", None)
    return {**doc, **({"configuration": config} if config else {})}


def run_directory() -> dict[str, str]:
    """``{"cwd": …}`` to record with a rollback that runs the user's code (an activity,
    an experiment's rollbacks): what its relative paths are relative to."""
    try:
        return {"cwd": os.getcwd()}
    except OSError:  # the directory was removed under drill: nothing to resolve against
        return {}


@contextmanager
def _in_run_directory(args: dict[str, Any]) -> Iterator[None]:
    """Play a recovered rollback of the user's code in the directory its run ran in: from
    another one (`drill --config DIR/drill.yaml recover` from cron or the scheduler) a
    relative path of its activity named a file there — undone, 'ok', while the run's own
    fault stayed. A directory that is gone plays nothing: its paths would resolve here."""
    where = args.get("cwd")
    if not isinstance(where, str):  # a provider action, or a row of an older drill
        yield
        return
    here = os.getcwd()
    try:
        os.chdir(where)
    except OSError as exc:
        raise DrillError(
            f"not played: the directory its run ran in, {where}, cannot be entered "
            f"({exc.strerror}), and its activity may name paths relative to it; "
            "undo it by hand"
        ) from None
    try:
        yield
    finally:
        os.chdir(here)


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
    return {
        k: find_restorable(v, definition) if k in ("document", "activity") else v
        for k, v in args.items()
    }


def _act(
    pending: StepRun,
    args: dict[str, Any],
    provider: Provider | None,
    ctx: StepContext,
    recorder: Recorder,
) -> Any:
    from orchestrator.engine.experiment import ROLLBACK_KIND, run_rollback_activities
    from orchestrator.engine.experiment_journal import rollback_failed

    if pending.kind == ROLLBACK_KIND:
        doc = args["document"]
        runs = run_rollback_activities(doc, args, _recording(recorder, pending, doc.get("dry")))
        failed = [r for r in runs if rollback_failed(r)]
        if failed:
            raise DrillError(f"{len(failed)} experiment rollback(s) failed")
        return {"rollbacks": len(runs)}
    if pending.kind == "activity":
        from orchestrator.engine.runner import _run_activity

        return _run_activity(args["activity"], {})
    if provider is None:
        raise DrillError("no provider to run the rollback with")
    action = pending.action or ""
    why = provider.skip_reason(action, args)
    if why:  # as its step was (e.g. SQL with `probes: none`): nothing ran to undo
        return {"skipped": True, "reason": why}
    return call_with_deadline(
        lambda: provider.execute(action, args, ctx), ROLLBACK_TIMEOUT_S, lambda: None, step=False
    )


def _recording(recorder: Recorder, pending: StepRun, dry: Any) -> Any:
    """The handler recording each rollback activity of an experiment's ``pending`` row
    as its own step (None, best effort, when its scenario cannot be read)."""
    from orchestrator.engine.experiment import rollback_handler
    from orchestrator.engine.reporter import QuietReporter

    try:
        scenario = (
            recorder.db.get(ScenarioRun, pending.scenario_run_id)
            if pending.scenario_run_id is not None
            else None
        )
    except Exception:
        scenario = None
    if scenario is None:
        return None
    return rollback_handler(recorder, scenario, QuietReporter(), dry)


def locked_error(env: str, holder: dict[str, Any] | None) -> EnvironmentLocked:
    """Why the environment's lock is taken, from what its holder wrote down."""
    other = holder or {}
    pid = f"pid {other.get('pid')}" + (f" on {other['host']}" if other.get("host") else "")
    if other.get("what") == "recovery":
        return EnvironmentLocked(
            f"environment {env!r} is being recovered by {pid} (playing the rollbacks of "
            f"orphaned run {other.get('run_id')})",
            "wait for the recovery to finish; `drill runs show "
            f"{other.get('run_id')}` shows its progress",
        )
    who = f" by run {other.get('run_id')} ({pid})" if other.get("run_id") else ""
    held_env = other.get("env")
    if held_env and held_env != env:  # lab and lab-aws: one lab, one lock
        who += f" on {held_env!r}, the same lab"
    return EnvironmentLocked(
        f"environment {env!r} is already in use{who}",
        f"wait for it to finish, or stop it with `drill abort {other.get('run_id') or 'RUN_ID'}`",
    )
