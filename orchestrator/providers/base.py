"""The provider protocol every environment kind implements.

One contract test suite (tests/contract) runs against every provider, so a new
provider proves itself by passing it (STYLE lesson 9).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from orchestrator.measure.base import ScenarioObserver


@dataclass(frozen=True)
class PlannedCall:
    """One API call or lab operation an action would make (for `drill plan`)."""

    target: str  # e.g. "rds (us-east-1)" or "lab: use1-az1 postgres"
    operation: str  # e.g. "RebootDBInstance" or "SIGKILL postmaster"
    arguments: dict[str, Any] = field(default_factory=dict)
    mutating: bool = True
    # lab only: the ``target:kind`` keys of what the call does (providers/lab/journal.py),
    # compared with what the action really did when it runs
    effects: list[str] = field(default_factory=list)


@dataclass
class StepContext:
    """What a provider gets with each call besides the arguments."""

    run_id: str
    scenario_id: str
    mode: str  # live | isolated
    deadline_s: float
    marks: dict[str, datetime] = field(default_factory=dict)
    should_abort: Callable[[], bool] = lambda: False
    log: Callable[[str], None] = lambda _msg: None
    keep: bool = False


class Provider(Protocol):
    """Executes provider-neutral actions and probes against one environment."""

    name: str
    env_name: str

    def prepare(self, log: Callable[[str], None]) -> None:
        """Make the environment usable (e.g. bring the lab up); idempotent."""

    def supports(self, action: str) -> bool:
        """Whether this provider implements ``action``."""

    def plan(self, action: str, args: dict[str, Any], mode: str) -> list[PlannedCall]:
        """The calls ``action`` would make, without making any."""

    def skip_reason(self, action: str, args: dict[str, Any]) -> str | None:
        """Why ``action`` cannot run here and is skipped (recorded, never failed), e.g. a
        SQL step where the environment says the runner has no network path (``probes:
        none``); None when it runs. ``drill plan`` shows the same reason."""

    def execute(self, action: str, args: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
        """Run ``action``; return its output (JSON-able). Raise ProviderError on failure.

        Probes return ``{"ok": bool, ...}``; a false ``ok`` fails the step.
        """

    def observer(
        self, scenario_id: str, scenario_kind: str | None, run_id: str
    ) -> ScenarioObserver | None:
        """Independent probes for RTO/RPO of a scenario, or None when unobservable."""

    def close(self) -> None:
        """Release clients/connections."""
