"""Providers: the *how* behind provider-neutral actions (lab, aws).

Looked up by name through a registry of lazy factories, so that importing drill
never imports boto3 or the lab's process machinery until an environment needs it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from orchestrator.registry import Registry

if TYPE_CHECKING:
    from orchestrator.config import EnvironmentConfig, Settings
    from orchestrator.providers.base import Provider

# provider name → "module:ClassName"
PROVIDERS: Registry[str] = Registry("provider")
PROVIDERS.register("lab", "orchestrator.providers.lab.provider:LabProvider")
PROVIDERS.register("aws", "orchestrator.providers.aws.provider:AwsProvider")


def build_provider(env_name: str, env: EnvironmentConfig, settings: Settings) -> Provider:
    module_name, _, cls_name = PROVIDERS.get(env.provider.value).partition(":")
    cls = getattr(importlib.import_module(module_name), cls_name)
    provider: Provider = cls(env_name, env, settings)
    return provider
