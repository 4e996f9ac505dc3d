"""A real lab per test module (module scope: one ``lab up`` shared by its tests)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from orchestrator.config import EnvironmentConfig, ProviderKind, Settings
from orchestrator.providers.base import StepContext


@dataclass
class LabHandle:
    settings: Settings
    env: EnvironmentConfig
    provider: Any

    def call(
        self, action: str, mode: str = "live", marks: dict[str, datetime] | None = None, **args: Any
    ) -> dict[str, Any]:
        ctx = StepContext(
            run_id="r-test", scenario_id="test", mode=mode, deadline_s=90, marks=marks or {}
        )
        out: dict[str, Any] = self.provider.execute(action, args, ctx)
        return out

    def status(self) -> dict[str, Any]:
        from orchestrator.providers.lab import status

        return status(self.settings)

    def state(self) -> Any:
        from orchestrator.providers.lab.state import lab_dir, load

        return load(lab_dir(self.settings.state_path()))

    @property
    def root(self) -> Path:
        return self.settings.state_path() / "lab"


def wait_until(check: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    """Poll for a condition (no timing is asserted: the timeout only bounds a hang)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except Exception as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def make_lab(tmp: Path, **tuning: Any) -> LabHandle:
    from orchestrator import pgbin
    from orchestrator.errors import LabError
    from orchestrator.providers.lab import lab_up
    from orchestrator.providers.lab.provider import LabProvider

    try:
        pgbin.bindir()
    except LabError as exc:
        pytest.skip(f"PostgreSQL server not installed: {exc.message}")
    settings = Settings(state_dir=str(tmp / ".drill"), base_dir=tmp)
    env = EnvironmentConfig(provider=ProviderKind.LAB, lab={"detection_delay_s": 0.5, **tuning})
    lab_up(settings, env)
    return LabHandle(settings, env, LabProvider("lab", env, settings))


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabHandle]:
    from orchestrator.providers.lab import lab_down

    handle = make_lab(tmp_path_factory.mktemp("lab"))
    try:
        yield handle
    finally:
        lab_down(handle.settings)
