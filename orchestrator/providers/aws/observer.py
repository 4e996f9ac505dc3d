"""Measurement on AWS: probes when there is a network path, RDS's own account always.

With ``probes: {db: …, http: …}`` the independent probes of :mod:`orchestrator.measure`
measure RTO/RPO, and RDS events (failover started/completed, promotion) are recorded
next to them as a cross-check (``rds-events``), with the difference. With
``probes: none`` there is nothing independent to measure with: RTO comes from RDS
events — or, when there are none, from the instance status the action waited on —
with that method recorded, and RPO is ``null`` with the reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from orchestrator.measure.base import MeasurementData, ObservationResult, ScenarioObserver
from orchestrator.providers.aws.context import AwsContext

RPO_NONE_REASON = (
    "not measured: probes: none — the runner has no network path to the "
    "database, and RPO needs the heartbeat writer's acknowledged rows"
)


@dataclass
class RdsEvent:
    at: datetime
    message: str
    kind: str  # failover_started | failover_completed | promotion | other


def classify(message: str, categories: list[str]) -> str:
    m = message.lower()
    if "failover" in m or "failover" in categories:
        if "start" in m:
            return "failover_started"
        if "complete" in m or "finished" in m:
            return "failover_completed"
    if "promot" in m:
        return "promotion"
    return "other"


@dataclass
class RdsEventsObserver:
    """Wraps the probe observer (if any) and adds RDS's account of the scenario."""

    c: AwsContext
    inner: ScenarioObserver | None = None
    marks: dict[str, datetime] = field(default_factory=dict)
    instances: list[tuple[str, str, float | None]] = field(default_factory=list)
    started_at: datetime | None = None
    status_restored_at: datetime | None = None
    lost_az: str | None = None  # the AZ an ``az.isolate`` cut (RDS must leave it)
    probe_sources: dict[str, str] = field(default_factory=dict)  # evidence: where from
    failover: dict[str, Any] | None = None  # the instance a db.failover rebooted, its AZs

    def start(self) -> None:
        from orchestrator.evidence.enums import utcnow

        self.started_at = utcnow()
        if self.inner:
            self.inner.start()

    def mark(self, name: str, at: datetime) -> None:
        self.marks.setdefault(name, at)
        if self.inner:
            self.inner.mark(name, at)

    def observe_step(self, action: str, args: dict[str, Any], output: Any) -> None:
        out = output if isinstance(output, dict) else {}
        name = (
            out.get("instance")
            if action in ("db.failover", "db.promote_replica")
            else (out.get("new_instance") if action == "db.restore" else None)
        )
        if action == "db.failover" and name:
            self.failover = {
                "instance": name,
                "region": out.get("region") or self.c.region,
                "az_before": out.get("az_before"),
                "az_after": out.get("az_after"),
            }
        if name:  # the instance whose recovery RDS reports (events, then its status)
            self.instances.append((name, out.get("region") or self.c.region, out.get("waited_s")))
        scope = str(out.get("scope") or "")
        if action == "az.isolate" and scope.startswith("az:"):
            # RDS reports an AZ loss by failing the primary over: its status alone
            # stays `available` while the instance sits in the lost AZ
            t = self.c.target("primary_db")
            self.lost_az = scope.removeprefix("az:")
            self.instances.append((t.name or "", t.region or self.c.region, None))
        if self.inner:
            self.inner.observe_step(action, args, output)

    def _failover_note(self, f: dict[str, Any]) -> dict[str, Any]:
        """The instance failed over and its AZ before and after, as RDS reports them
        (after: read now, when the step did not wait for it)."""
        from botocore.exceptions import BotoCoreError

        from orchestrator.errors import DrillError
        from orchestrator.providers.aws.context import describe_instance

        after = f.get("az_after")
        if after is None:
            try:
                after = (describe_instance(self.c, f["instance"], f["region"]) or {}).get(
                    "AvailabilityZone"
                )
            except (DrillError, BotoCoreError):  # a note, not a measurement: left unknown
                after = None
        return {
            "instance": f["instance"],
            "az_before": f.get("az_before"),
            "az_after": after,
            "moved": None if not (after and f.get("az_before")) else after != f["az_before"],
        }

    def wait_until(
        self, condition: str, timeout_s: float, should_abort: Callable[[], bool]
    ) -> datetime:
        """With probes: the probes decide. Without: RDS's instance status does (recorded
        as method ``rds-instance-status``) — after an AZ loss, `available` in another AZ
        than the lost one (RDS failed over), never the status it had before noticing."""
        if self.inner:
            return self.inner.wait_until(condition, timeout_s, should_abort)
        from orchestrator.errors import StepFailed
        from orchestrator.evidence.enums import utcnow
        from orchestrator.providers.aws.context import describe_instance
        from orchestrator.providers.base import StepContext

        if condition != "service_restored":
            raise StepFailed(
                f"cannot wait for {condition!r} with probes: none",
                "use an API probe step (db.replication_lag) with retries",
            )
        if self.instances:
            name, region, _w = self.instances[-1]
        else:
            t = self.c.target("primary_db")
            name, region = t.name or "", t.region or self.c.region
        ctx = StepContext(
            run_id="observer",
            scenario_id="",
            mode="live",
            deadline_s=timeout_s,
            should_abort=should_abort,
        )
        lost = self.lost_az

        def restored() -> bool:
            found = describe_instance(self.c, name, region) or {}
            moved = lost is None or found.get("AvailabilityZone") != lost
            return found.get("DBInstanceStatus") == "available" and moved

        what = f"{name} available" + (f" outside the lost AZ {lost} (a failover)" if lost else "")
        self.c.wait(what, restored, ctx)
        at = utcnow()
        self.status_restored_at = at
        return at

    def events(self) -> list[RdsEvent]:
        since = (self.started_at or datetime.now().astimezone()) - timedelta(seconds=60)
        out: list[RdsEvent] = []
        for name, region, _w in self.instances:
            client = self.c.clients.overrides.get(f"rds-events@{region}") or self.c.rds(region)
            pages = client.get_paginator("describe_events").paginate(
                SourceIdentifier=name, SourceType="db-instance", StartTime=since
            )  # 100 a page: a busy instance has more during a drill
            for e in (e for page in pages for e in page.get("Events", [])):
                out.append(
                    RdsEvent(
                        e["Date"],
                        e.get("Message", ""),
                        classify(e.get("Message", ""), e.get("EventCategories", [])),
                    )
                )
        return sorted(out, key=lambda e: e.at)

    def stop(self) -> ObservationResult:
        result = self.inner.stop() if self.inner else ObservationResult()
        for kind, source in self.probe_sources.items():  # explicit or derived (redacted)
            result.notes[f"probe_{kind}"] = source
        if self.failover is not None:  # not the lab's old/new primary: the AZs RDS gave
            result.notes["failover"] = self._failover_note(self.failover)
        fault = self.marks.get("fault_injected")
        events = self.events() if self.instances else []
        # only what RDS did after the fault: an earlier failover (the scenario before,
        # within the minute looked back) recovered nothing of this one
        after = [e for e in events if fault is None or e.at >= fault]
        done = [e for e in after if e.kind in ("failover_completed", "promotion")]
        started = [e for e in after if e.kind == "failover_started"]
        details: dict[str, Any] = {
            "events": [
                {"at": e.at.isoformat(), "kind": e.kind, "message": e.message} for e in after
            ]
        }
        if len(after) < len(events):
            details["earlier_events_ignored"] = len(events) - len(after)
        aws_rto: float | None = None
        bound: float | None = None
        if fault and done:
            aws_rto = (done[-1].at - fault).total_seconds()
            bound = _event_time_resolution(done[-1].at)
            details["restored_at"] = done[-1].at.isoformat()
            details["clock"] = (
                "RDS's time of the event against this runner's time of the fault; "
                "the error bound is the event time's resolution (clock skew not included)"
            )
            if started:
                details["failover_duration_s"] = (done[-1].at - started[0].at).total_seconds()
        if self.inner is not None:
            if aws_rto is not None:
                if result.rto_s is not None:
                    details["difference_s"] = aws_rto - result.rto_s
                    details["probes_rto_s"] = result.rto_s
                result.measurements.append(
                    MeasurementData(
                        "rto_rds_events",
                        aws_rto,
                        "s",
                        "rds-events",
                        error_bound_s=bound,
                        details=details,
                    )
                )
            else:
                result.notes["rds_events"] = "no failover/promotion event found"
            return result
        # probes: none — RDS is the only witness; say so in the method
        if aws_rto is not None and fault is not None:
            result.rto_s = aws_rto
            result.service_restored_at = fault + timedelta(seconds=aws_rto)
            result.measurements.append(
                MeasurementData(
                    "rto", aws_rto, "s", "rds-events", error_bound_s=bound, details=details
                )
            )
        elif fault is not None and self.status_restored_at is not None:
            rto = (self.status_restored_at - fault).total_seconds()
            result.rto_s, result.service_restored_at = rto, self.status_restored_at
            result.measurements.append(
                MeasurementData(
                    "rto",
                    rto,
                    "s",
                    "rds-instance-status",
                    interval_s=self.c.poll_s,
                    error_bound_s=self.c.poll_s,
                    details={
                        **details,
                        "note": "until RDS reported the instance 'available' "
                        + (f"outside the lost AZ {self.lost_az} " if self.lost_az else "")
                        + "(probes: none; no RDS event found)",
                    },
                )
            )
        elif fault is not None and self.instances and self.instances[-1][2] is not None:
            waited = float(self.instances[-1][2] or 0.0)
            result.rto_s = waited
            result.service_restored_at = fault + timedelta(seconds=waited)
            result.measurements.append(
                MeasurementData(
                    "rto",
                    waited,
                    "s",
                    "rds-instance-status",
                    interval_s=self.c.poll_s,
                    error_bound_s=self.c.poll_s,
                    details={
                        **details,
                        "note": "time until the instance reported 'available' "
                        "again after the action; no RDS event found",
                    },
                )
            )
        elif fault and (restored := self.marks.get("service_restored")):
            result.rto_s = (restored - fault).total_seconds()
            result.service_restored_at = restored
            result.measurements.append(
                MeasurementData(
                    "rto",
                    result.rto_s,
                    "s",
                    "step-marks",
                    details={"note": "from runbook marks (API probe steps), not probes"},
                )
            )
        result.rpo_s = None
        result.notes["rpo"] = RPO_NONE_REASON
        result.notes["rto_method"] = (
            result.measurements[-1].method if result.measurements else "none"
        )
        return result


def build(c: AwsContext, scenario_kind: str | None, run_id: str) -> ScenarioObserver:
    """The observer for one scenario of this environment."""
    from orchestrator.providers.aws.probedb import (
        db_dsn,
        db_probe,
        derived_dsn,
        global_probe,
        http_probe,
        sources,
    )

    probes = c.env.probes
    inner: ScenarioObserver | None = None
    db = db_probe(c)
    http = http_probe(c)[0]
    if db.explicit or db.derived or http:
        from orchestrator.measure.observer import ProbeTargets, build_observer
        from orchestrator.providers.aws.dsn import probe_dsn

        explicit = probes if probes is not None and probes != "none" else None
        named = explicit.global_db if explicit else None
        record = None if named else global_probe(c)[0]
        global_db = probe_dsn(c, named) if named else derived_dsn(c, record) if record else None
        inner = build_observer(
            ProbeTargets(
                db=db_dsn(c),
                global_db=global_db,
                app=http,
                interval_s=(explicit.interval_s if explicit else None) or 1.0,
                follow_record=db.derived is not None and not named,
            ),
            scenario_kind,
            run_id,
        )
    return RdsEventsObserver(c, inner, probe_sources=sources(c))


def _event_time_resolution(at: datetime) -> float:
    """How precisely RDS stamped an event: to the second (whole seconds, as the API
    often returns) or to the millisecond. An RTO read from RDS events is not sampled, so
    it has no interval; its error bound is this resolution (DESIGN 7)."""
    return 1.0 if at.microsecond == 0 else 0.001
