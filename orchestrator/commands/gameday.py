"""`drill gameday create | list | show`."""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo

import typer

from orchestrator.commands.common import err_console, out_console, print_json, state

app = typer.Typer(
    help="Game days: drills on a date with participants and notifications.", no_args_is_help=True
)


def _split(values: list[str] | None) -> list[str]:
    return [v.strip() for item in values or [] for v in item.split(",") if v.strip()]


@app.command("create")
def create_cmd(
    ctx: typer.Context,
    date: Annotated[str, typer.Option(help="when: ISO date-time, e.g. 2030-03-01T10:00")],
    drills: Annotated[list[str], typer.Option(help="drill ids (comma-separated or repeated)")],
    participants: Annotated[
        list[str] | None, typer.Option(help="who takes part (comma-separated or repeated)")
    ] = None,
    env: Annotated[str | None, typer.Option("--env", "-e", help="environment")] = None,
    notify: Annotated[
        list[str] | None, typer.Option(help="webhook URL for announcement and summary (repeatable)")
    ] = None,
    title: Annotated[str | None, typer.Option(help="name of the game day")] = None,
    announce_before: Annotated[str, typer.Option(help="announce this long ahead")] = "1d",
    timezone: Annotated[str | None, typer.Option(help="IANA zone of --date (UTC)")] = None,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="approve protected environments")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the game day as JSON")] = False,
) -> None:
    """Plan a game day: announce ahead, render runbooks, run at the date, post a summary.

    Example:

    \b
      drill gameday create --date 2030-03-01T10:00 --drills quarterly-dr \\
          --participants alice,bob --notify https://hooks.slack.com/services/…
    """
    from orchestrator.engine.runner import operator
    from orchestrator.evidence.enums import utcnow
    from orchestrator.schedule import gameday

    app_state = state(ctx)
    row = gameday.create(
        app_state.settings(),
        app_state.store(),
        date=date,
        drills=_split(drills),
        participants=_split(participants),
        env=env,
        notify=_split(notify),
        title=title,
        announce_before=announce_before,
        timezone=timezone,
        yes=yes,
        who=operator(),
        now=utcnow(),
    )
    if as_json:
        print_json(gameday.doc(row))
        return
    local = row.scheduled_for.astimezone(ZoneInfo(row.timezone))
    when = f"{row.scheduled_for:%Y-%m-%d %H:%M} UTC"
    if row.timezone != "UTC":
        when = f"{local:%Y-%m-%d %H:%M} {row.timezone} ({when})"
    err_console().print(
        f"game day {row.id} planned for {when}; "
        f"runbooks in {row.runbooks_dir}; `drill scheduler run` will announce "
        "and run it",
        soft_wrap=True,  # the runbooks' path was cut mid-name
    )
    out_console().print(row.id)


@app.command("list")
def list_cmd(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON document")] = False,
) -> None:
    """Game days, by date."""
    from orchestrator.schedule import gameday

    docs = [gameday.doc(g) for g in gameday.all_gamedays(state(ctx).read_db())]
    if as_json:
        print_json(docs)
        return
    if not docs:
        out_console().print("no game days — `drill gameday create --date … --drills …`")
    for d in docs:
        out_console().print(
            f"{d['id']}  {d['date'][:16]}  {d['status']:<10} {d['env']:<8} "
            f"{', '.join(d['drills'])}  ({d['title']})"
        )


@app.command("show")
def show_cmd(
    ctx: typer.Context,
    gameday_id: Annotated[str, typer.Argument(help="game day id")],
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON document")] = False,
) -> None:
    """One game day: plan, participants, runbooks, runs and summary."""
    from orchestrator.schedule import gameday

    d = gameday.doc(gameday.get(state(ctx).read_db(), gameday_id))
    if as_json:
        print_json(d)
        return
    c = out_console()
    c.print(f"[bold]{d['title']}[/] ({d['id']}) — {d['status']}")
    c.print(f"date {d['date']} · env {d['env']} · drills {', '.join(d['drills'])}")
    c.print(f"participants: {', '.join(d['participants']) or '—'}")
    c.print(f"notify: {', '.join(d['notify']) or '(drill.yaml notify only)'}")
    for b in d["runbooks"]:
        c.print(f"  runbook {b['runbook']}: {b.get('rendered') or b.get('source')}")
    for r in (d["summary"] or {}).get("runs", []):
        c.print(f"  run {r['drill']}: {r['status']} {r['run_id'] or ''}")
