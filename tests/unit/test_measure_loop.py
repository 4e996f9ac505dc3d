"""The probe loop's mechanics with an in-process probe: hangs, deadlines, settled samples.

The probe here is a plain object whose attempts block on an event: it lets the test
decide exactly which attempt hangs, so assertions are about order and outcome, never
about how long anything took.
"""

from __future__ import annotations

import threading
import time

from orchestrator.measure.loop import ProbeLoop, _timed
from orchestrator.measure.probes import ProbeFailed


class GatedProbe:
    """Attempts succeed at once, except while ``hang`` is set (then they block)."""

    name = "gated"

    def __init__(self) -> None:
        self.hang = threading.Event()
        self.release = threading.Event()

    def attempt(self) -> None:
        if self.hang.is_set():
            self.release.wait(10)
            raise ProbeFailed("released after a hang")


def wait_for(cond: object, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():  # type: ignore[operator]
            return
        time.sleep(0.01)
    raise AssertionError("condition not reached")


def test_a_hanging_attempt_hides_later_samples_until_it_resolves() -> None:
    probe = GatedProbe()
    loop = ProbeLoop(probe, interval_s=0.02, deadline_s=5.0)
    loop.start()
    try:
        wait_for(lambda: len(loop.samples()) >= 3)
        probe.hang.set()
        hung_from = time.time()
        wait_for(lambda: loop._inflight)  # an attempt is hanging now
        time.sleep(0.1)
        probe.hang.clear()  # later attempts answer again…
        wait_for(lambda: any(s.start > hung_from and s.ok for s in loop.samples()))
        settled = loop.settled()
        # …but nothing after the hanging attempt counts as known yet
        assert all(s.start < hung_from for s in settled)
        probe.release.set()
        wait_for(lambda: any(not s.ok for s in loop.samples()))
        wait_for(lambda: any(s.start > hung_from and s.ok for s in loop.settled()))
    finally:
        probe.release.set()
        loop.stop()
    failed = [s for s in loop.samples() if not s.ok]
    assert failed and all(s.error == "released after a hang" for s in failed)
    starts = [s.start for s in loop.samples()]
    assert starts == sorted(starts)


def test_an_attempt_past_its_deadline_is_a_failure() -> None:
    probe = GatedProbe()
    probe.hang.set()
    loop = ProbeLoop(probe, interval_s=0.05, deadline_s=0.2)
    loop.start()
    try:
        wait_for(lambda: any(not s.ok for s in loop.samples()))
    finally:
        probe.release.set()
        loop.stop()
    late = [s for s in loop.samples() if not s.ok]
    assert late[0].error == "no answer within 0.2s"
    assert late[0].end - late[0].start <= 0.2 + 1e-6


def test_errors_are_redacted_before_they_become_evidence() -> None:
    class Leaky:
        name = "leaky"

        def attempt(self) -> None:
            raise ProbeFailed("postgresql://app:s3cret@127.0.0.1:5432/app password=hunter2")

    _end, error = _timed(Leaky())
    assert error is not None and "s3cret" not in error and "hunter2" not in error
