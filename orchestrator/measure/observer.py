"""The probe-based ScenarioObserver: what providers return from ``observer()``.

``build_observer(targets, scenario_kind, run_id)`` picks the probes a scenario kind
needs (see :data:`PLANS`) and returns a :class:`ProbeObserver`. The observer knows
nothing about the lab or AWS: only endpoints (libpq DSNs, URLs) and the outputs of
the actions it is told about, so the same measurement runs on every provider.

Which probes decide "service restored", per scenario kind:

* ``az-loss`` — SQL write+read through the database endpoint *and* HTTP health
  through the load balancer (the application must survive, not just the database);
* ``rds-failover`` — SQL write+read through the database endpoint;
* ``region-promotion`` — SQL write+read through the global endpoint (the Route53
  record that ``dns.point`` moves);
* ``backup-restore`` — the known dataset readable on the restored instance (probed
  from the moment ``db.restore`` names it); the dataset probe on the live endpoint
  shows the disaster, the heartbeat ledger gives the RPO from the disaster point.

TCP connect probes run alongside as context (a proxy that accepts connections but
cannot reach a database is visible in the series).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from orchestrator.measure.base import MarksObserver, ObservationResult, ScenarioObserver
from orchestrator.measure.ledger import Ledger
from orchestrator.measure.loop import ProbeLoop
from orchestrator.measure.probes import PROBES, HeartbeatProbe, Probe, ProbeFailed
from orchestrator.measure.report import build_result
from orchestrator.measure.samples import to_datetime, to_epoch
from orchestrator.measure.survivors import SurvivorCheck, Survivors


@dataclass
class ProbeTargets:
    """Endpoints a scenario is observed through (all on 127.0.0.0/8 in the lab)."""

    db: str | None
    global_db: str | None
    app: str | None
    interval_s: float = 0.1
    # the global probe is an *instance* (a DSN derived from the Terraform state: the
    # primary's, or the one the record named), not the DNS record clients use: it
    # follows the record to the promoted replica when ``dns.point`` moves it there
    follow_record: bool = False


@dataclass(frozen=True)
class ProbePlan:
    """One probe of a scenario: kind, which endpoint, whether it decides RTO."""

    kind: str  # key of PROBES
    endpoint: str  # db | global_db | app
    service: bool


PLANS: dict[str, list[ProbePlan]] = {
    "az-loss": [
        ProbePlan("sql", "db", True),
        ProbePlan("http", "app", True),
        ProbePlan("tcp", "db", False),
    ],
    "rds-failover": [ProbePlan("sql", "db", True), ProbePlan("tcp", "db", False)],
    "region-promotion": [ProbePlan("sql", "global_db", True), ProbePlan("tcp", "global_db", False)],
    "backup-restore": [ProbePlan("sql", "db", False), ProbePlan("dataset", "db", False)],
}
DEFAULT_PLAN = [
    ProbePlan("sql", "db", True),
    ProbePlan("http", "app", True),
    ProbePlan("tcp", "db", False),
]
# scenario kinds whose recovery is a new instance named by an action's output
RESTORE_KINDS = {"backup-restore"}
WARM_UP_ACKS = 3  # acknowledged heartbeats before the observer lets the drill go on


def _endpoints(targets: ProbeTargets) -> dict[str, str | None]:
    """Endpoint name → address; without a global endpoint, the database endpoint stands in.

    (An AWS environment configured with one ``probes.db`` DSN names the DNS record
    clients use: for region promotion that *is* the global endpoint.)
    """
    return {"db": targets.db, "global_db": targets.global_db or targets.db, "app": targets.app}


def stability_window(interval_s: float) -> float:
    """Green for this long after the first success counts as restored (10 intervals, ≥ 1 s)."""
    return max(1.0, 10 * interval_s)


def deadline_for(interval_s: float) -> float:
    """How long one attempt may take before it counts as failed (5 intervals, ≥ 1 s)."""
    return max(1.0, 5 * interval_s)


def build_observer(
    targets: ProbeTargets, scenario_kind: str | None, run_id: str
) -> ScenarioObserver:
    """The observer for one scenario; a marks-only observer if nothing can be probed."""
    plan = PLANS.get(scenario_kind or "", DEFAULT_PLAN)
    endpoints = _endpoints(targets)
    usable = [p for p in plan if endpoints.get(p.endpoint)]
    if not usable:
        return MarksObserver()
    writer = f"{run_id}/{scenario_kind or 'scenario'}/{secrets.token_hex(3)}"
    return ProbeObserver(targets, scenario_kind, usable, Ledger(writer))


class ProbeObserver:
    """Probes a scenario from the outside; computes RTO/RPO when stopped."""

    def __init__(
        self,
        targets: ProbeTargets,
        scenario_kind: str | None,
        plan: list[ProbePlan],
        ledger: Ledger,
    ) -> None:
        self.targets = targets
        self.kind = scenario_kind
        self.interval_s = targets.interval_s
        self.deadline_s = deadline_for(targets.interval_s)
        self.stability_s = stability_window(targets.interval_s)
        self.ledger = ledger
        self.marks: dict[str, float] = {}
        self.loops: list[ProbeLoop] = []
        self.survivor: tuple[str, str] | None = None  # (what, dsn) holding surviving rows
        self.notes: dict[str, Any] = {}
        self.status_sink: Callable[[str], None] | None = None  # set by the engine
        self.started_at: float | None = None
        self._heartbeat: HeartbeatProbe | None = None
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._status_thread: threading.Thread | None = None
        self.clone = False  # isolated mode: recovery observed on a promoted clone
        endpoints = _endpoints(targets)
        for p in plan:
            target = endpoints[p.endpoint]
            assert target is not None
            name = f"{p.kind}@{p.endpoint}"
            probe: Probe
            if p.kind == "sql":
                probe = HeartbeatProbe(name, target, self.deadline_s, ledger)
                self._heartbeat = probe
                if self.survivor is None:
                    self.survivor = (p.endpoint, target)
            else:
                probe = PROBES.get(p.kind)(name, target, self.deadline_s)
            self.loops.append(ProbeLoop(probe, self.interval_s, self.deadline_s, p.service))

    # ---- the ScenarioObserver protocol ----------------------------------------------
    def start(self) -> None:
        self.started_at = time.time()
        if self._heartbeat is not None:
            try:
                self._heartbeat.ensure_table()
            except ProbeFailed as exc:  # probes will show it; the run must go on
                self.notes["heartbeat_table"] = f"could not create: {exc}"
        for loop in self.loops:
            loop.start()
        self._warm_up()
        self._status_thread = threading.Thread(
            target=self._status_loop, daemon=True, name="probe-status"
        )
        self._status_thread.start()

    def _warm_up(self, limit_s: float = 3.0) -> None:
        """Return once there is a baseline: a few acknowledged heartbeats, a sample per probe.

        Without it a fault injected right after start (a DROP TABLE takes milliseconds)
        would leave RPO measured against an empty ledger: 0, but proving nothing.
        """
        end = time.time() + max(limit_s, 3 * self.deadline_s)
        while time.time() < end:
            beats_ok = self._heartbeat is None or len(self.ledger) >= WARM_UP_ACKS
            if beats_ok and all(lp.last() is not None for lp in self.loops):
                return
            time.sleep(self.interval_s / 4)
        self.notes["warm_up"] = "no steady baseline before the first step"

    def mark(self, name: str, at: datetime) -> None:
        with self._lock:
            self.marks.setdefault(name, to_epoch(at))

    def observe_step(self, action: str, args: dict[str, Any], output: Any) -> None:
        out = output if isinstance(output, dict) else {}
        dsn = out.get("dsn")
        if action == "db.restore" and dsn:
            self.survivor = ("restored instance", str(dsn))
            self.notes["restored_to"] = out.get("restored_to")
            loop = ProbeLoop(
                PROBES.get("dataset")("dataset@restored", str(dsn), self.deadline_s),
                self.interval_s,
                self.deadline_s,
                service=True,
            )
            loop.start()
            with self._lock:
                self.loops.append(loop)
        elif action == "db.promote_replica" and dsn and out.get("isolated"):
            self._follow_clone(str(dsn), out.get("instance"))
        elif action == "db.promote_replica" and dsn:
            self.survivor = ("promoted replica", str(dsn))
        elif action == "dns.point" and self._stands_in_for_record():
            assert self.survivor is not None
            self._follow_record(self.survivor[1])
        elif (
            action == "dns.point"
            and dsn
            and (self.survivor or ("", ""))[0] not in ("promoted replica", "promoted clone")
        ):
            self.survivor = ("dns target", str(dsn))
        elif action == "db.failover":
            self.notes["failover"] = {k: out.get(k) for k in ("old_primary", "new_primary")}

    def _stands_in_for_record(self) -> bool:
        """The global probe is an instance's (``follow_record``) and the record has
        just been pointed at the promoted replica."""
        return self.targets.follow_record and (self.survivor or ("", ""))[0] == "promoted replica"

    def _follow_record(self, dsn: str) -> None:
        """Clients of the record now reach the promoted replica: a SQL write+read probe
        at its endpoint decides RTO from here (same ledger: RPO counts every
        acknowledged write); the primary instance's probes keep running as context."""
        self.notes["global_db_followed"] = (
            "the DNS record now names the promoted replica: the global probe follows it "
            "to the replica's endpoint (the probe DSN names the primary instance)"
        )
        self._take_over(HeartbeatProbe("sql@promoted", dsn, self.deadline_s, self.ledger))

    def _take_over(self, probe: Probe) -> None:
        """From now on ``probe`` alone decides RTO; the others keep running as context."""
        loop = ProbeLoop(probe, self.interval_s, self.deadline_s, service=True)
        loop.start()
        with self._lock:
            for lp in self.loops:
                lp.service = False
            self.loops.append(loop)

    def _follow_clone(self, dsn: str, instance: Any) -> None:
        """Isolated mode: recovery happens on a promoted clone, production is untouched.

        The production probes keep running (their series show production stayed up)
        but no longer decide RTO: a SQL write+read probe on the clone does, with its own
        writer so the clone's writes never mix with the production ledger. RPO compares
        the production ledger up to the simulated disaster with the rows on the clone.
        """
        self.survivor = ("promoted clone", dsn)
        self.clone = True
        self.notes["isolated_clone"] = instance
        self._take_over(
            HeartbeatProbe("sql@clone", dsn, self.deadline_s, Ledger(f"{self.ledger.writer}/clone"))
        )

    @property
    def rpo_from_disaster(self) -> bool:
        """RPO is measured from the disaster mark (restores, isolated clones)."""
        return self.kind in RESTORE_KINDS or self.clone

    def wait_until(
        self, condition: str, timeout_s: float, should_abort: Callable[[], bool]
    ) -> datetime:
        from orchestrator.errors import StepFailed

        if condition != "service_restored":
            raise StepFailed(
                f"the probes cannot tell when {condition!r} holds",
                "use `until: service_restored` or a fixed `duration` wait",
            )
        called = time.time()
        end = called + timeout_s
        while time.time() < end:
            if should_abort():
                raise StepFailed("aborted while waiting for the service")
            restored = self._restoration(require_since=called)
            if restored is not None:
                return to_datetime(restored)
            time.sleep(self.interval_s / 2)
        raise StepFailed(
            f"service not restored within {timeout_s:g}s (as seen by the probes)",
            "see the probe series in `drill runs show`; recovery may be stuck",
        )

    def stop(self) -> ObservationResult:
        self._stopped.set()
        with self._lock:
            loops = list(self.loops)
        for loop in loops:  # all at once: one deadline of draining, not one per probe
            loop.halt()
        for loop in loops:
            loop.stop()
        survivors: Survivors | None = None
        if self.kind in RESTORE_KINDS and (self.survivor or ("", ""))[0] != "restored instance":
            survivors = Survivors(None, "no restored instance was reported by db.restore")
        elif self._heartbeat is not None and self.survivor is not None:
            survivors = SurvivorCheck(
                self.ledger.writer, self.survivor[1], self.deadline_s
            ).surviving()
        return build_result(self, loops, survivors)

    # ---- helpers -------------------------------------------------------------------
    def fault_at(self) -> float:
        with self._lock:
            return self.marks.get("fault_injected", self.started_at or time.time())

    def _restoration(self, require_since: float) -> float | None:
        from orchestrator.measure.compute import combine, restoration

        fault = self.fault_at()
        with self._lock:
            service = [lp for lp in self.loops if lp.service]
        if self.kind in RESTORE_KINDS and not any(lp.name.endswith("@restored") for lp in service):
            return None
        if self.clone and not any(lp.name.endswith("@clone") for lp in service):
            return None
        parts = [
            restoration(lp.settled(), fault, self.stability_s, lp.started_at, self.interval_s)
            for lp in service
        ]
        result = combine(parts)
        if result.restored_at is None:
            return None
        if result.no_outage_seen and time.time() - require_since < self.stability_s:
            return None  # nothing failed yet: watch a full window after the fault step
        return result.restored_at

    def _status_loop(self) -> None:
        while not self._stopped.wait(0.5):
            sink = self.status_sink
            if sink is None:
                continue
            parts = []
            with self._lock:
                loops = list(self.loops)
            for lp in loops:
                last = lp.last()
                if last is None:
                    continue
                icon = "✔" if last.ok else "✘"
                parts.append(f"{lp.name} {icon} {last.latency_s * 1000:.0f}ms")
            parts.append(f"{len(self.ledger)} writes acked")
            try:
                sink("probes: " + " · ".join(parts))
            except Exception:  # a display glitch must never stop measuring
                continue
