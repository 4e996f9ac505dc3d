"""`drill list` and `drill validate`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from orchestrator.commands.common import err_console, out_console, print_json, state


def list_cmd(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON document")] = False,
) -> None:
    """Drills, runbooks and experiments available here (local first, then bundled)."""
    from rich.table import Table

    from orchestrator.definitions.catalog import Catalog

    entries = Catalog(state(ctx).settings()).entries()
    rows = []
    for e in entries:
        title = ""
        try:
            for line in e.path.read_text(encoding="utf-8").splitlines():
                if line.startswith("title:"):
                    title = line.split(":", 1)[1].strip().strip("'\"")
                    break
        except OSError:
            pass
        rows.append({"id": e.id, "kind": e.kind.value, "title": title, "origin": e.origin,
                     "path": str(e.path)})
    if as_json:
        print_json(rows)
        return
    table = Table()
    for col in ("kind", "id", "title", "from"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["kind"], f"[bold]{r['id']}[/]", r["title"], r["origin"])
    out_console().print(table)


def validate(
    ctx: typer.Context,
    paths: Annotated[list[Path] | None, typer.Argument(
        help="files or directories (default: every definition drill can find)")] = None,
) -> None:
    """Validate definitions; report every problem with file:line (exit 2 if any)."""
    from orchestrator.definitions.catalog import Catalog
    from orchestrator.definitions.loader import DEFINITION_SUFFIXES, load_definition
    from orchestrator.definitions.models import Drill
    from orchestrator.errors import DefinitionError, Problem

    catalog = Catalog(state(ctx).settings())
    files: list[Path] = []
    if paths:
        for p in paths:
            if p.is_dir():
                files += sorted(f for f in p.rglob("*") if f.suffix in DEFINITION_SUFFIXES)
            else:
                files.append(p)
    else:
        files = [e.path for e in catalog.entries()]
    problems: list[Problem] = []
    ok = 0
    for f in files:
        try:
            _kind, definition, _doc = load_definition(f, strict=True)
            if isinstance(definition, Drill):
                ref_problems = catalog.check_drill_refs(definition, str(f))
                if ref_problems:
                    raise DefinitionError(ref_problems)
            ok += 1
        except DefinitionError as exc:
            problems.extend(exc.problems)
    if problems:
        raise DefinitionError(problems, f"{ok} of {len(files)} file(s) valid; fix the rest")
    err_console().print(f"[green]✔[/] {ok} definition(s) valid")
