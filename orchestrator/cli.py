"""The `drill` command line: thin — parses, calls into the package, prints.

Only this module maps errors to exit codes (see :class:`orchestrator.errors.ExitStatus`)
and prints ``drill: error: …``; ``--traceback`` shows the full trace. Command modules
import their heavy dependencies inside the command functions so that ``drill --help``
stays fast.
"""

# No `from __future__ import annotations`: Typer reads a command's annotations several
# times per call, and string annotations are compiled and evaluated each time (~2.5 ms of
# `drill run`'s start-up); evaluated once, when the command is defined, they are not.
# Typer itself is imported by main() (see there), not by this module.
import sys
from typing import TYPE_CHECKING, Annotated, Any

from orchestrator import __version__

if TYPE_CHECKING:
    import typer

#: Every command: name → (module under orchestrator.commands, attribute, is a group).
#: Only the invoked command's module is imported (and only its parameters are built by
#: Typer); ``drill --help`` and unknown names get the whole tree.
COMMANDS: dict[str, tuple[str, str, bool]] = {
    "run": ("run", "run", False),
    "plan": ("run", "plan", False),
    "abort": ("run", "abort", False),
    "ack": ("run", "ack", False),
    "recover": ("recover", "recover", False),
    "list": ("defs", "list_cmd", False),
    "validate": ("defs", "validate", False),
    "runs": ("runs", "app", True),
    "evidence": ("evidence", "app", True),
    "findings": ("findings", "app", True),
    "report": ("report", "report", False),
    "schedule": ("schedule", "app", True),
    "scheduler": ("scheduler", "app", True),
    "gameday": ("gameday", "app", True),
    "status": ("status", "status", False),
    "serve": ("serve", "serve", False),
    "inventory": ("inventory", "inventory", False),
    "iam-policy": ("iam", "iam_policy", False),
    "runbook": ("runbook", "app", True),
    "lab": ("lab", "app", True),
}
_ROOT_OPTIONS_WITH_VALUE = {"--config", "-c"}


_STATE: dict[str, bool] = {"traceback": False}
_APP: list[Any] = [None]  # the invocation's AppState, once the root callback ran
#: Read-only commands that never open the evidence store (`evidence verify FILE.zip`
#: reads the bundle only): after them, one stderr line still says when a run awaits
#: recovery (DESIGN "Crash safety (Contract)"). `serve` warns as it starts.
_READ_ONLY_STORELESS = {"list", "validate", "plan", "inventory", "lab status", "evidence verify"}


def _new_app() -> "typer.Typer":
    import typer

    from orchestrator.commands.common import AppState

    def show_version(value: bool) -> None:
        if value:
            print(f"drill {__version__}")
            raise typer.Exit()

    def root(
        ctx: typer.Context,
        config: Annotated[
            str | None,
            typer.Option(
                "--config",
                "-c",
                metavar="FILE",
                help="drill.yaml to use (default: $DRILL_CONFIG, then ./drill.yaml)",
                envvar=None,
            ),
        ] = None,
        traceback: Annotated[
            bool, typer.Option("--traceback", help="show full tracebacks")
        ] = False,
        version: Annotated[
            bool,
            typer.Option(
                "--version", callback=show_version, is_eager=True, help="print the version"
            ),
        ] = False,
    ) -> None:
        ctx.obj = _APP[0] = AppState(config=config, traceback=traceback)
        _STATE["traceback"] = traceback

    app = typer.Typer(
        name="drill",
        help="Chaos and disaster-recovery drills as code: run DR runbooks against the local "
        "lab or AWS, measure RTO/RPO with independent probes, keep tamper-evident "
        "evidence.\n\nStart with:  drill run quarterly-dr   (brings up the local DR lab "
        "if needed)",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
        rich_markup_mode=None,
    )
    app.callback()(root)
    return app


def _register(target: "typer.Typer", name: str) -> None:
    import importlib

    module_name, attr, group = COMMANDS[name]
    obj = getattr(importlib.import_module(f"orchestrator.commands.{module_name}"), attr)
    if group:
        target.add_typer(obj, name=name)
    else:
        target.command(name)(obj)


_APPS: dict[str | None, "typer.Typer"] = {}


def build_app(only: str | None = None) -> "typer.Typer":
    """The CLI with every command, or with only ``only`` (what one invocation needs)."""
    if only not in _APPS:
        app = _APPS[only] = _new_app()
        for name in [only] if only else COMMANDS:
            _register(app, name)
    return _APPS[only]


def invoked_command(argv: list[str]) -> str | None:
    """The command name in ``argv`` (after the root options), if it is a known one."""
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in _ROOT_OPTIONS_WITH_VALUE:
            i += 2
            continue
        if arg.startswith("-"):
            if arg in ("--help", "-h", "--version"):
                return None
            i += 1
            continue
        return arg if arg in COMMANDS else None
    return None


def _print_error(message: str, hint: str | None) -> None:
    from orchestrator.secrets import redact_text

    sys.stderr.write(f"drill: error: {redact_text(message)}\n")
    if hint:
        sys.stderr.write(f"  hint: {redact_text(hint)}\n")


def _warn_after(command: str | None, args: list[str]) -> None:
    app = _APP[0]
    if app is None or command is None:
        return
    rest = args[args.index(command) + 1 :] if command in args else []
    sub = next((a for a in rest if not a.startswith("-")), "")
    if command in _READ_ONLY_STORELESS or f"{command} {sub}" in _READ_ONLY_STORELESS:
        app.warn_orphans_lightly()


#: What Typer returns (standalone_mode=False) when a command was stopped by Ctrl-C.
_TYPER_INTERRUPTED = 130


class _Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP (the terminal closed), outside the commands that handle them
    themselves (run, recover, lab up, serve, the scheduler): stopped like a Ctrl-C —
    clean-ups run (`evidence export`'s half-written bundle beside --out is removed),
    exit 3 — where their default killed drill at once (exit 143, 129), leaving that file
    behind."""


_SERVICES = ("serve", "scheduler")

_TERMINATED: list[str] = []  # the signal's name (Typer turns the raise into its Abort)


def _terminate_as_interrupt(command: str | None) -> None:
    """(``command``: `serve` and the scheduler service keep SIGHUP's default: they stop
    on SIGINT and SIGTERM in their own way.)"""
    import signal

    from orchestrator.engine.signals import detach, stop_signals, terminal_fds

    terminal = terminal_fds()

    def handler(signum: int, _frame: object) -> None:
        if signum == signal.SIGHUP:  # its writes fail from now on (EIO)
            detach(terminal)
        _TERMINATED.append(signal.Signals(signum).name)
        raise _Terminated

    for sig in stop_signals():
        if sig == signal.SIGTERM or (sig == signal.SIGHUP and command not in _SERVICES):
            signal.signal(sig, handler)


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point; returns (and exits with) the exit status."""
    import gc

    code: int
    args = sys.argv[1:] if argv is None else argv
    command = invoked_command(args)
    if command == "run" and argv is None:
        # Start-up allocates ~half a million long-lived objects (Typer, pydantic, chaoslib);
        # the collector would walk them again and again while nothing is garbage yet.
        # `drill run` re-enables it once loaded, before the run itself starts. (Hence
        # Typer is imported here, not by this module: its import alone met ~30 passes.)
        gc.disable()
    import typer

    from orchestrator.errors import DrillError, ExitStatus

    _APP[0] = None
    if argv is None:  # the drill process itself (not a test calling main in-process)
        _terminate_as_interrupt(command)
    try:
        result = build_app(command)(args=args, standalone_mode=False, prog_name="drill")
        code = int(result) if isinstance(result, int) else 0
        if code == _TYPER_INTERRUPTED:
            raise KeyboardInterrupt
        _warn_after(command, args)
    except DrillError as exc:
        if _STATE["traceback"]:
            import traceback

            traceback.print_exc()
        _print_error(exc.message, exc.hint)
        code = int(exc.exit_status)
    except typer.Exit as exc:
        code = exc.exit_code
    except typer.TyperException as exc:  # usage errors, unknown commands, missing arguments
        # (the public base of Typer's vendored Click exceptions)
        # one line like every other error (it names the option or argument); redacted by
        # _print_error, since it echoes option values: a secret given by mistake too
        ctx = getattr(exc, "ctx", None)
        if ctx is not None and exc.format_message() == ctx.get_help():
            # `drill` or `drill lab` alone: the help, as written (it was squeezed into one
            # `drill: error: Usage: …` line of the whole page); still a usage error
            sys.stderr.write(ctx.get_help() + "\n")
            code = int(ExitStatus.USAGE)
        else:
            _print_error(
                " ".join(exc.format_message().split()),
                f"see `{ctx.command_path} --help`" if ctx is not None else None,
            )
            code = int(ExitStatus.USAGE)
    except (typer.Abort, KeyboardInterrupt):
        sys.stderr.write(
            f"drill: stopped ({_TERMINATED[0]})\n" if _TERMINATED else "drill: interrupted\n"
        )
        code = int(ExitStatus.ABORTED)
    except Exception as exc:  # a bug: say so plainly, full trace on request
        if _STATE["traceback"]:
            raise
        from orchestrator.commands.storecheck import store_fault

        fault = store_fault(exc)
        if fault is not None:  # the store's fault, not drill's: the operator's to fix
            _print_error(
                f"the evidence database failed: {fault}",
                "free space / make it writable / restore it from a backup "
                "(`drill evidence verify` says what is damaged)",
            )
            code = int(ExitStatus.USAGE)
        else:
            _print_error(
                f"internal error: {exc.__class__.__name__}: {exc}",
                "this is a bug in drill; re-run with --traceback and report it",
            )
            code = int(ExitStatus.FAILED)
    if _APP[0] is not None:
        _APP[0].done()
    if argv is None:
        # The process ends now: skip the collector's passes over every object the imports
        # created (interpreter shutdown otherwise spends ~0.2 s in them). Objects are still
        # finalised normally; only cyclic garbage is left to the operating system.
        gc.freeze()
        sys.exit(code)
    return code


if __name__ == "__main__":
    main()
