"""Refuse, before anything runs, a runbook step naming a target the environment lacks.

A step's roles (``target``, ``record``, ``to``, ``source``, …) are resolved by its
provider's plan: from the Terraform state on AWS, from the lab's components on the lab.
A role the environment does not have used to be found only when the run reached that
step — exit 1 after the fault before it had been injected, its rollback failing with
it. ``drill plan`` and ``drill run`` now both call :func:`check_targets` first: every
such step, at once, with its file:line, its YAML path and the role (exit 2, nothing
started). Plans make no API call and change nothing, so this is safe on any
environment; a step the environment skips (SQL with ``probes: none``) is not asked.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from orchestrator.definitions.kinds import runs_in
from orchestrator.errors import DefinitionError, Problem, ProviderError, UnknownTarget

if TYPE_CHECKING:
    from orchestrator.engine.plan import RunPlan, ScenarioPlan
    from orchestrator.providers.base import Provider

SECTIONS = ("preconditions", "steps", "verification", "rollback")


def check_targets(plan: RunPlan, provider: Provider) -> None:
    """Raise :class:`DefinitionError` (exit 2) naming every step whose role the
    environment does not have."""
    problems: list[Problem] = []
    hint: str | None = None
    for sc in plan.scenarios:
        if sc.runbook is None or sc.skipped(plan.mode):
            continue
        refused: set[tuple[str | int, ...]] = set()
        for loc, title, item_args, action, args in _activities(sc, plan):
            if loc in refused:
                continue  # (a step's rollback fails as the step did: said once)
            try:
                if not provider.skip_reason(action, args):
                    provider.plan(action, args, plan.mode.value)
            except UnknownTarget as exc:
                key = next((k for k, v in item_args.items() if v == exc.name), None)
                where = (*loc, "args", key) if key else loc
                problems.append(_located(sc, where, f"step {title!r}: {exc.message}"))
                refused.add(loc)
                hint = hint or exc.hint
            except ProviderError:
                continue  # what an AWS plan cannot tell beforehand (e.g. the primary's
                # AZ when the state has none) the step finds out when it runs, as before
    if problems:
        raise DefinitionError(problems, hint)


def _activities(
    sc: ScenarioPlan, plan: RunPlan
) -> Iterator[tuple[tuple[str | int, ...], str, dict[str, Any], str, dict[str, Any]]]:
    """(YAML location, title, the step's own args, action, planned args) of every action
    the scenario plans in the run's mode — a step's implied rollback included."""
    from orchestrator.engine.plan import describe_step

    assert sc.runbook is not None
    for section in SECTIONS:
        for i, item in enumerate(getattr(sc.runbook, section)):
            if not item.action or not runs_in(item.isolated, plan.mode):
                continue
            loc: tuple[str | int, ...] = (section, i)
            if section == "verification":
                yield loc, item.name or item.action, item.args, item.action, item.args
                continue
            described = describe_step(item)
            yield loc, item.title, item.args, item.action, described["args"]
            if "rollback" in described:
                rb = described["rollback"]
                yield loc, item.title, item.args, rb["action"], rb["args"]


def _located(sc: ScenarioPlan, loc: tuple[str | int, ...], message: str) -> Problem:
    """The problem at ``loc`` of the scenario's runbook file (its line when readable)."""
    from orchestrator.errors import DrillError
    from orchestrator.yamlsrc import format_path, load_file

    if sc.path is None:
        return Problem(message, None, None, format_path(loc))
    try:
        return load_file(sc.path).problem(message, loc)
    except (OSError, DrillError):  # it changed since it was loaded: its name still helps
        return Problem(message, str(sc.path), None, format_path(loc))
