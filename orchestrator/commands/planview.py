"""`drill plan`: the run plan with each step's provider calls and rollback."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from rich.console import Console

from orchestrator.commands.common import esc
from orchestrator.config import EnvironmentConfig, Settings
from orchestrator.engine.plan import RunPlan, describe_step
from orchestrator.providers.base import Provider


def _calls(
    provider: Provider, action: str | None, args: dict[str, Any], mode: str
) -> list[dict[str, Any]]:
    if not action:
        return []
    # ``effects`` (the lab's machine keys) only where a provider fills it in
    return [
        {k: v for k, v in asdict(c).items() if k != "effects" or v}
        for c in provider.plan(action, args, mode)
    ]


def _add_calls(provider: Provider, entry: dict[str, Any], mode: str) -> dict[str, Any]:
    """The calls of a step (or its rollback) — or, when the environment cannot run it
    (e.g. SQL with ``probes: none``), why it is skipped; a skipped step makes none."""
    action, args = entry.get("action"), entry.get("args") or {}
    why = provider.skip_reason(action, args) if action else None
    if why:
        entry["skipped"] = why
        entry["calls"] = []
    else:
        entry["calls"] = _calls(provider, action, args, mode)
    return entry


def _chaos_calls(
    provider: Provider, entry: dict[str, Any], activity: Any, mode: str
) -> dict[str, Any]:
    """An activity calling drill's own extension (``orchestrator.chaos.db.failover``…)
    runs a provider-neutral action: its calls are planned as a runbook step's are (an
    experiment's plan listed the provider's module and function, and no call). Other
    activities, and arguments filled in at run time (``${var}``), stay as they are."""
    from orchestrator.actions import ACTIONS, ActivityKind
    from orchestrator.engine.targets import chaos_action
    from orchestrator.errors import DrillError

    called = chaos_action(activity)
    if called is None:
        return entry
    action, args = called
    spec = ACTIONS.get(action)
    entry.update(action=action, args=args)
    entry["destructive"] = spec.kind is ActivityKind.ACTION and spec.destructive
    try:
        return _add_calls(provider, entry, mode)
    except DrillError as exc:  # e.g. a role the environment lacks: the run fails there
        entry.update(calls=[], plan_error=exc.message)
        return entry


def plan_document(
    plan: RunPlan,
    provider: Provider,
    env_name: str,
    env: EnvironmentConfig,
    settings: Settings | None = None,
) -> dict[str, Any]:
    from orchestrator.engine.targets import check_targets

    check_targets(plan, provider)  # every step naming a role the env lacks, with file:line
    # what `drill run` would change in a protected lab before its first step
    lab_change = plan.lab_change(settings, env) if settings and env.protected else None
    mode = plan.mode.value
    scenarios = []
    for sc in plan.scenarios:
        entry: dict[str, Any] = {
            "id": sc.scenario_id,
            "kind": sc.kind.value,
            "ref": sc.ref,
            "title": sc.title,
            "objectives": {"rto_s": sc.objectives.rto, "rpo_s": sc.objectives.rpo},
            "objectives_from": sc.objectives_from,
            "destructive": sc.destructive(plan.mode),
            "steps": [],
        }
        if sc.skipped(plan.mode):
            entry["skipped"] = sc.skipped(plan.mode)
            entry["destructive"] = False
        elif sc.runbook is not None:
            phases = [
                ("precondition", sc.preconditions_for(plan.mode)),
                ("step", sc.steps_for(plan.mode)),
            ]
            for phase, steps in phases:
                for step in steps:
                    d = describe_step(step)
                    d["phase"] = phase
                    if step.activity:
                        _chaos_calls(provider, d, step.activity, mode).setdefault("calls", [])
                    else:
                        _add_calls(provider, d, mode)
                    if "rollback" in d:
                        _add_calls(provider, d["rollback"], mode)
                    entry["steps"].append(d)
            for phase, steps in (
                ("verification", sc.verification_steps(plan.mode)),
                ("rollback", sc.rollback_for(plan.mode)),
            ):
                for step in steps:
                    d = describe_step(step)
                    d["phase"] = phase
                    entry["steps"].append(_add_calls(provider, d, mode))
        elif sc.experiment is not None:
            doc = sc.experiment.document
            for phase, acts in (
                ("precondition", (doc.get("steady-state-hypothesis") or {}).get("probes") or []),
                ("step", doc.get("method") or []),
                ("rollback", doc.get("rollbacks") or []),
            ):
                for act in acts:
                    step_doc = {
                        "phase": phase,
                        "name": act.get("name"),
                        "kind": act.get("type"),
                        "provider": act.get("provider"),
                    }
                    entry["steps"].append(_chaos_calls(provider, step_doc, act, mode))
        scenarios.append(entry)
    return {
        "drill": plan.target,
        "kind": plan.kind.value,
        "title": plan.title,
        "env": env_name,
        "provider": env.provider.value,
        "protected": env.protected,
        "mode": mode,
        "mutating": plan.mutating,
        "needs_confirmation": env.protected and (plan.mutating or lab_change is not None),
        **({"lab_change": lab_change} if lab_change else {}),
        "probes": probe_sources(plan, provider),
        "scenarios": scenarios,
    }


def probe_sources(plan: RunPlan, provider: Provider) -> dict[str, str] | None:
    """Where a runbook's probes come from (``probes:`` or derived from the Terraform
    state, redacted), for providers that say; None for an experiment-only plan (its
    probes are the experiment's own) and for the lab."""
    sources = getattr(provider, "probe_sources", None)
    if sources is None or all(sc.runbook is None for sc in plan.scenarios):
        return None
    found: dict[str, str] = sources()
    return found


def _objectives(obj: dict[str, float | None]) -> str:
    """``RTO ≤ 2m 00s, RPO ≤ 0.00s``, in the human format reports use (it printed raw
    seconds, ``3600.0s``); an experiment has none of its own (its steady-state
    hypothesis decides), which used to print ``RTO ≤ Nones``."""
    from orchestrator.durations import format_duration

    parts = [
        f"{name} ≤ {format_duration(obj[key])}"
        for name, key in (("RTO", "rto_s"), ("RPO", "rpo_s"))
        if obj.get(key) is not None
    ]
    return ", ".join(parts) or "none (the steady-state hypothesis decides)"


def _sources(sources: dict[str, str]) -> str:
    """`` (RTO: scenario, RPO: runbook)``: which definition set each objective."""
    parts = [f"{key.upper()}: {src}" for key, src in sources.items()]
    return f" [dim]({', '.join(parts)})[/]" if parts else ""


def render_plan(doc: dict[str, Any], console: Console) -> None:
    console.print(
        f"[bold]Plan:[/] {esc(doc['title'])} ({doc['kind']} {esc(doc['drill'])}) on "
        f"[cyan]{doc['env']}[/] ({doc['provider']}, mode {doc['mode']})"
        + (" [bold red]PROTECTED[/]" if doc["protected"] else "")
    )
    console.print("[dim]Nothing is changed by `drill plan`.[/]")
    for kind, source in (doc.get("probes") or {}).items():
        console.print(f"  probe {kind}: {esc(source)}")
    for sc in doc["scenarios"]:
        obj = sc["objectives"]
        console.rule(f"[bold]{esc(sc['id'])}[/] · {esc(sc['title'])}", align="left")
        console.print(
            f"  objectives: {_objectives(obj)}{_sources(sc.get('objectives_from') or {})}"
        )
        if sc.get("skipped"):
            console.print(f"  [yellow]skipped[/]: {esc(sc['skipped'])}")
        for n, step in enumerate(sc["steps"], 1):
            what = step.get("action") or (step.get("provider") or {}).get("func") or step["kind"]
            flag = " [red](destructive)[/]" if step.get("destructive") else ""
            mark = f" [magenta]⟵ {step['mark']}[/]" if step.get("mark") else ""
            console.print(
                f"  {n:>2}. [dim]{step['phase']:<12}[/] {esc(step['name'])} "
                f"[cyan]{esc(what)}[/]{flag}{mark}"
            )
            if step.get("skipped"):
                console.print(f"        [yellow]{esc(step['skipped'])}[/]")
            if step.get("plan_error"):
                console.print(f"        [yellow]cannot plan: {esc(step['plan_error'])}[/]")
            for call in step.get("calls", []):
                console.print(
                    f"        → {call['target']}: [bold]{call['operation']}[/] "
                    f"{_args(call['arguments'])}"
                )
            if step.get("rollback"):
                rb = step["rollback"]
                console.print(
                    f"        ↩ rollback: {esc(rb['action'])} {_args(rb['args'])}"
                    + (" [yellow](skipped: no network path)[/]" if rb.get("skipped") else "")
                )
                for call in rb.get("calls", []):
                    console.print(
                        f"          → {call['target']}: {call['operation']} "
                        f"{_args(call['arguments'])}"
                    )
    if doc["needs_confirmation"]:
        lab = (
            f" (it would change the lab first: {esc(doc['lab_change'])})"
            if doc.get("lab_change")
            else ""
        )
        console.print(f"\n[bold red]{doc['env']} is protected:[/] `drill run` needs --yes{lab}.")


def _args(args: dict[str, Any]) -> str:
    if not args:
        return ""
    return "[dim]" + ", ".join(esc(f"{k}={v}") for k, v in args.items()) + "[/]"
