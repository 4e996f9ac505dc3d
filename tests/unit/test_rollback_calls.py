"""A rollback that outlives its timeout is not "the step a stop interrupted"."""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

import pytest

from orchestrator.engine import calls, rollbacks
from orchestrator.engine.calls import CallTimeout


def test_a_timed_out_rollback_is_not_taken_for_a_stopped_step(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every call that ended by timeout was kept for the next scenario's wait before its
    rollbacks (87f82d2): a provider rollback that timed out in one scenario was said, at
    the next, to be 'the step that was stopped … still running', and recorded as a
    step.still_running event of a scenario that had no such step."""
    monkeypatch.setattr(rollbacks, "ROLLBACK_TIMEOUT_S", 0.05)
    release = threading.Event()

    class Slow:
        def skip_reason(self, action: str, args: dict[str, Any]) -> None:
            return None

        def execute(self, action: str, args: dict[str, Any], ctx: Any) -> None:
            release.wait(30)

    pending: Any = SimpleNamespace(kind="action", action="db.failover")
    try:
        with pytest.raises(CallTimeout):
            rollbacks._act(pending, {}, Slow(), SimpleNamespace(), SimpleNamespace())  # type: ignore[arg-type]
        said: list[str] = []
        assert calls.settle(said.append, lambda: False) == 0 and said == []
    finally:
        release.set()
