"""`drill recover`: finish what a dead drill left behind (its pending rollbacks)."""

from __future__ import annotations

from contextlib import nullcontext
from typing import TYPE_CHECKING, Annotated, Any

import typer

from orchestrator.commands.common import err_console, esc, print_json, state, stdout_to_stderr

if TYPE_CHECKING:
    from orchestrator.config import Settings
    from orchestrator.evidence.records import Run
    from orchestrator.evidence.writer import EvidenceDB


def recover(
    ctx: typer.Context,
    env: Annotated[
        str | None,
        typer.Option("--env", "-e", help="only this environment (default: every environment)"),
    ] = None,
    yes: Annotated[
        bool,
        typer.Option(
            "--yes",
            "-y",
            help="confirm the rollbacks on a protected environment (recorded as an approval)",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON document")] = False,
) -> None:
    """Play the rollbacks of runs whose drill process died, and close those runs.

    A run whose process was killed (SIGKILL, host loss) stays `running` with its
    rollbacks pending. This plays them — replaying the one that was in flight — and
    ends the run `crashed`, or `rollback_failed` (critical finding) when one could not
    complete. `drill run` does the same for its environment before it starts, and the
    scheduler service when it starts; read-only commands only warn. A protected
    environment is recovered only with --yes, like any change to it.

    Exit codes: 0 nothing to do or all recovered · 1 a rollback failed · 2 a protected
    environment awaits recovery and --yes was not given · 3 stopped by a signal, even
    during its last rollback (what is left stays pending: run it again).

    --json: {recovered, pending, busy} — the runs closed; those still awaiting recovery;
    those still running whose environment another process holds (a live drill, or
    another recovery playing their rollbacks). After a stop: {recovered, pending,
    stopped: true, error}.
    """
    from orchestrator.engine.recovery import (
        awaiting_recovery,
        needs_confirmation,
        protected,
        recover_all,
        running_envs,
    )
    from orchestrator.engine.runner import operator
    from orchestrator.engine.signals import AbortState, abort_on_signals, shielded
    from orchestrator.errors import DrillError, ExitStatus
    from orchestrator.evidence.enums import RunStatus

    app_state = state(ctx)
    settings = app_state.settings()
    try:
        if env is not None:
            settings.environment(env)  # an unknown name is a usage error, before anything
    except DrillError:  # unless a run awaits recovery there: `lab-aws` went with the
        # AWS-shaped lab, or the environment left drill.yaml — and the warning of every
        # read command names this very command
        if env not in running_envs(app_state.db(warn=False)):
            raise
    db = app_state.db(warn=False, write=True)
    if not yes:  # a usage error changes nothing: checked before any rollback plays
        for run in awaiting_recovery(settings, db):
            if env in (None, run.env) and protected(settings, run.env, db):
                raise needs_confirmation(run)
    from orchestrator.errors import Aborted

    stop = AbortState()
    before = [r for r in awaiting_recovery(settings, db) if env in (None, r.env)]
    quiet = stdout_to_stderr() if as_json else nullcontext()  # rollbacks may print
    try:
        with abort_on_signals(stop), shielded(stop), quiet:
            runs = recover_all(
                settings,
                db,
                app_state.provider_for,
                lambda msg: err_console().print(f"[yellow]drill:[/] {esc(msg)}"),
                lambda: stop.requested,
                env,
                operator() if yes else None,
            )
        if stop.requested:  # stopped during the last rollback, which finished: still a stop
            done = "; ".join(f"run {r.id} on {r.env}: {r.status}" for r in runs)
            raise Aborted(
                f"recovery stopped ({stop.reason}) after the rollback in progress: "
                + (done or "nothing recovered"),
                "run `drill recover` again if a run still awaits recovery",
            )
    except Aborted as exc:  # --json: a document all the same (stdout was empty)
        if as_json:
            print_json(_stopped(db, before, exc.message))
        raise
    failed = [r for r in runs if r.status == RunStatus.ROLLBACK_FAILED]
    if as_json:
        print_json(_document(settings, db, runs, env))
    elif not runs:
        busy = [e for e in running_envs(db) if env in (None, e)]  # held by a live process
        err_console().print(
            "drill: nothing recovered: what is still running is a live drill's or another "
            "recovery's (above)"
            if busy
            else "drill: no run awaits recovery"
        )
    else:
        for r in runs:
            err_console().print(f"drill: run {r.id} on {r.env}: {r.status}")
    raise typer.Exit(int(ExitStatus.FAILED if failed else ExitStatus.OK))


def _stopped(db: EvidenceDB, before: list[Run], error: str) -> dict[str, Any]:
    """The --json document of a recovery stopped by a signal (exit 3): the runs it
    closed (as the document of a recovery that ended gives them), those it left awaiting
    recovery, and why it stopped."""
    from orchestrator.evidence.enums import RunStatus
    from orchestrator.evidence.records import Run

    recovered: list[dict[str, str]] = []
    pending: list[dict[str, str]] = []
    for old in before:
        now: Run | None = db.get(Run, old.id)
        status = str(now.status if now is not None else old.status)
        entry = {"run_id": old.id, "env": old.env, "status": status}
        (pending if status == RunStatus.RUNNING.value else recovered).append(entry)
    return {"recovered": recovered, "pending": pending, "stopped": True, "error": error}


def _document(
    settings: Settings, db: EvidenceDB, runs: list[Run], env: str | None
) -> dict[str, Any]:
    """The --json document of a recovery that ended (``runs``: those it closed). A run
    another recovery had was missing from it: ``{"recovered": []}`` told a script that
    nothing awaited recovery."""
    from orchestrator.engine.recovery import awaiting_recovery, running_runs

    def entry(r: Run) -> dict[str, str]:
        return {"run_id": r.id, "env": r.env, "status": str(r.status)}

    closed = {r.id for r in runs}
    orphaned = {r.id for r in awaiting_recovery(settings, db)}
    still = [r for r in running_runs(db, env) if r.id not in closed]
    return {
        "recovered": [entry(r) for r in runs],
        "pending": [entry(r) for r in still if r.id in orphaned],
        "busy": [entry(r) for r in still if r.id not in orphaned],
    }
