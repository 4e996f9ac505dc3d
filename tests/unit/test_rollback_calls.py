"""A rollback that outlives its timeout is not "the step a stop interrupted"."""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

import pytest

from orchestrator.engine import calls, rollbacks
from orchestrator.engine.calls import CallTimeout
from orchestrator.engine.signals import AbortSignal


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


def test_the_wait_for_an_interrupted_step_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """A step that never ends (a hung python activity, 600 s default timeout) held a
    stopped run that long before any rollback: a supervisor's SIGTERM (systemd, docker,
    Kubernetes) is followed by a SIGKILL well before, and no rollback ran at all. The
    wait is bounded by SETTLE_GRACE_S; the step is then reported as still running."""
    monkeypatch.setattr(calls, "SETTLE_GRACE_S", 0.2)
    release = threading.Event()
    stop = threading.Event()

    def hung() -> None:
        release.wait(30)

    def stop_now() -> str | None:
        return "received SIGTERM" if stop.is_set() else None

    try:
        stop.set()
        with pytest.raises(AbortSignal):
            calls.call_with_deadline(hung, 600, stop_now)
        said: list[str] = []
        assert calls.settle(said.append, lambda: False) == 1  # gave up waiting: said
        assert len(said) == 1 and "at most 0s more" in said[0], said
    finally:
        release.set()


def test_a_call_ending_after_drill_stopped_waiting_leaves_the_streams_alone(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A python activity's thread put back, as it ended, the sys.stdout/sys.stderr of
    when it began. One that outlived its step (a timeout, a stop) did so later: under
    `--json`, stdout was then the run's stderr redirect — and the one document was
    written there, stdout left empty (seen as a flaky in-process test)."""
    import io
    import sys

    from orchestrator.engine.runner import _run_activity

    here, release = tmp_path / "here", tmp_path / "release"
    provider = {"type": "python", "module": "tests.faults", "func": "hold_until"}
    provider["arguments"] = {"path": str(here), "release": str(release)}
    activity = {"type": "action", "name": "slow", "provider": provider}
    during_run, after_run = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stdout", during_run)
    with pytest.raises(CallTimeout):
        calls.call_with_deadline(lambda: _run_activity(activity, {}), 0.2, lambda: None, False)
    assert here.exists(), "the activity ran"
    (worker,) = [t for t in threading.enumerate() if t.name == "drill-step"]
    sys.stdout = after_run  # the run ended: drill prints its document here
    release.touch()
    worker.join(10)
    assert not worker.is_alive()
    assert sys.stdout is after_run
