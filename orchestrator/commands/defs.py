"""`drill list` and `drill validate`."""

from __future__ import annotations

import os
from collections.abc import Iterable
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
    rows = [
        {
            "id": e.id,
            "kind": e.kind.value,
            "title": e.title,
            "origin": e.origin,
            "path": str(e.path),
        }
        for e in entries
    ]
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
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="files or directories (default: every definition drill can find)"),
    ] = None,
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
                files += _definition_files(p, DEFINITION_SUFFIXES)
            else:
                files.append(p)
    problems: list[Problem] = []
    clashes = catalog.clashes()  # one id in two files: which one runs is ambiguous
    if not paths:
        # every file, shadowed duplicates too: an invalid second `id: dup` must not hide
        files = [e.path for e in catalog.entries()]
        files += [e.path for group in clashes for e in group if e.path not in files]
    given = {f.absolute() for f in files}  # not resolve(): a symlink loop is reported below
    for group in clashes:
        if any(e.path.absolute() in given for e in group):
            problems += catalog.clash_problems(group)
    ok = 0
    for f in files:
        try:
            _kind, definition, _doc = load_definition(f, strict=True)
            for warning in getattr(definition, "warnings", None) or []:
                err_console().print(f"drill: warning: {warning}", markup=False)
            if isinstance(definition, Drill):
                ref_problems = catalog.check_drill_refs(definition, str(f))
                if ref_problems:
                    raise DefinitionError(ref_problems)
            ok += 1
        except DefinitionError as exc:
            problems.extend(exc.problems)
    if problems:
        problems = list(dict.fromkeys(problems))  # a clash is also met through a drill
        raise DefinitionError(problems, f"{ok} of {len(files)} file(s) valid; fix the rest")
    err_console().print(f"[green]✔[/] {ok} definition(s) valid")


def _definition_files(root: Path, suffixes: Iterable[str]) -> list[Path]:
    """The definition files under ``root``, hidden files and directories left out:
    `drill validate .` in a repository walked `.venv/` (thousands of JSON files of
    installed packages, minutes) and `.drill/` (drill's own state, each file reported
    as an invalid definition), as the catalog never looks there either."""
    found: list[Path] = []
    for directory, subdirs, names in os.walk(root):
        subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
        found += [
            Path(directory) / n
            for n in sorted(names)
            if not n.startswith(".") and Path(n).suffix in suffixes
        ]
    return found
