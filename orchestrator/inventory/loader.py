"""Load an environment's inventory: read its state, resolve roles.

Kept apart from :mod:`roles` so that resolving roles stays a pure function of the
state (unit-testable without AWS), while reading ``s3://`` needs a client.
"""

from __future__ import annotations

from typing import Any

from orchestrator.config import EnvironmentConfig, Settings
from orchestrator.errors import ConfigError
from orchestrator.inventory.roles import Inventory, resolve
from orchestrator.inventory.state import load_state


def load_inventory(
    env_name: str, env: EnvironmentConfig, settings: Settings, clients: Any = None
) -> Inventory:
    if env.terraform is None:
        if env.targets:
            raise ConfigError(
                f"environment {env_name!r} names targets but no Terraform state",
                "add `terraform: {state: PATH or s3://bucket/key}`",
            )
        raise ConfigError(
            f"environment {env_name!r} has no `terraform: {{state: …}}`",
            "drill resolves AWS targets from the Terraform state; add its location",
        )
    location = env.terraform.state
    s3 = None
    if location.startswith("s3://"):
        if clients is None:
            raise ConfigError(f"reading {location} needs AWS clients")
        s3 = clients.client("s3", env.region)
    try:
        state = load_state(location, settings.base_dir, s3)
    except ConfigError as exc:
        from orchestrator.labaws.env import state_file

        if location != str(state_file(settings)):
            raise
        raise ConfigError(  # not drill.yaml's: lab-aws has no entry there
            exc.message, "it is the AWS-shaped lab's: `drill lab up --aws` writes it afresh"
        ) from None
    try:
        return resolve(state, env_name, env)
    except (TypeError, ValueError, AttributeError) as exc:  # pydantic's errors are ValueErrors
        reason = str(exc).splitlines()[0]
        raise ConfigError(
            f"{state.source}: a resource's attributes have unexpected types ({reason})",
            "is it a Terraform state of AWS resources?",
        ) from None
