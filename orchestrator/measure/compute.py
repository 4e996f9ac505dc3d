"""RTO, outage and RPO from probe samples and the heartbeat ledger: pure functions.

Kept free of I/O and threads so the definitions (DESIGN section 7) are tested on
synthetic series, exactly.

* **Restored** = the first successful sample after which every sample stays green
  for a stability window. Its instant is when that request was *issued* (the
  service served a request sent then), provided it answered about as fast as the
  healthy probes before the fault did (within max(one interval, 4 × their median
  latency): a busy host slows every answer alike); a slow success (e.g. a
  connection queued while the server was frozen, answered after it thawed) counts
  only from its answer. Probes tick on a fixed grid and
  the previous tick failed, so the restoration happened within one interval
  before the reported instant: the error bound is one interval, and the RTO never
  flatters the system.
* **Outage** as seen by the probes = first failed sample after the fault →
  restored.
* **RPO** = ack time of the newest lost acknowledged write - ack time of the newest
  surviving write acknowledged before it (DESIGN's "newest acknowledged - newest
  surviving", applied to the writes acknowledged before recovery: heartbeats keep
  being written to the new primary after recovery and survive, and must not mask an
  earlier loss). 0 when nothing acknowledged was lost. For backup restore the
  reference is the disaster: only writes acknowledged before it are expected, and
  RPO = disaster - ack time of the newest surviving one.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from orchestrator.measure.samples import Sample


@dataclass(frozen=True)
class Restoration:
    """When one probe saw the service come back, and the outage it saw before."""

    restored_at: float | None
    outage_start: float | None  # start of the first failed sample after the fault
    failures: int  # failed samples between the fault and the restoration
    no_outage_seen: bool = False

    @property
    def outage_s(self) -> float | None:
        if self.restored_at is None or self.outage_start is None:
            return None
        return max(0.0, self.restored_at - self.outage_start)


def restored_instant(sample: Sample, slow_s: float) -> float:
    """When a successful sample shows the service was up (see the module docstring)."""
    return sample.start if sample.latency_s <= slow_s else sample.end


def _stable_from(samples: list[Sample], idx: int, stability_s: float) -> bool | None:
    """True if samples[idx:] stay green for ``stability_s`` after samples[idx] answered.

    None when the series ends before the window has been observed (not yet known).
    """
    window_end = samples[idx].end + stability_s
    for s in samples[idx + 1 :]:
        if s.start > window_end:
            return True
        if not s.ok:
            return False
        if s.end >= window_end:
            return True
    return None


def restoration(
    samples: list[Sample],
    fault_at: float,
    stability_s: float,
    observed_from: float | None = None,
    interval_s: float = 0.1,
) -> Restoration:
    """When the probe saw the service restored after ``fault_at``.

    ``observed_from`` is when the probe started: a probe running before the fault
    that never fails afterwards saw no outage (restored at the fault, RTO 0); a
    probe started after the fault (e.g. on a restored instance) is restored at its
    first stable success.
    """
    after = sorted((s for s in samples if s.start >= fault_at), key=lambda s: s.start)
    healthy = [s.latency_s for s in samples if s.start < fault_at and s.ok]
    slow_s = max(interval_s, 4 * statistics.median(healthy)) if healthy else interval_s
    first_fail = next((i for i, s in enumerate(after) if not s.ok), None)
    running_at_fault = observed_from is not None and observed_from <= fault_at
    if first_fail is None and running_at_fault:
        if after and _stable_from(after, 0, stability_s) is not None:
            return Restoration(fault_at, None, 0, no_outage_seen=True)
        return Restoration(None, None, 0)
    begin = first_fail if first_fail is not None else 0
    outage_start = after[first_fail].start if first_fail is not None else None
    failures = 0
    for i in range(begin, len(after)):
        if not after[i].ok:
            failures += 1
            continue
        stable = _stable_from(after, i, stability_s)
        if stable is None:
            break
        if stable:
            return Restoration(
                max(fault_at, restored_instant(after[i], slow_s)), outage_start, failures
            )
    return Restoration(None, outage_start, failures)


def combine(parts: list[Restoration]) -> Restoration:
    """The service is restored when every service probe is (the latest of them)."""
    if not parts or any(p.restored_at is None for p in parts):
        starts = [p.outage_start for p in parts if p.outage_start is not None]
        return Restoration(None, min(starts) if starts else None, sum(p.failures for p in parts))
    restored = max(p.restored_at for p in parts if p.restored_at is not None)
    starts = [p.outage_start for p in parts if p.outage_start is not None]
    return Restoration(
        restored,
        min(starts) if starts else None,
        sum(p.failures for p in parts),
        no_outage_seen=all(p.no_outage_seen for p in parts),
    )


@dataclass(frozen=True)
class Ack:
    """One acknowledged heartbeat commit from the local ledger."""

    seq: int
    sent_at: float
    acked_at: float


@dataclass
class Loss:
    rpo_s: float
    lost: list[int] = field(default_factory=list)
    considered: int = 0
    newest_acked: float | None = None
    newest_surviving: float | None = None
    lower_bound: bool = False  # no earlier surviving write to measure from


def data_loss(acks: list[Ack], surviving: set[int], disaster_at: float | None = None) -> Loss:
    """Compare the ledger with the surviving rows (see the module docstring)."""
    ledger = sorted(acks, key=lambda a: a.acked_at)
    if disaster_at is not None:
        ledger = [a for a in ledger if a.acked_at <= disaster_at]
    lost = [a for a in ledger if a.seq not in surviving]
    loss = Loss(0.0, sorted(a.seq for a in lost), len(ledger))
    if ledger:
        loss.newest_acked = ledger[-1].acked_at
    if not lost:
        kept = [a for a in ledger if a.seq in surviving]
        loss.newest_surviving = kept[-1].acked_at if kept else None
        return loss
    if disaster_at is not None:
        reference = disaster_at
        earlier = [a for a in ledger if a.seq in surviving]
    else:
        newest_lost = lost[-1]
        reference = newest_lost.acked_at
        earlier = [a for a in ledger if a.seq in surviving and a.acked_at < reference]
    loss.newest_acked = reference if disaster_at is None else loss.newest_acked
    if earlier:
        loss.newest_surviving = earlier[-1].acked_at
        loss.rpo_s = max(0.0, reference - earlier[-1].acked_at)
    else:
        loss.rpo_s = max(0.0, reference - lost[0].acked_at)
        loss.lower_bound = True
    return loss
