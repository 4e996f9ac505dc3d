"""Probes for Chaos Toolkit steady-state hypotheses (return the provider's dict; use a
``jsonpath`` tolerance on ``$.ok``)."""

from __future__ import annotations

from typing import Any

from orchestrator.chaos.dispatch import run_action

__all__ = ["app_health", "db_health", "multi_az", "replication_lag"]


def db_health(target: str = "db", configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """The database endpoint answers (AWS without probes: instance status)."""
    return run_action("db.health", {"target": target}, configuration)


def multi_az(
    target: str = "primary_db", configuration: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The primary has a healthy synchronous standby."""
    return run_action("db.multi_az", {"target": target}, configuration)


def replication_lag(
    target: str = "dr_replica", max_lag_s: float = 60.0, configuration: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Replica lag within budget (AWS: CloudWatch ReplicaLag)."""
    return run_action(
        "db.replication_lag", {"target": target, "max_lag_s": max_lag_s}, configuration
    )


def app_health(configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """The load balancer has healthy targets."""
    return run_action("app.health", {}, configuration)
