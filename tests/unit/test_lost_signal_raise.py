"""A handler that stops work by raising loses that raise when the signal lands in a
weakref callback or a ``__del__``: Python prints "Exception ignored in ..." and goes on.
The stop must still happen (CI: `drill serve` served on after a SIGTERM that landed in
SQLAlchemy's garbage collection; `lab up|reset` had the same shape)."""

from __future__ import annotations

import gc
import os
import signal
import weakref
from collections.abc import Iterator

import pytest

from orchestrator.commands.lab import _stoppable
from orchestrator.errors import Aborted


class _Thing:
    pass


def _signal_during_garbage_collection(sig: signal.Signals) -> None:
    thing = _Thing()
    ref = weakref.ref(thing, lambda _ref: os.kill(os.getpid(), sig))
    del thing
    gc.collect()
    assert ref() is None


@pytest.fixture
def handlers_restored() -> Iterator[None]:
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # the lost raise
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_lab_build_stopped_during_garbage_collection_still_stops(
    sig: signal.Signals, handlers_restored: None
) -> None:
    finished = False
    with pytest.raises(Aborted, match=f"lab up stopped \\({sig.name}\\)"), _stoppable("up"):
        _signal_during_garbage_collection(sig)
        finished = True  # the build went on: the raise was lost in the callback
    assert finished
