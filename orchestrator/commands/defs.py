"""`drill list` and `drill validate`."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from orchestrator.commands.common import err_console, out_console, print_json, state, warn

if TYPE_CHECKING:
    from orchestrator.errors import Problem


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
    env: Annotated[
        str | None,
        typer.Option(
            "--env",
            "-e",
            help="also check every step's roles (targets) against this environment, as "
            "`drill plan` and `drill run` do: the lab's components, or the roles of an AWS "
            "environment's Terraform state (read only; nothing is changed)",
        ),
    ] = None,
) -> None:
    """Validate definitions; report every problem with file:line (exit 2 if any).

    Without --env, what a definition says on its own (schema, references, ids). With
    --env ENV, also each runbook step (drills: their runbooks' steps) and each
    experiment activity of drill's extension naming a role the environment does not
    have, in every mode the definition can run in — what `drill plan` and `drill run`
    would refuse there.

    Examples:

    \b
      drill validate                              # every definition drill finds
      drill validate runbooks/ --env staging      # and their roles on staging
    """
    from orchestrator.definitions.catalog import Catalog
    from orchestrator.definitions.loader import DEFINITION_SUFFIXES, load_definition
    from orchestrator.definitions.models import Drill, Runbook
    from orchestrator.errors import DefinitionError

    settings = state(ctx).settings()
    if env is not None:
        settings.environment(env)  # an unknown environment: exit 2 before any file is read
    catalog = Catalog(settings)
    files: list[Path] = []
    if paths:
        from orchestrator.definitions.catalog import refuse_url

        for p in paths:
            refuse_url(str(p))
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
    valid: list[Path] = []
    for f in files:
        try:
            _kind, definition, _doc = load_definition(f, strict=True)
            for warning in getattr(definition, "warnings", None) or []:
                err_console().print(f"drill: warning: {warning}", markup=False)
            if isinstance(definition, Drill):
                ref_problems = catalog.check_drill_refs(definition, str(f), own_mode=True)
                if ref_problems:
                    raise DefinitionError(ref_problems)
            if isinstance(definition, Drill | Runbook):  # what a plan of it would warn of
                from orchestrator.engine.plan import build_plan

                warn(build_plan(catalog, str(f)).warnings)
            valid.append(f)
        except DefinitionError as exc:
            problems.extend(exc.problems)
    hint = None
    if env is not None and valid:
        roles, hint = _role_problems(settings, catalog, env, valid)
        problems += roles
        bad = {Path(p.file).resolve() for p in roles if p.file}
        valid = [f for f in valid if f.resolve() not in bad]
    if problems:
        problems = list(dict.fromkeys(problems))  # a clash is also met through a drill
        # (absolute(), not resolve(): a symlink loop is one of the problems)
        named = {Path(p.file).absolute() for p in problems if p.file}  # clashes too
        valid = [f for f in valid if f.absolute() not in named]
        hint = f"{len(valid)} of {len(files)} file(s) valid; fix the rest" + (
            f" ({hint})" if hint else ""
        )
        raise DefinitionError(problems, hint)
    where = f" (roles checked against {env})" if env is not None else ""
    err_console().print(f"[green]✔[/] {len(valid)} definition(s) valid{where}")


def _role_problems(
    settings: Any, catalog: Any, env: str, files: list[Path]
) -> tuple[list[Problem], str | None]:
    """Every step of the runbooks and drills in ``files`` naming a role environment
    ``env`` does not have, in each mode they can run in (a step can be `isolated:
    only`), with the roles it has (the hint). :func:`check_targets`, as `drill plan`
    calls it: plans only, no call to the environment, nothing changed."""
    from orchestrator.definitions.kinds import RunMode
    from orchestrator.engine.plan import build_plan
    from orchestrator.engine.targets import check_targets
    from orchestrator.errors import DefinitionError
    from orchestrator.providers import build_provider

    name, cfg = settings.environment(env)
    provider = build_provider(name, cfg, settings)
    problems: list[Problem] = []
    hint: str | None = None
    try:
        for f in files:
            for mode in RunMode:
                try:
                    check_targets(build_plan(catalog, str(f), mode.value), provider)
                except DefinitionError as exc:
                    problems += exc.problems
                    hint = hint or exc.hint
    finally:
        provider.close()
    return problems, hint


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
