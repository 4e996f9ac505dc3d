"""Turn probe series and the ledger comparison into an ObservationResult.

Every measurement carries its method, the probe interval and its error bound
(± one interval, DESIGN section 7), plus the instants it was computed from, so an
auditor can recompute it from the stored series.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orchestrator.measure.base import MeasurementData, ObservationResult, SeriesData
from orchestrator.measure.compute import Restoration, combine, data_loss, restoration
from orchestrator.measure.samples import ENCODING, encode_series, to_datetime

if TYPE_CHECKING:
    from orchestrator.measure.loop import ProbeLoop
    from orchestrator.measure.observer import ProbeObserver
    from orchestrator.measure.survivors import Survivors


def _iso(ts: float | None) -> str | None:
    return to_datetime(ts).isoformat().replace("+00:00", "Z") if ts is not None else None


def _epoch(value: Any) -> float | None:
    """An ISO 8601 time (``restored_to``) as epoch seconds; None for ``latest`` etc."""
    from datetime import UTC, datetime

    try:
        when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


def build_result(
    obs: ProbeObserver, loops: list[ProbeLoop], survivors: Survivors | None
) -> ObservationResult:
    result = ObservationResult(notes=dict(obs.notes))
    fault = obs.marks.get("fault_injected")
    for lp in loops:
        samples = lp.samples()
        if samples:
            result.series.append(
                SeriesData(
                    lp.name,
                    obs.interval_s,
                    to_datetime(samples[0].start),
                    len(samples),
                    ENCODING,
                    encode_series(samples),
                )
            )
    if fault is None:
        result.notes["rto"] = "not measured: no step marked fault_injected"
    else:
        _rto(result, obs, loops, fault)
    if obs.ledger is not None and survivors is not None:
        _rpo(result, obs, survivors, fault)
    acks = obs.ledger.acks()
    if acks:
        result.series.append(
            SeriesData(
                "heartbeat-ledger",
                obs.interval_s,
                to_datetime(acks[0].sent_at),
                len(acks),
                "zlib+json-ledger",
                obs.ledger.encode(),
            )
        )
    return result


def _rto(
    result: ObservationResult, obs: ProbeObserver, loops: list[ProbeLoop], fault: float
) -> None:
    service = [lp for lp in loops if lp.service]
    per_probe: dict[str, Restoration] = {
        lp.name: restoration(lp.samples(), fault, obs.stability_s, lp.started_at, obs.interval_s)
        for lp in service
    }
    overall = combine(list(per_probe.values()))
    method = "probes: " + ", ".join(per_probe) + " (first success followed by a "
    method += f"{obs.stability_s:g}s green window; restored when that request was issued)"
    details: dict[str, Any] = {
        "fault_injected_at": _iso(fault),
        "service_restored_at": _iso(overall.restored_at),
        "stability_window_s": obs.stability_s,
        "probes": {
            name: {
                "restored_at": _iso(r.restored_at),
                "outage_start": _iso(r.outage_start),
                "failed_samples": r.failures,
                "no_outage_seen": r.no_outage_seen,
            }
            for name, r in per_probe.items()
        },
    }
    if overall.restored_at is None:
        result.notes["rto"] = "not measured: the service probes never stayed green"
        result.measurements.append(
            MeasurementData("rto", None, "s", method, obs.interval_s, obs.interval_s, details)
        )
        return
    result.service_restored_at = to_datetime(overall.restored_at)
    result.rto_s = round(max(0.0, overall.restored_at - fault), 6)
    if overall.no_outage_seen:
        details["note"] = "no probe failed after the fault: no outage seen"
    result.measurements.append(
        MeasurementData("rto", result.rto_s, "s", method, obs.interval_s, obs.interval_s, details)
    )
    outage = overall.outage_s if overall.outage_start is not None else 0.0
    result.measurements.append(
        MeasurementData(
            "outage",
            None if outage is None else round(outage, 6),
            "s",
            "probes: first failed sample after the fault → service restored",
            obs.interval_s,
            obs.interval_s,
            {
                "first_failure_at": _iso(overall.outage_start),
                "service_restored_at": _iso(overall.restored_at),
                "failed_samples": overall.failures,
            },
        )
    )


def _rpo(
    result: ObservationResult, obs: ProbeObserver, survivors: Survivors, fault: float | None
) -> None:
    where = obs.survivor[0] if obs.survivor else "endpoint"
    if survivors.seqs is None:
        result.notes["rpo"] = f"not measured: {survivors.error}"
        return
    disaster = fault if obs.rpo_from_disaster else None
    if obs.rpo_from_disaster and disaster is None:
        result.notes["rpo"] = "not measured: no disaster (fault_injected) mark"
        return
    acks = obs.ledger.acks()
    loss = data_loss(acks, survivors.seqs, disaster)
    acked = {a.seq for a in acks}
    unacked_survivors = sorted(survivors.seqs - acked)
    method = (
        "heartbeat ledger vs rows on the "
        + where
        + (" (reference: the disaster)" if disaster is not None else "")
    )
    ledger_bound = loss.rpo_s if loss.lower_bound else None
    restored_to = _epoch(obs.notes.get("restored_to"))
    if ledger_bound is not None and disaster is not None and restored_to is not None:
        # No acknowledged write survived: the ledger, begun with the scenario, only
        # says the loss is at least its span. The restored data ends where the restore
        # says (a recovery point, a snapshot: possibly hours before the first heartbeat),
        # and the ledger confirms nothing after it came back; the RPO runs from there.
        loss.rpo_s = max(loss.rpo_s, disaster - restored_to)
        method += "; no acknowledged write survived: from the restored data's end (restored_to)"
    result.rpo_s = round(loss.rpo_s, 6)
    result.lost_writes = len(loss.lost)
    common = {
        "survivor": where,
        "writer": obs.ledger.writer,
        "acked": loss.considered,
        "surviving": len(survivors.seqs & acked),
        "table_missing": survivors.table_missing,
    }
    result.measurements.append(
        MeasurementData(
            "rpo",
            result.rpo_s,
            "s",
            method,
            obs.interval_s,
            obs.interval_s,
            {
                **common,
                "reference": "disaster" if disaster is not None else "newest lost write",
                "disaster_at": _iso(disaster),
                "newest_acked_at": _iso(loss.newest_acked),
                "newest_surviving_at": _iso(loss.newest_surviving),
                "lower_bound": loss.lower_bound,
                "ledger_lower_bound_s": None if ledger_bound is None else round(ledger_bound, 6),
                "restored_to": obs.notes.get("restored_to"),
            },
        )
    )
    result.measurements.append(
        MeasurementData(
            "lost_writes",
            float(result.lost_writes),
            "rows",
            method,
            obs.interval_s,
            0.0,
            {
                **common,
                "lost_seqs": loss.lost[:200],
                "unacknowledged_survivors": len(unacked_survivors),
                "indeterminate": len(obs.ledger.indeterminate_seqs()),
            },
        )
    )
