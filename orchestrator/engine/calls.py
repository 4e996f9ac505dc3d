"""Run a blocking call with a deadline while staying responsive to aborts.

Provider calls run in a worker thread; the main thread waits in short slices so a
SIGINT/SIGTERM (which Python delivers to the main thread) interrupts the wait at
once, and an abort requested through the database is noticed within a second.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from orchestrator.engine.signals import AbortSignal

T = TypeVar("T")


class CallTimeout(Exception):
    pass


def call_with_deadline(
    fn: Callable[[], T], timeout_s: float, abort_reason: Callable[[], str | None]
) -> T:
    """``fn()`` in a thread; raise CallTimeout or AbortSignal instead of hanging."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:
            box["error"] = exc

    worker = threading.Thread(target=target, name="drill-step", daemon=True)
    worker.start()
    deadline = time.monotonic() + timeout_s
    while worker.is_alive():
        worker.join(0.05)
        reason = abort_reason()
        if reason and worker.is_alive():
            raise AbortSignal(reason)
        if time.monotonic() > deadline and worker.is_alive():
            raise CallTimeout(f"timed out after {timeout_s:g}s")
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return,unused-ignore]


def sleep_responsive(seconds: float, abort_reason: Callable[[], str | None]) -> None:
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        time.sleep(min(0.05, left))
        reason = abort_reason()
        if reason:
            raise AbortSignal(reason)
