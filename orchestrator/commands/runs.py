"""`drill runs list|show`."""

from __future__ import annotations

from typing import Annotated

import typer

from orchestrator.commands.common import esc, out_console, print_json, state

app = typer.Typer(help="Past and running runs, from the evidence store.", no_args_is_help=True)


@app.command("list")
def list_cmd(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON document")] = False,
    limit: Annotated[int, typer.Option(min=1, max=1_000_000, help="how many, newest first")] = 50,
    env: Annotated[str | None, typer.Option(help="only this environment")] = None,
    drill: Annotated[str | None, typer.Option(help="only this drill/runbook/experiment")] = None,
    status: Annotated[str | None, typer.Option(help="only runs with this status")] = None,
    period: Annotated[
        str | None,
        typer.Option(help="only runs started in this quarter (2026-Q4) or FROM..TO (YYYY-MM-DD)"),
    ] = None,
    offset: Annotated[int, typer.Option(help="skip this many (paging)")] = 0,
) -> None:
    """List runs, newest first."""
    from rich.table import Table

    from orchestrator.views import RunsQuery

    runs = RunsQuery(drill, env, status, period, limit, offset).documents(state(ctx).read_db())
    if as_json:
        print_json(runs)
        return
    from rich import box

    table = Table(box=box.SIMPLE_HEAD)
    table.add_column("run id", no_wrap=True, min_width=24)  # users copy it whole
    for col in ("drill", "env", "status", "trigger", "started (UTC)", "by"):
        table.add_column(col, no_wrap=True, overflow="ellipsis")
    for r in runs:
        table.add_row(
            r["run_id"],
            r["drill"],
            r["env"],
            r["status"]
            + (" (dry run)" if r["dry_run"] else "")
            + (f" ({r['skipped_scenarios']} skipped)" if r["skipped_scenarios"] else ""),
            r["trigger"],
            (r["started_at"] or "")[:16].replace("T", " "),
            r["who"],
        )
    if runs:
        out_console().print(table)
    elif any(f is not None for f in (drill, env, status, period)) or offset:
        out_console().print("no run matches (the filters, or --offset, leave none)")
    else:
        out_console().print("no runs yet — try `drill run quarterly-dr`")


@app.command("show")
def show_cmd(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="run id (see `drill runs list`)")],
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON document")] = False,
) -> None:
    """One run: scenarios, steps, measurements, findings and timeline."""
    from orchestrator.commands.progress import summary_table
    from orchestrator.engine.objectives import NOT_STARTED
    from orchestrator.engine.results import run_document
    from orchestrator.views import measurement_shown, steps_as_ran

    doc = run_document(state(ctx).read_db(), run_id, detail=True)
    if as_json:
        print_json(doc)
        return
    console = out_console()
    console.print(summary_table(doc))
    for sc in doc["scenarios"]:
        for what in ("rto", "rpo"):
            why = doc["scenario_notes"].get(sc["id"], {}).get(what)
            if sc[f"{what}_s"] is None and isinstance(why, str):
                console.print(f"  {esc(sc['id'])}: {what.upper()} {esc(why)}")
    console.print(
        f"started {doc['started_at']} by {doc['who']} ({doc['trigger']}), "
        f"ended {doc['ended_at'] or '—'}"
    )
    if doc.get("error"):
        console.print(f"[red]error:[/] {esc(doc['error'])}")
    for e in doc["timeline"]:  # an aborted run's scenarios that never began
        if e["kind"] == NOT_STARTED:
            console.print(f"[yellow]scenarios {esc(e['message'])}[/]")
    console.print("\n[bold]Steps[/] [dim](in the order they ran; never started: last)[/]")
    for st in steps_as_ran(doc["steps"]):
        console.print(
            f"  {st['seq']:>3} {st['scenario'] or '':<18} {st['phase']:<12} "
            f"{st['status']:<10} {st['name']}" + (f"  [red]{st['error']}[/]" if st["error"] else "")
        )
    if doc["measurements"]:
        console.print("\n[bold]Measurements[/]")
        for m in doc["measurements"]:
            value, bound = measurement_shown(m)
            console.print(
                f"  {m['scenario'] or '':<18} {m['name']:<12} {value}{' ' + bound if bound else ''}"
                f"  [dim]{m['method']}[/]"
            )
    if doc["findings"]:
        console.print("\n[bold]Findings[/]")
        for f in doc["findings"]:  # with where it stands: open, whose, by when
            severity = esc(f"[{f['severity']}]")
            owner = f", {f['owner']}" + (f" by {f['due_date']}" if f["due_date"] else "")
            stands = f["status"] + (owner if f["owner"] else ", no owner")
            console.print(
                f"  #{f['id']} {severity} {esc(f['title'])} ({esc(stands)}) — "
                f"{esc(f['corrective_action'])}"
            )
