"""What the run engine needs from a measurement: the ScenarioObserver protocol.

The engine starts an observer when a scenario begins, tells it the timing marks
(fault injected…), may wait on it (``wait: until: service_restored``), and stops it
at the end to collect measurements. The observer's numbers come from independent
probes — never from the provider's own claims.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


@dataclass
class MeasurementData:
    """One measurement a scenario's observer took (RTO, RPO, outage, lost writes…)."""

    name: str  # rto | rpo | outage | lost_writes | …
    value: float | None
    unit: str
    method: str
    interval_s: float | None = None
    error_bound_s: float | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class SeriesData:
    """One probe's raw samples, encoded, kept as evidence beside the measurements."""

    probe: str
    interval_s: float
    started_at: datetime
    samples: int
    encoding: str
    data: bytes


@dataclass
class ObservationResult:
    """What the probes saw during a scenario: the measurements and the raw series."""

    service_restored_at: datetime | None = None
    rto_s: float | None = None
    rpo_s: float | None = None
    lost_writes: int | None = None
    measurements: list[MeasurementData] = field(default_factory=list)
    series: list[SeriesData] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)


class ScenarioObserver(Protocol):
    def start(self) -> None:
        """Start probing (called before the first step)."""

    def mark(self, name: str, at: datetime) -> None:
        """A timing mark happened (``fault_injected``, ``service_restored``, ``disaster``)."""

    def observe_step(self, action: str, args: dict[str, Any], output: Any) -> None:
        """An action step succeeded; e.g. ``db.restore`` output names the new instance
        whose data the observer must check, ``dns.point`` says the global endpoint moved."""

    def wait_until(
        self, condition: str, timeout_s: float, should_abort: Callable[[], bool]
    ) -> datetime:
        """Block until ``condition`` holds; return when it first held. Raise on timeout."""

    def stop(self) -> ObservationResult:
        """Stop probing and compute the measurements."""


class MarksObserver:
    """Fallback when nothing can be probed: RTO from step marks, RPO unknown.

    Recorded with method ``step-marks`` so nobody mistakes it for a probe measurement.
    """

    def __init__(self) -> None:
        self.marks: dict[str, datetime] = {}

    def start(self) -> None:
        pass

    def mark(self, name: str, at: datetime) -> None:
        self.marks.setdefault(name, at)

    def observe_step(self, action: str, args: dict[str, Any], output: Any) -> None:
        pass

    def wait_until(
        self, condition: str, timeout_s: float, should_abort: Callable[[], bool]
    ) -> datetime:
        from orchestrator.errors import StepFailed

        raise StepFailed(
            f"cannot wait for {condition!r}: this environment has no probes",
            "configure `probes:` for the environment, or use a fixed `duration` wait",
        )

    def stop(self) -> ObservationResult:
        fault = self.marks.get("fault_injected")
        restored = self.marks.get("service_restored")
        result = ObservationResult(service_restored_at=restored)
        if fault and restored:
            result.rto_s = (restored - fault).total_seconds()
            result.measurements.append(
                MeasurementData(
                    "rto",
                    result.rto_s,
                    "s",
                    "step-marks",
                    details={"note": "from runbook marks, not probes"},
                )
            )
        result.notes["rpo"] = "not measured: no probes for this environment"
        return result
