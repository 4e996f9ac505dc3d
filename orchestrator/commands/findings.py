"""`drill findings list|show|assign|close`: corrective actions an auditor can follow.

A finding's lifecycle (owner, due date, resolution) may change after its run ended;
each change is a new event in the evidence journal, so the history is kept.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Annotated

import typer

from orchestrator.commands.common import err_console, esc, out_console, print_json, state

if TYPE_CHECKING:
    from orchestrator.evidence.records import Finding
    from orchestrator.evidence.writer import EvidenceDB

app = typer.Typer(
    help="Findings (objective missed, step failed, drill overdue…) and their corrective actions.",
    no_args_is_help=True,
)


def _get(db: EvidenceDB, finding_id: int) -> Finding:
    from orchestrator.errors import NotFoundError
    from orchestrator.evidence.records import Finding

    row: Finding | None = db.get(Finding, finding_id)
    if row is None:
        raise NotFoundError(f"no finding #{finding_id}", "`drill findings list` shows ids")
    return row


@app.command("list")
def list_cmd(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(help="open or closed")] = None,
    run_id: Annotated[str | None, typer.Option("--run", help="only this run")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON document")] = False,
) -> None:
    """Findings, newest first."""
    from orchestrator.views import findings_documents

    docs = findings_documents(state(ctx).read_db(), status, run_id)
    if as_json:
        print_json(docs)
        return
    if not docs:
        out_console().print("no findings")
    for d in docs:
        owner = f" → {d['owner']} by {d['due_date'] or '?'}" if d["owner"] else ""
        if d["status"] == "open" and not d["owner"]:
            owner = " (no owner)"
        severity = esc(f"[{d['severity']}]")
        out_console().print(f"#{d['id']:<4} {d['status']:<6} {severity} {esc(d['title'] + owner)}")
    if any(d["status"] == "open" and not d["owner"] for d in docs):  # what to do about them
        step = "give each open finding without an owner one: " + _NEXT_ASSIGN.format(id="ID")
        out_console().print(f"[dim]{esc(step)}[/]")


#: the next step of an open finding: an open one without an owner keeps the controls
#: that track findings (SOC 2 CC7.5, PCI 12.10.2, …) unsatisfied in every export
_NEXT_ASSIGN = (
    "`drill findings assign {id} --owner WHO --due YYYY-MM-DD` (an open finding without an "
    "owner leaves the controls that track findings not satisfied)"
)
_NEXT_CLOSE = "when its corrective action is done: `drill findings close {id} --resolution TEXT`"


@app.command("show")
def show(
    ctx: typer.Context,
    finding_id: Annotated[int, typer.Argument(min=1, max=2**63 - 1, help="finding id")],
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON document")] = False,
) -> None:
    """One finding with its corrective action."""
    from orchestrator.views import finding_document

    d = finding_document(_get(state(ctx).read_db(), finding_id))
    if as_json:
        print_json(d)
        return
    for key, value in d.items():
        out_console().print(f"{key:<18} {value if value is not None else '—'}")
    if d["status"] == "open":
        step = (_NEXT_CLOSE if d["owner"] else "give it an owner: " + _NEXT_ASSIGN).format(
            id=d["id"]
        )
        out_console().print(f"{'next':<18} {esc(step)}")


@app.command("assign")
def assign(
    ctx: typer.Context,
    finding_id: Annotated[int, typer.Argument(min=1, max=2**63 - 1, help="finding id")],
    owner: Annotated[str, typer.Option(help="who carries out the corrective action")],
    due: Annotated[str | None, typer.Option(help="due date, YYYY-MM-DD")] = None,
) -> None:
    """Give a finding an owner and a due date."""
    from orchestrator.durations import check_date
    from orchestrator.errors import UsageError

    owner = owner.strip()
    if not owner:  # a blank owner made the finding count as tracked for the controls
        raise UsageError("--owner must name who carries out the corrective action")
    if due is not None:
        try:
            day = date.fromisoformat(due)
        except ValueError:
            raise UsageError(f"--due {due!r} is not a date", "use YYYY-MM-DD") from None
        try:
            check_date(day, "--due")
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    db = state(ctx).db()
    row = _get(db, finding_id)
    if row.status == "closed":
        raise UsageError(f"finding #{finding_id} is closed")
    row.owner, row.due_date = owner, due
    db.write(row)
    err_console().print(
        f"finding #{finding_id} assigned to {owner}" + (f", due {due}" if due else "")
    )


@app.command("close")
def close(
    ctx: typer.Context,
    finding_id: Annotated[int, typer.Argument(min=1, max=2**63 - 1, help="finding id")],
    resolution: Annotated[str, typer.Option(help="what was done about it")],
) -> None:
    """Close a finding with its resolution."""
    from orchestrator.errors import UsageError
    from orchestrator.secrets import redact

    if not resolution.strip():
        raise UsageError("--resolution must say what was done")
    db = state(ctx).db()
    row = _get(db, finding_id)
    if row.status == "closed":
        raise UsageError(f"finding #{finding_id} is already closed")
    row.status, row.resolution = "closed", redact(resolution)
    row.closed_at = datetime.now(UTC)
    db.write(row)
    err_console().print(f"finding #{finding_id} closed")
