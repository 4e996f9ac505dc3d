"""Refuse, before anything runs, a runbook step naming a target the environment lacks.

A step's roles (``target``, ``record``, ``to``, ``source``, …) are resolved by its
provider's plan: from the Terraform state on AWS, from the lab's components on the lab.
A role the environment does not have used to be found only when the run reached that
step — exit 1 after the fault before it had been injected, its rollback failing with
it. ``drill plan`` and ``drill run`` now both call :func:`check_targets` first: every
such step, at once, with its file:line, its YAML path and the role (exit 2, nothing
started). Plans make no API call and change nothing, so this is safe on any
environment; a step the environment skips (SQL with ``probes: none``) is not asked.
An experiment's activities calling drill's own extension (``orchestrator.chaos.db.
failover(target=…)``, :func:`chaos_action`) run the same actions, and are checked the
same way; arguments filled in at run time (``${var}``) are left to the run.
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
        if sc.skipped(plan.mode):
            continue
        refused: set[tuple[str | int, ...]] = set()
        for loc, args_at, title, item_args, action, args in _activities(sc, plan):
            if loc in refused:
                continue  # (a step's rollback fails as the step did: said once)
            try:
                if not provider.skip_reason(action, args):
                    provider.plan(action, args, plan.mode.value)
            except UnknownTarget as exc:
                key = next((k for k, v in item_args.items() if v == exc.name), None)
                where = (*loc, *args_at, key) if key else loc
                problems.append(_located(sc, where, f"step {title!r}: {exc.message}"))
                refused.add(loc)
                hint = hint or exc.hint
            except ProviderError:
                continue  # what an AWS plan cannot tell beforehand (e.g. the primary's
                # AZ when the state has none) the step finds out when it runs, as before
    if problems:
        raise DefinitionError(problems, hint)


Loc = tuple[str | int, ...]
#: (YAML location, where its args are under it, title, its own args, action, planned args)
Activity = tuple[Loc, Loc, str, dict[str, Any], str, dict[str, Any]]


def _activities(sc: ScenarioPlan, plan: RunPlan) -> Iterator[Activity]:
    """Every action the scenario plans in the run's mode — a runbook step's implied
    rollback included; an experiment's activities calling drill's extension."""
    from orchestrator.engine.plan import describe_step

    if sc.experiment is not None:
        from orchestrator.definitions.experiment_check import activity_places

        for place, activity in activity_places(sc.experiment.document):
            called = chaos_action(activity)
            if called is not None:
                raw = activity["provider"].get("arguments") or {}
                title = str(activity.get("name") or called[0])
                yield place, ("provider", "arguments"), title, raw, *called
        return
    if sc.runbook is None:
        return
    for section in SECTIONS:
        for i, item in enumerate(getattr(sc.runbook, section)):
            if not item.action or not runs_in(item.isolated, plan.mode):
                continue
            loc: Loc = (section, i)
            if section == "verification":
                yield loc, ("args",), item.name or item.action, item.args, item.action, item.args
                continue
            described = describe_step(item)
            yield loc, ("args",), item.title, item.args, item.action, described["args"]
            if "rollback" in described:
                rb = described["rollback"]
                yield loc, ("args",), item.title, item.args, rb["action"], rb["args"]


def chaos_action(activity: Any) -> tuple[str, dict[str, Any]] | None:
    """The drill action an experiment activity calls through drill's own extension
    (``orchestrator.chaos.db.failover`` → ``db.failover``) and its arguments with their
    defaults filled in, as it runs. None for any other activity, for arguments filled in
    at run time (``${var}``), and for invalid ones (`drill validate` and the run say)."""
    prov = activity.get("provider") if isinstance(activity, dict) else None
    if not isinstance(prov, dict) or not str(prov.get("module")).startswith("orchestrator.chaos"):
        return None  # (before the imports: a plain experiment's start-up builds no models)
    from orchestrator.actions import ACTIONS
    from orchestrator.chaos import ACTION_OF

    action = ACTION_OF.get(f"{prov.get('module')}.{prov.get('func')}")
    raw = prov.get("arguments") or {}
    if action is None or not isinstance(raw, dict) or "${" in str(raw):
        return None
    try:
        args = ACTIONS.get(action).validate_args({k: v for k, v in raw.items() if v is not None})
    except ValueError:
        return None
    return action, args.model_dump()


def names_targets(plan: RunPlan) -> bool:
    """Whether :func:`check_targets` has anything to ask of a provider in ``plan``."""
    return any(next(_activities(sc, plan), None) for sc in plan.scenarios)


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
