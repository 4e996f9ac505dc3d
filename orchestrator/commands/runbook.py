"""`drill runbook render`: the Markdown version of runbooks, for humans."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Annotated, Any

import typer

from orchestrator.commands.common import err_console, state

app = typer.Typer(
    help="Runbooks for humans: render the Markdown an on-call engineer follows.",
    no_args_is_help=True,
)


@app.command("render")
def render_cmd(
    ctx: typer.Context,
    ids: Annotated[
        list[str] | None,
        typer.Argument(help="runbook ids or files (default: every runbook drill can find)"),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="write into this directory (default: beside each runbook's YAML; a bundled "
            "runbook's into your runbooks/ directory)",
        ),
    ] = None,
    check: Annotated[
        bool,
        typer.Option(
            "--check", help="write nothing; exit 1 if a rendered file is missing or stale"
        ),
    ] = False,
) -> None:
    """Write RUNBOOK.md beside each runbook YAML (or into --out).

    A bundled runbook (installed with drill) is rendered into your runbooks/ directory
    (`paths.runbooks` of drill.yaml, else ./runbooks/), never into the installed
    package. drill prints each file it writes.

    Examples:

    \b
      drill runbook render                # all; bundled ones into ./runbooks/
      drill runbook render az-loss --out docs/
      drill runbook render --check        # CI: are the .md files current?
    """
    from orchestrator.definitions.catalog import Catalog
    from orchestrator.definitions.kinds import DefinitionKind
    from orchestrator.definitions.models import Runbook
    from orchestrator.definitions.render import render_runbook, rendered_path
    from orchestrator.errors import DrillError, UsageError
    from orchestrator.outpaths import write_output

    catalog = Catalog(state(ctx).settings())
    targets: list[tuple[Runbook, Path]] = []
    if ids:
        for ref in ids:
            targets.append(catalog.runbook(ref))
    else:
        for entry in catalog.entries(DefinitionKind.RUNBOOK):
            targets.append(catalog.runbook(str(entry.path)))
    if not targets:
        raise UsageError("no runbooks found", "put runbooks in runbooks/ or name a file")
    if out is not None and not check:
        _out_dir(out)
    stale: list[str] = []
    for rb, path in targets:
        bundled_to = None if out is not None else _bundled_dest(catalog, path, check)
        dest = rendered_path(path, out or bundled_to)
        whose = f" (bundled runbook {rb.id})" if bundled_to is not None else ""
        text = render_runbook(rb, f"{path.parent.name}/{path.name}")  # stable across cwds
        current = dest.read_text(encoding="utf-8") if dest.exists() else None
        if check:
            if current != text:
                stale.append(str(dest))
            continue
        if current != text:  # a regular file, written whole (a read-only or odd place: exit 2)
            write_output(
                dest,
                "--out" if out is not None else "runbook render",
                partial(Path.write_text, data=text, encoding="utf-8"),
            )
            err_console().print(f"wrote {_shown(dest)}{whose}", markup=False, soft_wrap=True)
        else:
            err_console().print(
                f"unchanged {_shown(dest)}{whose}", style="dim", markup=False, soft_wrap=True
            )
    if stale:
        raise DrillError(
            f"{len(stale)} rendered runbook(s) missing or out of date: " + ", ".join(stale),
            "run `drill runbook render` and commit the result",
        )
    if check:
        err_console().print(f"[green]✔[/] {len(targets)} rendered runbook(s) current")


def _shown(path: Path) -> str:
    """A path as the user can use it: relative to the working directory when inside it."""
    import os

    absolute = Path(os.path.abspath(path))
    try:
        return str(absolute.relative_to(Path.cwd()))
    except ValueError:
        return str(absolute)


def _bundled_dest(catalog: Any, path: Path, check: bool) -> Path | None:
    """Where a runbook is rendered without ``--out``: None (beside its YAML) for the
    user's own; for a bundled one the user's first runbooks directory (created when
    rendering) — it was written beside the installed package, where nobody looks and a
    system-wide install may not be writable."""
    from orchestrator.definitions.kinds import DefinitionKind

    if not catalog.is_bundled(path, DefinitionKind.RUNBOOK):
        return None
    dirs = catalog.settings.search_dirs("runbooks")
    local = dirs[0] if dirs else catalog.settings.resolve("runbooks")
    if not check:
        _out_dir(local)
    return Path(local)


def _out_dir(out: Path) -> None:
    """``--out`` is a directory, created when missing: a file there, or a place where
    none can be made, was `internal error: FileExistsError` / `FileNotFoundError`."""
    from orchestrator.errors import UsageError

    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is not a directory", "name a directory (drill creates it)")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        reason = exc.strerror.lower() if exc.strerror else exc.__class__.__name__
        raise UsageError(f"--out {out}: {reason}", "name a directory drill may create") from None
