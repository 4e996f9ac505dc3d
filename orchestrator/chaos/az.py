"""Availability-zone loss for Chaos Toolkit experiments."""

from __future__ import annotations

from typing import Any

from orchestrator.chaos.dispatch import run_action

__all__ = ["isolate", "restore"]


def isolate(az: str = "use1-az1", configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """Lose an AZ (AWS: FIS template or deny-all NACL swap + ASG; lab: stop its processes)."""
    return run_action("az.isolate", {"az": az}, configuration)


def restore(az: str = "use1-az1", configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """Bring the AZ back (original network ACL associations, ASG subnets)."""
    return run_action("az.restore", {"az": az}, configuration)
