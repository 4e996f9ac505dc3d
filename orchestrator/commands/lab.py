"""`drill lab up | status [--json] | down | reset` — the local DR lab (DESIGN section 6)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Annotated, Any

import typer

from orchestrator.commands.common import err_console, out_console, print_json, state

app = typer.Typer(
    help="The local DR lab: a real Multi-AZ + cross-region PostgreSQL topology "
    "on 127.0.0.1 with real faults.",
    no_args_is_help=True,
)


def _env(ctx: typer.Context, env: str) -> tuple[Any, Any]:
    from orchestrator.config import ProviderKind
    from orchestrator.errors import UsageError

    settings = state(ctx).settings()
    name, cfg = settings.environment(env)
    if cfg.provider is not ProviderKind.LAB:
        raise UsageError(
            f"environment {name!r} is not a lab environment (provider {cfg.provider.value})",
            "use `--env lab` or a lab environment",
        )
    return settings, cfg


def _log(msg: str) -> None:
    err_console().print(msg, markup=False)


class _Stopped(BaseException):
    """The first SIGINT/SIGTERM of `lab up|reset`, raised where the build is."""

    def __init__(self, name: str, torn_down: bool = False) -> None:
        super().__init__(name)
        self.name = name
        self.torn_down = torn_down  # noted during a teardown, acted on once it was done


@contextlib.contextmanager
def _stoppable(what: str) -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP (the terminal closed; not under nohup) stop `lab
    up|reset` alike (DESIGN "Crash safety"): the first
    raises where the build is — its clean-up stops whatever it had started — and later
    ones are said on stderr, never interrupting that clean-up. (SIGTERM killed drill
    outright, and a second Ctrl-C broke off the clean-up: either left the half-built
    lab's PostgreSQL servers running while `lab status` said it was not running.)
    Ends :class:`Aborted` (exit 3)."""
    import os
    import signal
    import threading

    from orchestrator.errors import Aborted

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    from orchestrator.engine.signals import detach, stop_signals, terminal_fds

    got: list[str] = []
    terminal = terminal_fds()

    def handler(signum: int, _frame: Any) -> None:
        name = signal.Signals(signum).name
        if signum == signal.SIGHUP:  # the terminal closed: its writes fail from now on
            detach(terminal)
        got.append(name)
        if len(got) == 1 and not _TEARING_DOWN:
            raise _Stopped(name)
        if len(got) == 1:
            _TEARING_DOWN[-1].append(name)
            said = (
                f"drill: {name} received: `lab {what}` finishes tearing the lab down first "
                "(stopped halfway, it left the lab's servers running without their failover "
                "controller, the lab still 'running'); nothing new starts\n"
            )
        else:
            said = (
                f"drill: {name} received again: `lab {what}` is already stopping (what it "
                "had started is stopped first: interrupting that would leave lab "
                "processes running)\n"
            )
        with contextlib.suppress(OSError):  # a plain write: safe inside a handler
            os.write(2, said.encode())

    previous = {sig: signal.signal(sig, handler) for sig in stop_signals()}
    try:
        yield
        if got:  # the handler's raise was lost: it landed in a weakref callback or a
            raise _Stopped(got[0])  # __del__ ("Exception ignored in ..."); still a stop
    except _Stopped as exc:
        # what it had started is stopped and drill is ending: a later stop has nothing
        # left to stop, and must neither kill it (-15, -2: Python restores the default
        # handlers as it exits) nor raise at whatever line it lands on, its end half said
        for sig in previous:
            signal.signal(sig, signal.SIG_IGN)
        done = ": the lab is down (its teardown was finished first)" if exc.torn_down else ""
        raise Aborted(
            f"lab {what} stopped ({exc.name}){done}",
            "`drill lab status` shows what runs; `drill lab up` starts or repairs the lab",
        ) from None
    finally:
        if not got:
            for sig, prev in previous.items():
                signal.signal(sig, prev)


#: the stops noted during each teardown in progress (see _tearing_down)
_TEARING_DOWN: list[list[str]] = []


@contextlib.contextmanager
def _tearing_down() -> Iterator[None]:
    """The lab's teardown (`lab down`, the first half of `lab reset`) is not broken off
    by a stop: a Ctrl-C there had stopped the failover controller and left the servers
    and helpers running — `lab status` said the lab was up, a drill run on it had no
    failover. The stop is noted and acted on once the teardown is done: nothing new
    starts (`lab reset` builds no lab), exit 3 (`_stoppable`)."""
    noted: list[str] = []
    _TEARING_DOWN.append(noted)
    try:
        yield
    finally:
        _TEARING_DOWN.pop()
    if noted:
        raise _Stopped(noted[0], torn_down=True)


YES = typer.Option(
    "--yes",
    "-y",
    help="confirm --force closing a run of a protected environment (recorded as an approval)",
)

DESTROY_YES = typer.Option(
    "--yes",
    "-y",
    help="confirm tearing down a lab a protected environment stands on (and --force "
    "closing a run of a protected environment, recorded as an approval)",
)


def _confirm_teardown(settings: Any, what: str, yes: bool) -> None:
    """`lab down|reset` destroys the lab's servers and data: on a lab that a protected
    environment stands on, that needs --yes (DESIGN 10: nothing mutating runs against a
    protected environment without explicit confirmation). Only when there is a lab to
    destroy; with --yes who gave it is said on stderr."""
    from orchestrator.engine.locks import LOCAL_LAB, lock_scope
    from orchestrator.errors import ConfirmationRequired
    from orchestrator.providers.lab.state import DamagedLabState, lab_dir, load

    guarded = sorted(
        name
        for name, cfg in settings.environments.items()
        if cfg.protected and cfg._protected_as is None and lock_scope(settings, name) == LOCAL_LAB
    )
    if not guarded:
        return
    with contextlib.suppress(DamagedLabState):  # a damaged state: still a lab to destroy
        if load(lab_dir(settings.state_path())) is None:
            return
    names = ", ".join(repr(n) for n in guarded)
    if not yes:
        raise ConfirmationRequired(
            f"the local lab is the protected environment {names}: `drill lab {what}` "
            "would destroy its servers and data",
            f"add --yes to `drill lab {what}` to confirm",
        )
    from orchestrator.engine.runner import operator

    err_console().print(
        f"drill: lab {what} of the protected environment {names}: confirmed by "
        f"{operator()} (--yes)",
        markup=False,
        soft_wrap=True,
    )


@app.command("up")
def up(
    ctx: typer.Context,
    env: Annotated[str, typer.Option(help="lab environment whose `lab:` tuning to use")] = "lab",
    as_json: Annotated[bool, typer.Option("--json", help="print the status document")] = False,
    aws: Annotated[
        bool,
        typer.Option(
            "--aws",
            help="also an AWS API (moto) on 127.0.0.1 "
            "whose resources are the lab's: environment lab-aws",
        ),
    ] = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="repair the lab even though a run on it awaits recovery: its pending "
            "rollbacks are recorded as not played (the repair undid the faults), the run "
            "ends crashed",
        ),
    ] = False,
    yes: Annotated[bool, YES] = False,
) -> None:
    """Start the lab; a running one is checked and repaired (or rebuilt), saying what it did.

    Refused while a drill runs on the lab: repairing would undo the faults it injected.
    Refused too while a run on it awaits recovery (its drill died): `drill recover`
    plays that run's rollbacks, which restore the lab and close the run; --force repairs
    the lab instead and records the rollbacks as not played (with --yes too when the
    run is of a protected environment: the approval is recorded, as `drill recover
    --yes` records it).

    Examples:

    \b
      drill lab up                  # start, or check and repair
      drill recover --env lab       # first, when a run awaits recovery
      drill lab up --force          # or repair anyway (its undos: not played)
    """
    from orchestrator.providers.lab import lab_up, status

    settings, cfg = _env(ctx, env)
    with _document_on_stop(settings, as_json), _stoppable("up"):
        with _no_run_on(ctx, settings, [env, "lab-aws"]):
            close = _orphans_handled(ctx, settings, "up", force, yes)
            said: list[str] = []

            def log(msg: str) -> None:
                said.append(msg)
                _log(msg)

            lab_up(settings, cfg, log)
            close(said)
        if aws:
            from orchestrator.labaws.lifecycle import ensure

            ensure(settings, _log)
    _show(status(settings), as_json)


FORCE = typer.Option(
    "--force",
    help="tear the lab down even though a run on it awaits recovery: its pending "
    "rollbacks are recorded as not played, the run ends crashed",
)


def _orphans_handled(ctx: typer.Context, settings: Any, what: str, force: bool, yes: bool) -> Any:
    """Refuse (exit 2) when a run on the lab awaits recovery, unless ``force`` (and
    ``yes`` when one is of a protected environment: closing it changes that
    environment's evidence and lab): then a function that closes those runs once the
    lab is gone (call it after the teardown)."""
    from orchestrator.engine.runner import operator
    from orchestrator.engine.teardown import (
        close_orphans,
        lab_orphans,
        refuse_orphans,
        unconfirmed_orphan,
    )

    db = state(ctx).db(warn=False)
    orphans = lab_orphans(settings, db)
    if orphans and not force:
        raise refuse_orphans(settings, db, orphans, what)
    if orphans and not yes:
        unconfirmed = unconfirmed_orphan(settings, db, orphans, what)
        if unconfirmed is not None:
            raise unconfirmed

    def close(did: list[str] | None = None) -> None:
        if orphans:
            n = close_orphans(settings, db, orphans, what, operator(), did)
            ids = ", ".join(r.id for r in orphans)
            why = (
                "the lab was repaired instead"
                if what == "up"
                else "the lab they would undo is gone"
            )
            _log(
                f"drill: run(s) {ids} awaited recovery: ended crashed, {n} pending "
                f"rollback(s) recorded as not played ({why})"
            )

    return close


@contextlib.contextmanager
def _no_run_on(ctx: typer.Context, settings: Any, envs: list[str]) -> Iterator[None]:
    """Hold the run locks of the environments on this lab (a run holds one while it runs)."""
    import os

    from orchestrator.engine.locks import EnvLock, lock_scope
    from orchestrator.engine.rollbacks import locked_error

    db = state(ctx).db(warn=False)
    held: list[EnvLock] = []
    try:  # one lock per scope: lab and lab-aws share the local lab's
        scopes = {lock_scope(settings, name): name for name in reversed(envs)}
        for scope, name in scopes.items():
            lock = EnvLock(db, settings.state_path(), name, scope)
            if not lock.try_acquire({"pid": os.getpid(), "what": "lab up"}):
                raise locked_error(name, lock.holder())
            held.append(lock)
        yield
    finally:
        for lock in held:
            lock.release()


@app.command("status")
def status_cmd(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON document")] = False,
) -> None:
    """Components, their state and the endpoints clients use."""
    from orchestrator.providers.lab import status

    _show(status(state(ctx).settings()), as_json)


@app.command("down")
def down(
    ctx: typer.Context,
    force: Annotated[bool, FORCE] = False,
    yes: Annotated[bool, DESTROY_YES] = False,
) -> None:
    """Stop every lab process (also SIGSTOPped ones) and remove the lab's data.

    On a lab that a protected environment stands on, only with --yes.

    Refused while a drill runs on the lab (it would fail mid-way, its undos with it),
    and while a run on it awaits recovery (`drill recover` first, or --force; a run of a
    protected environment also needs --yes, recorded as an approval)."""
    from orchestrator.providers.lab import lab_down

    settings = state(ctx).settings()
    with _stoppable("down"), _no_run_on(ctx, settings, ["lab", "lab-aws"]):
        close = _orphans_handled(ctx, settings, "down", force, yes)
        _confirm_teardown(settings, "down", yes)
        with _tearing_down():
            result = lab_down(settings, _log)
            close()
    n = len(result["stopped"])
    out_console().print(f"lab down: stopped {n} component(s)" if n else "lab was not running")


@app.command("reset")
def reset(
    ctx: typer.Context,
    env: Annotated[str, typer.Option(help="lab environment whose tuning to use")] = "lab",
    as_json: Annotated[bool, typer.Option("--json", help="print the status document")] = False,
    force: Annotated[bool, FORCE] = False,
    yes: Annotated[bool, DESTROY_YES] = False,
) -> None:
    """Tear the lab down and build it afresh (primary back in use1-az1).

    On a lab that a protected environment stands on, only with --yes.

    Refused while a drill runs on the lab, as `lab up` is, and while a run on it awaits
    recovery (`drill recover` first, or --force; --force --yes for a run of a protected
    environment)."""
    from orchestrator.providers.lab import lab_down, lab_up, status

    settings, cfg = _env(ctx, env)
    with (
        _document_on_stop(settings, as_json),
        _stoppable("reset"),
        _no_run_on(ctx, settings, [env, "lab-aws"]),
    ):
        close = _orphans_handled(ctx, settings, "reset", force, yes)
        _confirm_teardown(settings, "reset", yes)
        with _tearing_down():
            lab_down(settings)
        lab_up(settings, cfg, _log)
        close()
    _show(status(settings), as_json)


@contextlib.contextmanager
def _document_on_stop(settings: Any, as_json: bool) -> Iterator[None]:
    """`lab up|reset --json` stopped (SIGINT, SIGTERM: exit 3), refused or failed
    printed nothing on stdout; it prints the status document of what is left
    (``running`` false after a build's clean-up) with ``error`` saying what stopped it,
    then ends as before."""
    from orchestrator.errors import DrillError

    try:
        yield
    except Exception as exc:  # Aborted, a refusal, a failed build, a bug
        if as_json:
            from orchestrator.providers.lab import status

            error = (
                exc.message
                if isinstance(exc, DrillError)
                else f"internal error: {exc.__class__.__name__}: {exc}"
            )
            with contextlib.suppress(Exception):  # a lab state it cannot read: no document
                print_json({**status(settings), "error": error})
        raise


def _show(doc: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(doc)
        return
    from rich.table import Table

    console = out_console()
    if not doc["running"]:
        console.print("lab is not running — start it with `drill lab up`")
        return
    table = Table()
    for col in ("component", "kind", "role", "az/region", "address", "state", "pid"):
        table.add_column(col)
    for c in doc["components"]:
        addr = f"{c['host']}:{c['port']}" if c["port"] else "—"
        colour = "green" if c["state"] == "up" else "red"
        table.add_row(
            c["name"],
            c["kind"],
            c["role"],
            c.get("az") or c.get("region") or "",
            addr,
            f"[{colour}]{c['state']}[/]",
            str(c["pid"] or "—"),
        )
    console.print(table)
    for key, value in doc["endpoints"].items():
        console.print(f"  {key:<10} {value}")
    if doc.get("aws"):
        console.print(
            f"  {'aws':<10} {doc['aws']['endpoint_url']} (environment lab-aws; "
            f"Terraform state {doc['aws']['terraform_state']})"
        )
