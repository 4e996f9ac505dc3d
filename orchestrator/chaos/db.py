"""Database actions for Chaos Toolkit experiments (lab or AWS, by environment)."""

from __future__ import annotations

from typing import Any

from orchestrator.chaos.dispatch import run_action

__all__ = [
    "delete_restored",
    "failover",
    "promote_replica",
    "rebuild_replica",
    "reprotect",
    "restore",
]


def failover(
    target: str = "primary_db", wait: bool = True, configuration: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Force a Multi-AZ failover (RDS: RebootDBInstance ForceFailover; lab: kill primary)."""
    return run_action("db.failover", {"target": target, "wait": wait}, configuration)


def reprotect(
    target: str = "primary_db", configuration: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Make the pair Multi-AZ again (a no-op on RDS, which re-protects itself)."""
    return run_action("db.reprotect", {"target": target}, configuration)


def promote_replica(
    target: str = "dr_replica", wait: bool = True, configuration: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Promote the cross-region replica and wait until it is writable."""
    return run_action("db.promote_replica", {"target": target, "wait": wait}, configuration)


def rebuild_replica(
    target: str = "dr_replica", configuration: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Re-create the cross-region replica after a promotion drill."""
    return run_action("db.rebuild_replica", {"target": target}, configuration)


def restore(
    source: str = "backup_vault",
    point_in_time: str = "disaster",
    new_instance: str | None = None,
    keep: bool = False,
    configuration: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Restore into a NEW instance (AWS Backup / snapshot / point in time)."""
    return run_action(
        "db.restore",
        {
            "source": source,
            "point_in_time": point_in_time,
            "new_instance": new_instance,
            "keep": keep,
        },
        configuration,
    )


def delete_restored(
    new_instance: str | None = None, configuration: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Delete an instance drill restored (refuses anything drill did not create)."""
    return run_action(
        "db.delete_restored",
        {},
        configuration,
        {"new_instance": new_instance} if new_instance else None,
    )
