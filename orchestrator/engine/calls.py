"""Run a blocking call with a deadline while staying responsive to aborts.

Provider calls run in a worker thread; the main thread waits in short slices so a
SIGINT/SIGTERM (which Python delivers to the main thread) interrupts the wait at
once, and an abort requested through the database is noticed within a second.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from orchestrator.engine.signals import AbortSignal

T = TypeVar("T")


class CallTimeout(Exception):
    pass


#: calls a stop or their timeout left running in their worker thread (set once each
#: ends): a python function or a provider operation cannot be interrupted, and goes on
#: (see :func:`settle`)
_IN_FLIGHT: list[tuple[threading.Event, float]] = []
#: the longest a stop waits for the step it interrupted before the rollbacks (:func:`settle`)
SETTLE_GRACE_S = 15.0


def call_with_deadline(
    fn: Callable[[], T],
    timeout_s: float,
    abort_reason: Callable[[], str | None],
    step: bool = True,
) -> T:
    """``fn()`` in a thread; raise CallTimeout or AbortSignal instead of hanging. A
    ``step``'s call left running is kept for :func:`settle` (not a rollback's: the
    rollbacks after it are what settle waits to start)."""
    import sys

    box: dict[str, Any] = {}
    # the end of the call, waited on rather than Thread.join: a join a signal handler's
    # raise interrupted marks the thread stopped while it runs on (CPython 3.11)
    done = threading.Event()
    streams = sys.stdout, sys.stderr  # kept here, in the caller's thread (keep_std_streams)

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:
            box["error"] = exc
        finally:
            done.set()

    worker = threading.Thread(target=target, name="drill-step", daemon=True)
    worker.start()
    deadline = time.monotonic() + timeout_s
    try:
        while not done.wait(0.05):
            reason = abort_reason()
            if reason and not done.is_set():
                raise AbortSignal(reason)
            if time.monotonic() > deadline and not done.is_set():
                raise CallTimeout(f"timed out after {timeout_s:g}s")
    except BaseException:  # a stop (the signal handler's raise lands in the wait too)
        if step and not done.is_set():
            _IN_FLIGHT.append((done, deadline))
        raise
    finally:
        keep_std_streams(streams)
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return,unused-ignore]


def keep_std_fds() -> None:
    """Stdin, stdout and stderr, where an activity closed them (``os.close(2)``, a
    library daemonizing), are reopened on /dev/null: every later write of drill failed
    (EBADF) — `drill recover` died after such a rollback, the run left awaiting
    recovery, its next rollbacks unplayed — and the next file drill opened would have
    taken the number, its output written into it."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            try:
                null = os.open(os.devnull, os.O_RDWR)  # the lowest free number: fd itself
            except OSError:
                return
            if null != fd:
                os.dup2(null, fd)
                os.close(null)


#: the drill process itself, noted as this module is loaded, before any activity runs
#: (a copy an activity forked keeps this value and has another pid)
_DRILL_PID = os.getpid()


def not_a_forked_copy() -> None:
    """After an activity: a copy of drill it forked (``os.fork()`` and no exec, by
    itself or a library) that returned here ends at once. It went on running the
    experiment beside drill — every rollback played twice, two documents on stdout,
    the run recorded twice."""
    if os.getpid() != _DRILL_PID:
        os._exit(0)


def keep_std_streams(saved: tuple[Any, Any]) -> None:
    """``sys.stdout``/``sys.stderr`` as they were (``saved``) where an activity replaced
    them (a library silencing output with ``sys.stdout = open(os.devnull, "w")``): drill
    printed the rest of the run there — its summary table and every later step gone.

    Called by the thread that waits for the activity (:func:`call_with_deadline`), never
    by the activity's own thread: one that ends after drill stopped waiting for it (a
    timeout, a stop) put back the streams of when it began — `--json`'s stdout turned to
    stderr until the run's end — so the one document went to stderr, stdout empty."""
    import sys

    if sys.stdout is not saved[0]:
        sys.stdout = saved[0]
    if sys.stderr is not saved[1]:
        sys.stderr = saved[1]


def sleep_responsive(seconds: float, abort_reason: Callable[[], str | None]) -> None:
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        time.sleep(min(0.05, left))
        reason = abort_reason()
        if reason:
            raise AbortSignal(reason)


def settle(say: Callable[[str], None], cut: Callable[[], bool]) -> int:
    """Before rollbacks: wait for the calls a stop left running (the action of the step
    that was stopped), each until it ends, its step's timeout passes or
    :data:`SETTLE_GRACE_S` have gone by — an undo played under them raced them: the
    fault landed after its undo, and the run said its rollbacks were played. The grace
    bounds the wait: a step's timeout (600 s by default) is longer than a supervisor
    waits after its SIGTERM (systemd 90 s, Kubernetes 30 s), which would then kill drill
    before any rollback. ``cut()`` true (a further stop) ends the wait. Returns how many
    are still running; the caller says so, and records it."""
    waiting, _IN_FLIGHT[:] = [(e, d) for e, d in _IN_FLIGHT if not e.is_set()], []
    left = 0
    until = time.monotonic() + SETTLE_GRACE_S
    for ended, timeout_at in waiting:
        deadline = min(timeout_at, until)
        if time.monotonic() < deadline and not cut():
            say(
                "waiting for the step in progress to end before rolling back (it cannot be "
                f"interrupted; at most {deadline - time.monotonic():.0f}s more; "
                "stop again to roll back at once)"
            )
        while not ended.wait(0.05) and time.monotonic() < deadline and not cut():
            pass
        left += not ended.is_set()
    return left
