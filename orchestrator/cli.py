"""The `drill` command line: thin — parses, calls into the package, prints.

Only this module maps errors to exit codes (see :class:`orchestrator.errors.ExitStatus`)
and prints ``drill: error: …``; ``--traceback`` shows the full trace. Command modules
import their heavy dependencies inside the command functions so that ``drill --help``
stays fast.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from orchestrator import __version__
from orchestrator.commands import (
    defs,
    evidence,
    findings,
    gameday,
    iam,
    inventory,
    lab,
    report,
    run,
    runbook,
    runs,
    schedule,
    scheduler,
    status,
)
from orchestrator.commands.common import AppState

app = typer.Typer(
    name="drill",
    help="Chaos and disaster-recovery drills as code: run DR runbooks against the local lab "
         "or AWS, measure RTO/RPO with independent probes, keep tamper-evident evidence.\n\n"
         "Start with:  drill run quarterly-dr   (brings up the local DR lab if needed)",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        print(f"drill {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    config: Annotated[str | None, typer.Option(
        "--config", "-c", metavar="FILE",
        help="drill.yaml to use (default: $DRILL_CONFIG, then ./drill.yaml)",
        envvar=None)] = None,
    traceback: Annotated[bool, typer.Option("--traceback", help="show full tracebacks")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="print the version")] = False,
) -> None:
    ctx.obj = AppState(config=config, traceback=traceback)
    _STATE["traceback"] = traceback


_STATE: dict[str, bool] = {"traceback": False}

app.command("run")(run.run)
app.command("plan")(run.plan)
app.command("abort")(run.abort)
app.command("ack")(run.ack)
app.command("list")(defs.list_cmd)
app.command("validate")(defs.validate)
app.add_typer(runs.app, name="runs")
app.add_typer(evidence.app, name="evidence")
app.add_typer(findings.app, name="findings")
app.command("report")(report.report)
app.add_typer(schedule.app, name="schedule")
app.add_typer(scheduler.app, name="scheduler")
app.add_typer(gameday.app, name="gameday")
app.command("status")(status.status)
app.command("inventory")(inventory.inventory)
app.command("iam-policy")(iam.iam_policy)
app.add_typer(runbook.app, name="runbook")
app.add_typer(lab.app, name="lab")


def _print_error(message: str, hint: str | None) -> None:
    from orchestrator.secrets import redact_text

    sys.stderr.write(f"drill: error: {redact_text(message)}\n")
    if hint:
        sys.stderr.write(f"  hint: {redact_text(hint)}\n")


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point; returns (and exits with) the exit status."""
    import click

    from orchestrator.errors import DrillError, ExitStatus

    code: int
    try:
        result = app(args=argv, standalone_mode=False, prog_name="drill")
        code = int(result) if isinstance(result, int) else 0
    except DrillError as exc:
        if _STATE["traceback"]:
            import traceback

            traceback.print_exc()
        _print_error(exc.message, exc.hint)
        code = int(exc.exit_status)
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except click.UsageError as exc:
        exc.show()
        code = int(ExitStatus.USAGE)
    except click.ClickException as exc:
        exc.show()
        code = int(ExitStatus.USAGE)
    except (click.exceptions.Abort, KeyboardInterrupt):
        sys.stderr.write("drill: interrupted\n")
        code = int(ExitStatus.ABORTED)
    except Exception as exc:  # a bug: say so plainly, full trace on request
        if _STATE["traceback"]:
            raise
        _print_error(f"internal error: {exc.__class__.__name__}: {exc}",
                     "this is a bug in drill; re-run with --traceback and report it")
        code = int(ExitStatus.FAILED)
    if argv is None:
        sys.exit(code)
    return code


if __name__ == "__main__":
    main()
