"""What every AWS action handler needs: clients, the inventory, tags, waiting.

Handlers are plain functions taking an :class:`AwsContext`; the provider builds one
context per environment. Nothing here talks to AWS until a handler asks for a client.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from orchestrator.config import EnvironmentConfig, Settings
from orchestrator.errors import ConfigError, ProviderError
from orchestrator.inventory.roles import Inventory, Target
from orchestrator.providers.aws.clients import ClientFactory
from orchestrator.providers.base import PlannedCall, StepContext

CREATED_BY = "drill"
TAG_RUN = "drill:run-id"
TAG_CREATED_BY = "drill:created-by"
TAG_ENV = "drill:env"
TAG_PURPOSE = "drill:purpose"


@dataclass
class AwsContext:
    env_name: str
    env: EnvironmentConfig
    settings: Settings
    clients: ClientFactory
    poll_s: float = 2.0
    restored: tuple[str, int] | None = None  # endpoint of the last db.restore instance
    clone: tuple[str, int] | None = None  # endpoint of the promoted clone (isolated mode)
    dataset: tuple[int, str] | None = None  # the known dataset at the start of the run
    _inventory: Inventory | None = field(default=None, repr=False)

    @property
    def region(self) -> str:
        return self.clients.region

    @property
    def dr_region(self) -> str:
        if not self.env.dr_region:
            raise ConfigError(
                f"environment {self.env_name!r} has no `dr_region:`",
                "set dr_region (e.g. us-west-2) in drill.yaml",
            )
        return self.env.dr_region

    def inventory(self) -> Inventory:
        if self._inventory is None:
            from orchestrator.inventory.loader import load_inventory

            self._inventory = load_inventory(self.env_name, self.env, self.settings, self.clients)
        return self._inventory

    def target(self, role: str) -> Target:
        return self.inventory().target(role)

    def rds(self, region: str | None = None) -> Any:
        return self.clients.client("rds", region or self.region)

    def tags(self, ctx: StepContext, purpose: str) -> list[dict[str, str]]:
        """Tags every resource drill creates carries (and the sweep looks for)."""
        return [
            {"Key": TAG_RUN, "Value": ctx.run_id},
            {"Key": TAG_CREATED_BY, "Value": CREATED_BY},
            {"Key": TAG_ENV, "Value": self.env_name},
            {"Key": TAG_PURPOSE, "Value": purpose},
        ]

    def wait(
        self, what: str, check: Callable[[], bool], ctx: StepContext, timeout_s: float | None = None
    ) -> float:
        """Poll ``check`` until true; returns seconds waited. Honours abort and deadline."""
        start = time.monotonic()
        limit = timeout_s or ctx.deadline_s or 900.0
        delay = 0.1  # short first polls (fast transitions), then every poll_s
        while True:
            if check():
                return time.monotonic() - start
            if ctx.should_abort():
                raise ProviderError(f"aborted while waiting for {what}")
            if time.monotonic() - start > limit:
                raise ProviderError(f"timed out after {limit:g}s waiting for {what}")
            time.sleep(delay)
            delay = min(delay * 2, self.poll_s)


def call(
    service: str, region: str, operation: str, mutating: bool = True, **arguments: Any
) -> PlannedCall:
    return PlannedCall(f"{service} ({region})", operation, arguments, mutating)


def aws_error(exc: Exception, doing: str) -> ProviderError:
    """A botocore error → ProviderError with the AWS error code (no traceback)."""
    response = getattr(exc, "response", None) or {}
    err = response.get("Error", {})
    code, msg = err.get("Code"), err.get("Message")
    detail = f"{code}: {msg}" if code else str(exc)
    hint = None
    if code in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation"):
        hint = "the credentials lack a permission: see `drill iam-policy DRILL --env ENV`"
    return ProviderError(f"{doing} failed: {detail}", hint)


def describe_instance(ctx: AwsContext, name: str, region: str) -> dict[str, Any] | None:
    from botocore.exceptions import ClientError

    try:
        dbs = ctx.rds(region).describe_db_instances(DBInstanceIdentifier=name)["DBInstances"]
    except ClientError as exc:
        code = (getattr(exc, "response", {}) or {}).get("Error", {}).get("Code")
        if code == "DBInstanceNotFound":
            return None
        raise aws_error(exc, f"DescribeDBInstances {name}") from None
    return dbs[0] if dbs else None
