"""Probe samples and their compact storage.

A sample is one probe attempt: when it started, when its answer (or its failure)
arrived, and whether it succeeded. Times are client wall-clock seconds since the
epoch (``time.time()``), because they are compared with timing marks taken by the
engine on the same clock.

Series are stored as evidence with encoding ``zlib+json``: start offsets and
durations in milliseconds relative to the first sample, an ok bit string and a
small table of distinct error messages. A 60 s scenario probed every 100 ms by
three probes is a few kilobytes.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

ENCODING = "zlib+json"


@dataclass(frozen=True)
class Sample:
    """One probe attempt, as the client saw it."""

    start: float  # epoch seconds when the attempt began
    end: float  # epoch seconds when it succeeded or was declared failed
    ok: bool
    error: str | None = None

    @property
    def latency_s(self) -> float:
        return self.end - self.start


def to_datetime(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


def to_epoch(value: datetime) -> float:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def encode_series(samples: list[Sample]) -> bytes:
    """Compress a series (sorted by start) to the stored form."""
    samples = sorted(samples, key=lambda s: s.start)
    t0 = samples[0].start if samples else 0.0
    errors: list[str] = []
    err_idx: list[int] = []
    for s in samples:
        if s.error is None:
            err_idx.append(-1)
            continue
        if s.error not in errors:
            errors.append(s.error)
        err_idx.append(errors.index(s.error))
    doc = {
        "t0": t0,
        "start_ms": _deltas([round((s.start - t0) * 1000) for s in samples]),
        "dur_ms": [round(s.latency_s * 1000) for s in samples],
        "ok": "".join("1" if s.ok else "0" for s in samples),
        "errors": errors,
        "error_idx": err_idx,
    }
    return zlib.compress(json.dumps(doc, separators=(",", ":")).encode(), 9)


def decode_series(data: bytes) -> list[Sample]:
    """The inverse of :func:`encode_series` (millisecond resolution)."""
    doc: dict[str, Any] = json.loads(zlib.decompress(data))
    t0 = float(doc["t0"])
    starts = _undeltas(doc["start_ms"])
    out: list[Sample] = []
    for i, (start_ms, dur_ms) in enumerate(zip(starts, doc["dur_ms"], strict=True)):
        idx = doc["error_idx"][i]
        start = t0 + start_ms / 1000
        out.append(
            Sample(
                start,
                start + dur_ms / 1000,
                doc["ok"][i] == "1",
                doc["errors"][idx] if idx >= 0 else None,
            )
        )
    return out


def _deltas(values: list[int]) -> list[int]:
    out, prev = [], 0
    for v in values:
        out.append(v - prev)
        prev = v
    return out


def _undeltas(values: list[int]) -> list[int]:
    out, acc = [], 0
    for v in values:
        acc += v
        out.append(acc)
    return out
