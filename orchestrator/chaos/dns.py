"""DNS actions for Chaos Toolkit experiments."""

from __future__ import annotations

from typing import Any

from orchestrator.chaos.dispatch import run_action

__all__ = ["point"]


def point(
    record: str = "dns_record", to: str = "dr_replica", configuration: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Repoint the global record (Route53 UPSERT / lab global endpoint) at a role."""
    return run_action("dns.point", {"record": record, "to": to}, configuration)
