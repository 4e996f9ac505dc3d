"""Turn SIGINT/SIGTERM/SIGHUP into an orderly abort.

Chaos Toolkit skips rollbacks on interrupt; drill does not. The first signal raises
:class:`AbortSignal` in the main thread (so a blocking wait stops at once); while
rollbacks run, further signals are noted but do not interrupt them — leaving the
environment half-restored would be worse than waiting — and each says so on stderr,
so a second Ctrl-C is not met with silence.

A run is shielded by default and only its scenario bodies (steps, waits) run
:func:`unshielded`: a signal that arrives while rollbacks, recording or recovery run
is noted, and the engine then starts nothing new — entering an unshielded body with a
stop already requested raises at once.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any


class AbortSignal(BaseException):
    """Raised in the main thread by the first SIGINT/SIGTERM of a run.

    A BaseException so that ``except Exception`` in provider code cannot swallow it.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class AbortState:
    """Shared between the signal handler, the engine and `drill abort` polling."""

    def __init__(self) -> None:
        self.reason: str | None = None
        self.shielded = False
        self.event = threading.Event()
        self.count = 0  # stops requested so far (a second one may cut a wait short)
        #: waiting for the step a stop interrupted to end before the rollbacks: a further
        #: stop cuts that wait (calls.settle), and is told so
        self.settling = False
        #: an experiment's action is running in this thread (chaoslib runs it, not a thread
        #: of drill's that a stop can leave behind): a first stop lets it end, at most
        #: calls.SETTLE_GRACE_S (:func:`let_finish`); a second one, or the grace, raises
        self.letting_finish = False
        #: why the work stopped, as its record says it (the run engine's: `drill abort`
        #: rather than the SIGTERM that carried it); None: :attr:`reason`
        self.explain: Callable[[], str | None] | None = None

    def why(self) -> str | None:
        """Why the work stopped, for the record of what the stop interrupted."""
        return (self.explain() if self.explain is not None else None) or self.reason

    def request(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason
        self.count += 1
        self.event.set()

    @property
    def requested(self) -> bool:
        return self.event.is_set()


@contextmanager
def abort_on_signals(state: AbortState) -> Iterator[AbortState]:
    """Install handlers for the duration of a run (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield state
        return

    terminal = terminal_fds()

    def handler(signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if signum == signal.SIGHUP:
            detach(terminal)
        first = not state.requested
        state.request(f"received {name}")
        if state.letting_finish:
            if not first:  # cut the wait: the action is interrupted, the rollbacks begin
                finished(state)
                raise AbortSignal(state.reason or f"received {name}")
            _grace(state)
            with contextlib.suppress(OSError):
                os.write(2, _letting_finish(name).encode())
            return
        if first and not state.shielded:
            raise AbortSignal(f"received {name}")
        # nothing visible happens now: say why (a plain write: safe inside a handler; a
        # closed stderr must not raise here, at whatever line the handler interrupted)
        with contextlib.suppress(OSError):
            os.write(2, _waiting(name, first, state.settling).encode())

    previous: dict[signal.Signals, Any] = {}
    for sig in stop_signals():
        previous[sig] = signal.signal(sig, handler)
    try:
        yield state
    finally:
        for sig, prev in previous.items():
            signal.signal(sig, prev)


def stop_signals() -> tuple[signal.Signals, ...]:
    """The signals that stop drill's work in order: SIGINT, SIGTERM, and SIGHUP — the
    terminal it runs in was closed (an SSH session dropped): SIGHUP's default killed
    drill mid-run, the fault left in place until a `drill recover`. Under ``nohup`` (SIGHUP
    ignored when drill starts) it stays ignored: the run was meant to outlive the
    terminal."""
    stops = (signal.SIGINT, signal.SIGTERM)
    if signal.getsignal(signal.SIGHUP) == signal.SIG_IGN:
        return stops
    return (*stops, signal.SIGHUP)


def terminal_fds() -> tuple[int, ...]:
    """Which of stdin, stdout and stderr are a terminal now (checked before a hang-up:
    a hung-up terminal no longer says it is one)."""
    found = []
    for fd in (0, 1, 2):
        with contextlib.suppress(OSError):
            if os.isatty(fd):
                found.append(fd)
    return tuple(found)


def detach(fds: tuple[int, ...]) -> None:
    """The terminal hung up (SIGHUP): every write to it fails from now on (EIO), and a
    write that fails mid-rollback is an error of its own. What drill, or a process it
    starts, writes there goes nowhere instead; the evidence keeps the record."""
    try:
        devnull = os.open(os.devnull, os.O_RDWR)
    except OSError:
        return
    for fd in fds:
        with contextlib.suppress(OSError):
            os.dup2(devnull, fd)
    os.close(devnull)


def let_finish(state: AbortState) -> None:
    """An experiment's action starts (main thread): a first stop now lets it end before
    the rollbacks play — raised into it, chaoslib's process provider killed the shell
    (`sh -c …`) and not what the shell had started, so the fault ran on beside its undo,
    and the run said its rollbacks were played. :func:`finished` when it has ended."""
    if threading.current_thread() is threading.main_thread():
        state.letting_finish = True


def finished(state: AbortState) -> None:
    """The action :func:`let_finish` was called for ended (or the wait for it was cut)."""
    if state.letting_finish:
        state.letting_finish = False
        signal.setitimer(signal.ITIMER_REAL, 0)


def _grace(state: AbortState) -> None:
    """The wait for the action is bounded like a runbook step's (calls.SETTLE_GRACE_S): a
    supervisor's SIGKILL follows its SIGTERM before long, and then no rollback runs."""
    from orchestrator.engine.calls import SETTLE_GRACE_S

    def expired(_signum: int, _frame: FrameType | None) -> None:
        if state.letting_finish:
            state.letting_finish = False
            raise AbortSignal(state.reason or "aborted")

    signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, SETTLE_GRACE_S)


def _letting_finish(name: str) -> str:
    from orchestrator.engine.calls import SETTLE_GRACE_S

    return (
        f"drill: {name} received: waiting for the step in progress to end before rolling "
        f"back (it cannot be interrupted; at most {SETTLE_GRACE_S:.0f}s; stop again to "
        "roll back at once)\n"
    )


def _waiting(name: str, first: bool, settling: bool = False) -> str:
    """What a stop that cannot interrupt the work in progress tells the operator."""
    if settling:
        return (
            f"drill: {name} received again: not waiting for the step in progress; "
            "rolling back now\n"
        )
    if first:
        return (
            f"drill: {name} received: stopping once the rollback or record in progress is "
            "done; nothing new starts\n"
        )
    return (
        f"drill: {name} received again: still finishing the rollbacks (interrupting them "
        "would leave the environment half-restored; a SIGKILL leaves them to `drill "
        "recover`)\n"
    )


@contextmanager
def unshielded(state: AbortState) -> Iterator[None]:
    """A scenario body: the first signal raises :class:`AbortSignal` here. A stop that
    was requested before (while shielded) raises on entry: nothing new starts."""
    if state.requested:
        raise AbortSignal(state.reason or "aborted")
    before = state.shielded
    state.shielded = False
    try:
        yield
    finally:
        state.shielded = before


@contextmanager
def shielded(state: AbortState) -> Iterator[None]:
    """Rollbacks run inside this: signals are recorded, not raised."""
    before = state.shielded
    state.shielded = True
    try:
        yield
    finally:
        state.shielded = before
