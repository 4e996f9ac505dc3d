"""Run one probe at a fixed interval, concurrently with the drill.

Ticks are scheduled on a fixed grid (``t0 + k·interval``), and every tick starts its
own attempt in a worker thread: a hanging attempt (a SIGSTOPped server, a cut proxy)
never delays the next one, so the moment the service comes back is seen within one
interval. An attempt still running at its deadline is recorded as a failure at that
moment; whatever it does later is ignored (a late commit still reaches the ledger,
because the database did acknowledge it).
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

from orchestrator.measure.probes import Probe, ProbeFailed
from orchestrator.measure.samples import Sample

MAX_IN_FLIGHT = 24  # per probe; beyond this, ticks are recorded as failures


class ProbeLoop:
    """Samples of one probe, taken every ``interval_s`` until stopped."""

    def __init__(
        self, probe: Probe, interval_s: float, deadline_s: float, service: bool = True
    ) -> None:
        self.probe = probe
        self.name = probe.name
        self.interval_s = interval_s
        self.deadline_s = deadline_s
        self.service = service  # counts for "service restored"
        self.started_at: float | None = None
        self._samples: list[Sample] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(
            max_workers=MAX_IN_FLIGHT, thread_name_prefix=f"probe-{probe.name}"
        )
        self._inflight: list[tuple[float, Future[tuple[float, str | None]]]] = []
        self._thread = threading.Thread(target=self._run, name=f"probe-{probe.name}", daemon=True)

    def start(self) -> None:
        self.started_at = time.time()
        self._thread.start()

    def samples(self) -> list[Sample]:
        with self._lock:
            return sorted(self._samples, key=lambda s: s.start)

    def settled(self) -> list[Sample]:
        """Samples whose outcome is known, up to the oldest attempt still in flight.

        A hanging attempt is not yet a failure, but nothing after it may be read as
        "stayed green" either: live decisions (``wait_until``) use only this prefix.
        """
        with self._lock:
            horizon = min((start for start, _f in self._inflight), default=float("inf"))
            return sorted((s for s in self._samples if s.start < horizon), key=lambda s: s.start)

    def last(self) -> Sample | None:
        with self._lock:
            return max(self._samples, key=lambda s: s.start) if self._samples else None

    def _run(self) -> None:
        t0 = time.monotonic()
        k = 0
        while not self._stop.is_set():
            self._collect(final=False)
            if len(self._inflight) >= MAX_IN_FLIGHT:
                now = time.time()
                self._add(Sample(now, now, False, "probe backlog: earlier attempts hang"))
            else:
                start = time.time()
                fut = self._pool.submit(_timed, self.probe)
                with self._lock:
                    self._inflight.append((start, fut))
            k += 1
            wait = t0 + k * self.interval_s - time.monotonic()
            if wait < 0:  # we fell behind (a stalled host): skip to the next grid point
                k += int(-wait // self.interval_s) + 1
                wait = t0 + k * self.interval_s - time.monotonic()
            self._stop.wait(max(0.0, wait))

    def _collect(self, final: bool) -> None:
        now = time.time()
        keep: list[tuple[float, Future[tuple[float, str | None]]]] = []
        done: list[Sample] = []
        with self._lock:
            inflight = list(self._inflight)
        for start, fut in inflight:
            if fut.done() and not fut.cancelled():
                end, error = fut.result()
                if end - start > self.deadline_s:  # answered, but too late to count
                    done.append(
                        Sample(
                            start,
                            start + self.deadline_s,
                            False,
                            f"no answer within {self.deadline_s:g}s",
                        )
                    )
                else:
                    done.append(Sample(start, end, error is None, error))
            elif now - start >= self.deadline_s or final:
                done.append(
                    Sample(
                        start,
                        min(now, start + self.deadline_s),
                        False,
                        f"no answer within {self.deadline_s:g}s",
                    )
                )
            else:
                keep.append((start, fut))
        with self._lock:  # swap both at once: settled() never sees an attempt vanish
            self._samples.extend(done)
            self._inflight = keep

    def _add(self, sample: Sample) -> None:
        with self._lock:
            self._samples.append(sample)

    def halt(self) -> None:
        """Stop ticking (no new attempts); :meth:`stop` then drains what is in flight."""
        self._stop.set()

    def stop(self) -> None:
        """Stop ticking; give attempts in flight until their deadline, then record them."""
        self._stop.set()
        self._thread.join(timeout=self.deadline_s + 1)
        end = time.time() + self.deadline_s
        while self._inflight and time.time() < end:
            self._collect(final=False)
            time.sleep(min(0.02, self.interval_s))
        self._collect(final=True)
        self._pool.shutdown(wait=False, cancel_futures=True)


def _timed(probe: Probe) -> tuple[float, str | None]:
    """Run one attempt; (time it ended, error or None). Never raises."""
    from orchestrator.secrets import redact_text  # error texts are stored as evidence

    try:
        probe.attempt()
    except ProbeFailed as exc:
        return time.time(), redact_text(str(exc))
    except Exception as exc:  # a probe bug must show up as a failed sample, not kill the loop
        return time.time(), redact_text(f"{exc.__class__.__name__}: {str(exc)[:120]}")
    return time.time(), None
