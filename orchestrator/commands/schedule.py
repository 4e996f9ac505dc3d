"""`drill schedule add | list | remove | sync`."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from orchestrator.commands.common import err_console, esc, out_console, print_json, state

if TYPE_CHECKING:
    from orchestrator.schedule.blackout import Window

app = typer.Typer(help="Schedules of drills (run by `drill scheduler run`).", no_args_is_help=True)


@app.command("add")
def add_cmd(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(help="drill, runbook or experiment id (or file)")],
    env: Annotated[str | None, typer.Option("--env", "-e", help="environment to run on")] = None,
    cron: Annotated[
        str | None,
        typer.Option(
            help="cron expression ('0 6 1 */3 *') or alias (quarterly, monthly, weekly, daily)"
        ),
    ] = None,
    every: Annotated[str | None, typer.Option(help="interval: 30s, 5m, 1h, 1d")] = None,
    at: Annotated[
        str | None, typer.Option(help="once: ISO date-time, HH:MM (next), or +DURATION")
    ] = None,
    timezone: Annotated[str | None, typer.Option(help="IANA zone for --cron/--at (UTC)")] = None,
    yes: Annotated[
        bool,
        typer.Option(
            "--yes",
            "-y",
            help=("approve mutating runs on a protected environment (recorded with the schedule)"),
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the schedule as JSON")] = False,
    var: Annotated[
        list[str] | None,
        typer.Option(
            "--var",
            metavar="KEY[:TYPE]=VALUE",
            help="experiment configuration value for each "
            "run, as `drill run --var` (repeatable; put secrets in a --var-file)",
        ),
    ] = None,
    var_file: Annotated[
        list[Path] | None,
        typer.Option(
            "--var-file",
            metavar="FILE",
            help="experiment var file (JSON/YAML/.env) for each run, as "
            "`drill run --var-file`; its path is stored, read at each run (repeatable)",
        ),
    ] = None,
) -> None:
    """Schedule a drill: exactly one of --cron, --every, --at.

    Examples:

    \b
      drill schedule add quarterly-dr --env staging --cron quarterly --yes
      drill schedule add multi-az-failover --env lab --every 1h
      drill schedule add rds-failover --env lab --at 2030-01-15T09:00 \\
          --timezone Europe/Paris
      drill schedule add rds-reboot-failover-chaosaws --env staging \\
          --cron monthly --yes --var db_instance=prod-db \\
          --var-file vars/staging.yaml
    """
    from orchestrator.engine.experiment_options import build_options
    from orchestrator.engine.runner import operator
    from orchestrator.errors import UsageError
    from orchestrator.evidence.enums import utcnow
    from orchestrator.schedule import schedules, specs
    from orchestrator.schedule.blackout import load_windows

    given = [name for name, v in (("--cron", cron), ("--every", every), ("--at", at)) if v]
    if len(given) != 1:
        raise UsageError(
            "give exactly one of --cron, --every, --at"
            + (f" (got {', '.join(given)})" if given else ""),
            "e.g. `drill schedule add quarterly-dr --env lab --cron quarterly`",
        )
    now = utcnow()
    if every and timezone:
        raise UsageError("--timezone applies to --cron and --at, not --every")
    spec = (
        specs.cron_spec(cron, timezone)
        if cron
        else specs.every_spec(every or "")
        if every
        else specs.at_spec(at or "", timezone, now)
    )
    opts = build_options(var, var_file, None)  # refused now (exit 2), not at 3 a.m.
    _refuse_secret_vars(var or [])
    run_args = [a for v in var or [] for a in ("--var", v)]
    run_args += [a for f in var_file or [] for a in ("--var-file", str(f.resolve()))]
    app_state = state(ctx)
    env_name, needs = schedules.check_target(app_state.settings(), target, env, yes)
    target = schedules.stored_target(target)
    if run_args:  # as `drill run` will: on a runbook they would fail every fire
        from orchestrator.definitions.catalog import Catalog
        from orchestrator.engine.experiment_options import refuse_without_experiments
        from orchestrator.engine.plan import build_plan

        catalog = Catalog(app_state.settings())
        plan = build_plan(catalog, target, None, None)
        refuse_without_experiments(opts, plan, catalog)
    windows = load_windows(app_state.settings())  # a bad one refused before anything is written
    twin = schedules.firing_with(app_state.db(), target, env_name, spec, run_args)
    if twin is not None:
        raise UsageError(
            f"{target} on {env_name} already has schedule {twin.id} "
            f"({schedules.describe(twin)}): this one would run it again at each of its fires",
            f"keep {twin.id}, or `drill schedule remove {twin.id}` first",
        )
    row = schedules.add_schedule(
        app_state.db(), target, env_name, spec, operator(), now, approved=needs, run_args=run_args
    )
    nxt = schedules.next_fire_of(row, now, {})
    _warn_if_frozen(windows, nxt)
    if as_json:
        print_json(schedules.schedule_doc(row, nxt, run_args))
        return
    err_console().print(
        f"schedule {row.id}: {target} on {env_name}, {spec.describe()}; "
        f"next fire {nxt:%Y-%m-%d %H:%M:%S} UTC"
        if nxt
        else ""
    )
    out_console().print(row.id)


def _refuse_secret_vars(var: list[str]) -> None:
    """A schedule's --var values are stored with it, and the store masks secrets: a
    secret one was kept as '***' and every fire ran with that for its value."""
    from orchestrator.errors import UsageError
    from orchestrator.secrets import redact

    masked = [
        v.split("=", 1)[0] for v, kept in zip(var, redact(list(var)), strict=True) if kept != v
    ]
    if masked:
        raise UsageError(
            f"--var {', '.join(masked)} holds a secret, which the evidence database keeps masked "
            "with the schedule: every fire would be given '***' for it",
            "put it in a --var-file (the schedule stores the file's path; the file is read "
            "at each run)",
        )


def _warn_if_frozen(windows: list[Window], at: datetime | None) -> None:
    """A fire inside a blackout window is skipped, quietly (no finding): say so now."""
    from orchestrator.schedule.blackout import active_window

    window = active_window(windows, at) if at is not None else None
    if window is not None:
        err_console().print(
            f"note: the next fire ({at:%Y-%m-%d %H:%M:%S} UTC) falls in blackout window "
            f"{window.name!r} and will be skipped",
            soft_wrap=True,
        )


@app.command("list")
def list_cmd(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON document")] = False,
) -> None:
    """Active schedules with their next fire time."""
    from rich.table import Table

    from orchestrator.evidence.enums import utcnow
    from orchestrator.schedule import schedules

    docs = schedules.list_docs(state(ctx).read_db(), utcnow())
    if as_json:
        print_json(docs)
        return
    if not docs:
        out_console().print(
            "no schedules — try `drill schedule add TARGET --env lab --every 1h`"
            " or `drill schedule sync`"
        )
        return
    table = Table()
    for c in (
        "id",
        "target",
        "env",
        "when",
        "next fire (UTC)",
        "last fire",
        "source",
        "approved by",
    ):
        table.add_column(c)
    for d in docs:
        label = d["target"] if d["action"] == "run" else f"{d['action']} {d['target']}"
        last = d["last_fire"]
        table.add_row(
            d["id"],
            label,
            d["env"],
            d["description"],
            esc(d["next_fire_error"])
            if d["next_fire_error"]
            else (d["next_fire_at"] or "—")[:19].replace("T", " "),
            f"{last['scheduled_at'][:19].replace('T', ' ')} {last['status']}"
            + (f" ({last['reason']})" if last["status"] == "skipped" else "")
            if last
            else "—",
            d["source"],
            d["approved_by"] or "",
        )
    out_console().print(table)


@app.command("remove")
def remove_cmd(
    ctx: typer.Context,
    schedule_id: Annotated[str, typer.Argument(help="schedule id (see `drill schedule list`)")],
) -> None:
    """Remove a schedule (kept in the evidence store as removed)."""
    from orchestrator.engine.runner import operator
    from orchestrator.evidence.enums import utcnow
    from orchestrator.schedule import schedules
    from orchestrator.schedule.records import ScheduleAction

    db, now = state(ctx).db(), utcnow()
    row = schedules.remove(db, schedule_id, operator(), now)
    what = row.target if row.action == ScheduleAction.RUN else f"{row.action} {row.target}"
    said = f"removed schedule {row.id} ({what} on {row.env})"
    if row.action == ScheduleAction.GAMEDAY_RUN:
        from orchestrator.schedule.gameday import cancel

        if cancel(db, row.target, operator(), now) is not None:
            said += f": game day {row.target} will not run, it is cancelled (its announcement too)"
    err_console().print(said, soft_wrap=True)


@app.command("sync")
def sync_cmd(
    ctx: typer.Context,
    env: Annotated[str | None, typer.Option("--env", "-e", help="environment to run on")] = None,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="approve protected environments")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON document")] = False,
) -> None:
    """Install the drills' own `schedule:` fields (e.g. quarterly-dr's quarterly cron)."""
    from orchestrator.engine.runner import operator
    from orchestrator.evidence.enums import utcnow
    from orchestrator.schedule import schedules

    app_state = state(ctx)
    result = schedules.sync_from_drills(
        app_state.settings(), app_state.db(), env, yes, operator(), utcnow()
    )
    if as_json:
        print_json(result)
        return
    for key in ("added", "updated", "removed", "unchanged"):
        if result[key]:
            err_console().print(f"{key}: {', '.join(result[key])}")
    if not any(result.values()):
        err_console().print("no drill declares a `schedule:`")
