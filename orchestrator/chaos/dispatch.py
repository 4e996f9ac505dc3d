"""Run one provider-neutral action from a Chaos Toolkit activity.

Failures become chaoslib's ``ActivityFailed`` (the experiment records them); a probe
returning ``ok: false`` is returned as is, so tolerances can judge it.
"""

from __future__ import annotations

from typing import Any

from orchestrator.actions import ACTIONS, ActivityKind


def run_action(
    action: str,
    args: dict[str, Any],
    configuration: dict[str, Any] | None,
    state: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``state``: what an undo needs beyond the declared arguments (e.g. the instance a
    restore created), passed to the provider as its rollback arguments would be."""
    from chaoslib.exceptions import ActivityFailed, InterruptExecution

    from orchestrator.config import load_settings
    from orchestrator.errors import DrillError
    from orchestrator.evidence.enums import utcnow
    from orchestrator.providers import build_provider
    from orchestrator.providers.base import StepContext

    configuration = configuration or {}
    spec = ACTIONS.get(action)
    try:
        validated = spec.validate_args(
            {k: v for k, v in args.items() if v is not None}
        ).model_dump()
        settings = load_settings(configuration.get("drill_config"))
        env_name, env = settings.environment(configuration.get("drill_env"))
    except DrillError as exc:
        raise InterruptExecution(f"drill: {exc.message}") from None
    except ValueError as exc:  # pydantic validation
        raise InterruptExecution(f"drill: bad arguments for {action}: {exc}") from None
    if (
        spec.kind is ActivityKind.ACTION
        and spec.destructive
        and env.protected
        and not configuration.get("drill_yes")
        and not configuration.get("drill_run_id")
    ):
        raise InterruptExecution(
            f"drill: environment {env_name!r} is protected; {action} needs approval: run it "
            "with `drill run … --yes`, or set drill_yes: true in the configuration"
        )
    run_id = str(configuration.get("drill_run_id") or f"chaos-{utcnow():%Y%m%d-%H%M%S}")
    ctx = StepContext(
        run_id=run_id,
        scenario_id="chaostoolkit",
        mode=str(configuration.get("drill_mode", "live")),
        deadline_s=900.0,
    )
    provider = build_provider(env_name, env, settings)
    try:
        return provider.execute(action, {**validated, **(state or {})}, ctx)
    except DrillError as exc:
        raise ActivityFailed(f"{action} failed: {exc.message}") from None
    finally:
        provider.close()
