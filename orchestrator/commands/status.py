"""`drill status`: the compliance view — per drill last run, last success, next due."""

from __future__ import annotations

from typing import Annotated

import typer

from orchestrator.commands.common import err_console, esc, out_console, print_json, state


def status(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON document")] = False,
) -> None:
    """Per drill: last run, last success, next due, overdue (and missed periods).

    A period of a drill's cadence (e.g. a quarter for `schedule: quarterly`) that
    ended without a successful run is recorded as a `drill_overdue` finding the
    first time it is noticed, here or by `drill scheduler run`.
    """
    from orchestrator.evidence.enums import utcnow
    from orchestrator.views import status_and_filed

    app_state = state(ctx)
    record = app_state.store_missing() is None  # no store: nothing to record into, none made
    report, filed = status_and_filed(
        app_state.settings(), app_state.read_db(), utcnow(), record=record
    )
    for title in filed:  # stderr, also with --json: the document equals /api/status
        err_console().print(f"[yellow]finding recorded:[/] {esc(title)}")
    if as_json:
        print_json(report)
        return
    from rich.table import Table

    table = Table()
    for c in ("drill", "cadence", "last run (UTC)", "last success (UTC)", "next due (UTC)"):
        table.add_column(c)
    table.add_column("overdue")
    for d in report["drills"]:
        status = (d["last_run_status"] or "") + (" (dry run)" if d["last_run_dry_run"] else "")
        status += _skipped(d["last_run_skipped_scenarios"])
        last = f"{_when(d['last_run'])} {status}".strip()
        table.add_row(
            d["drill"],
            d["cadence"] or "—",
            last,
            _when(d["last_success"]) + _skipped(d["last_success_skipped_scenarios"]),
            _when(d["next_due"] or d["next_fire"])
            + "".join(f"\n{esc(why)}" for why in d["next_fire_errors"]),
            "[red]OVERDUE[/]" if d["overdue"] else "no",
        )
    out_console().print(table if report["drills"] else "no drills found")


def _skipped(n: int) -> str:
    """`` (2 skipped)``: scenarios an isolated run did not run (it succeeded without them)."""
    return f" ({n} skipped)" if n else ""


def _when(iso: str | None) -> str:
    """``2026-12-01 23:53`` (the column says UTC) from ``2026-12-01T23:53:24.24Z``."""
    return (iso or "—")[:16].replace("T", " ")
