"""Evidence kinds: named collectors that find, in a report's data, what backs a control.

A framework mapping (YAML) names kinds; each kind is one function registered here
under its name. A kind is *present* when its collector returns at least one
reference and reports no gap (e.g. ``findings_tracked`` fails if a finding has no
corrective action, or is open without an owner).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from orchestrator.durations import format_duration
from orchestrator.registry import Registry
from orchestrator.report.model import (
    EvidenceRef,
    ReportData,
    RunView,
    ScenarioView,
    StepView,
    safe_name,
)

FAILOVER_ACTIONS = {
    "db.failover",
    "db.promote_replica",
    "az.isolate",
    "region.isolate",
    "dns.point",
}
Activities = dict[str, Callable[[dict[str, bool | int | float | str]], bool]]
#: activities of other Chaos Toolkit extensions that exercise a failover when their
#: arguments say so: chaosaws's RDS reboot only with ``force_failover`` (without it the
#: primary restarts in place, no failover); an Aurora cluster failover always
FAILOVER_ACTIVITIES: Activities = {
    "chaosaws.rds.actions.reboot_db_instance": lambda a: a.get("force_failover") is True,
    "chaosaws.rds.actions.failover_db_cluster": lambda a: True,
}
RESTORE_ACTIONS = {"db.restore"}
FINISHED = {"succeeded", "failed", "aborted", "crashed", "rollback_failed"}


@dataclass(frozen=True)
class Collected:
    refs: list[EvidenceRef]
    gap: str | None = None  # why the kind is not satisfied despite refs

    @property
    def present(self) -> bool:
        return bool(self.refs) and self.gap is None


@dataclass(frozen=True)
class EvidenceKind:
    name: str
    description: str
    collect: Callable[[ReportData], Collected]


KINDS: Registry[EvidenceKind] = Registry("evidence kind")


def kind(
    name: str, description: str
) -> Callable[[Callable[[ReportData], Collected]], Callable[[ReportData], Collected]]:
    def wrap(fn: Callable[[ReportData], Collected]) -> Callable[[ReportData], Collected]:
        KINDS.register(name, EvidenceKind(name, description, fn))
        return fn

    return wrap


def _run_ref(run: RunView) -> EvidenceRef:
    return EvidenceRef(
        ref=f"run:{run.id}",
        href=f"runs.json#{run.id}",
        description=f"{run.target_kind} {run.target} on {run.env}, "
        f"{run.started_at:%Y-%m-%d %H:%M} UTC, {run.trigger} by {run.who}: {run.status_shown}",
    )


def _scenario_refs(found: Iterable[tuple[RunView, ScenarioView, str]]) -> Collected:
    """(run, scenario, what it shows) as evidence references, each scenario named with its
    run (the same scenario runs every quarter, and in more than one drill: ``az-loss:
    failover exercised`` did not say which). The run's part is made once per run, not per
    reference (a quarter's export makes ~20,000 of those)."""
    refs: list[EvidenceRef] = []
    last: RunView | None = None
    label = ""
    for run, sc, what in found:
        if run is not last:  # str(): "2026-12-01 23:52…", as strftime but at C speed
            last, label = run, f"{run.target} on {run.env}, {str(run.started_at)[:16]} UTC"
        refs.append(
            EvidenceRef(
                ref=f"run:{run.id}/scenario:{sc.scenario_id}",
                href=f"runs.json#{run.id}",
                description=f"{sc.scenario_id} ({label}, run {run.id}): {what}",
            )
        )
    return Collected(refs)


#: An experiment's activity that calls drill's Chaos Toolkit extension is recorded by its
#: module and function (``orchestrator.chaos.db.failover``): that is the action
#: ``db.failover``, dispatched to the environment's provider like a runbook's step.
_EXTENSION = "orchestrator.chaos."


def _action(step: StepView) -> str | None:
    name = step.action
    return name[len(_EXTENSION) :] if name and name.startswith(_EXTENSION) else name


def _exercises(step: StepView, actions: set[str], activities: Activities) -> bool:
    """Whether a step that succeeded ran one of ``actions``, or one of ``activities``
    with arguments that make it one (a step recorded ``skipped``, e.g. an activity of a
    ``--dry`` run, ran nothing)."""
    if step.status != "succeeded":
        return False
    name = _action(step) or ""
    when = activities.get(name)
    return name in actions or (when is not None and when(step.args))


def _scenarios_with_actions(
    run: RunView, actions: set[str], activities: Activities
) -> set[str | None]:
    return {st.scenario for st in run.steps if _exercises(st, actions, activities)}


@kind(
    "dr_test_executed",
    "a drill, runbook or experiment was executed and judged in the period, passed or "
    "failed (an aborted, crashed, skipped or dry run is not counted)",
)
def _executed(data: ReportData) -> Collected:
    """A run whose scenarios were judged (met or missed): an aborted run, one drill died
    in, one whose scenarios were all skipped, or a ``--dry actions`` run (no fault was
    injected) tested nothing, whatever its status. A failed run was executed: a failed
    test is a test (the description said "ran to completion", which it had not)."""
    return Collected(
        [
            _run_ref(r)
            for r in data.runs
            if r.status in FINISHED and any(sc.met is not None for sc in r.scenarios)
        ]
    )


@kind(
    "rto_measured",
    "recovery time (fault to service restored, as clients saw it) measured by probes",
)
def _rto(data: ReportData) -> Collected:
    """Scenarios with a measured RTO that were judged: an aborted or crashed scenario's
    numbers stop at the abort (``RTO 0.000s``), no recovery was shown (`met` null)."""
    return _scenario_refs(
        (
            r,
            sc,
            f"RTO {sc.rto_s:.3f}s, objective {_obj(sc.objective_rto_s)}; objectives {sc.verdict}",
        )
        for r in data.runs
        for sc in r.scenarios
        if sc.rto_s is not None and sc.met is not None
    )


def _obj(value: float | None) -> str:
    """An objective as every report writes it (``5m 00s``, not ``300s``)."""
    return "none" if value is None else format_duration(value)


@kind(
    "rpo_measured",
    "recovery point (acknowledged writes lost) measured against a ledger of test writes",
)
def _rpo(data: ReportData) -> Collected:
    """Scenarios with a measured RPO that were judged (as :func:`_rto`)."""
    return _scenario_refs(
        (
            r,
            sc,
            f"RPO {sc.rpo_s:.3f}s, {sc.lost_writes or 0} acknowledged write(s) lost, "
            f"objective {_obj(sc.objective_rpo_s)}; objectives {sc.verdict}",
        )
        for r in data.runs
        for sc in r.scenarios
        if sc.rpo_s is not None and sc.met is not None
    )


@kind(
    "objectives_met",
    "the latest judged run of each scenario met its RTO/RPO objectives",
)
def _met(data: ReportData) -> Collected:
    """Scenarios that met their objectives, with a gap while any scenario's latest judged
    run in the period missed them. One met scenario used to satisfy the control beside a
    missed one (ISO A.5.30 "satisfied" by a quarter whose region promotion took too
    long); a miss that a later run of the same scenario met is what a drill is for (found,
    fixed, shown fixed), so only the latest verdict of each scenario counts."""
    judged = [
        (r, sc)
        for r in sorted(data.runs, key=lambda r: r.started_at)
        for sc in r.scenarios
        if sc.met is not None and sc.has_objective
    ]
    latest = {(r.target, r.env, sc.scenario_id): (r, sc) for r, sc in judged}
    missed = [
        f"{sc.scenario_id} ({r.target} on {r.env}, run {r.id}): {_missed(sc)}"
        for r, sc in latest.values()
        if not sc.met
    ]
    found = _scenario_refs((r, sc, "objectives met") for r, sc in judged if sc.met)
    if not missed:
        return found
    return Collected(
        found.refs,
        gap=f"objectives not met in the latest run of {len(missed)} scenario(s): "
        + "; ".join(missed[:10])
        + ("" if len(missed) <= 10 else f"; and {len(missed) - 10} more"),
    )


def _missed(sc: ScenarioView) -> str:
    """What a missed scenario measured against its objectives (``RTO 5.2s > 1ms``)."""
    said = [
        f"{name} {value:.3f}s > {_obj(objective)}"
        for name, value, objective in (
            ("RTO", sc.rto_s, sc.objective_rto_s),
            ("RPO", sc.rpo_s, sc.objective_rpo_s),
        )
        if value is not None and objective is not None and value > objective
    ]
    return ", ".join(said) or f"not met (scenario {sc.status})"


@kind("failover_tested", "a failover, promotion or zone/region isolation was exercised")
def _failover(data: ReportData) -> Collected:
    return _exercised(data, FAILOVER_ACTIONS, "failover exercised", FAILOVER_ACTIVITIES)


@kind("backup_restore_tested", "a backup or point-in-time restore was exercised")
def _restore(data: ReportData) -> Collected:
    return _exercised(data, RESTORE_ACTIONS, "restore exercised", {})


def _exercised(data: ReportData, actions: set[str], what: str, activities: Activities) -> Collected:
    """Scenarios in which one of ``actions`` (or ``activities``) ran, as evidence
    references. The action succeeded, so it was exercised even when its scenario then
    failed or was aborted; the reference says how the scenario ended, so that "failover
    exercised" beside an aborted run is not read as a recovery shown."""
    return _scenario_refs(
        (r, sc, what if sc.status == "succeeded" else f"{what} (the scenario {sc.status})")
        for r in data.runs
        for hit in (_scenarios_with_actions(r, actions, activities),)
        for sc in r.scenarios
        if sc.scenario_id in hit
    )


@kind("findings_tracked", "every finding has a corrective action and an owner or resolution")
def _findings(data: ReportData) -> Collected:
    if not data.findings:
        return Collected(
            [
                EvidenceRef(
                    ref="findings:none",
                    href="runs.json",
                    description="no findings were raised in the period",
                )
            ]
        )
    # a blank owner or action is none (an owner of spaces counted as one)
    unowned = [f for f in data.findings if f.status != "closed" and not (f.owner or "").strip()]
    no_action = [f for f in data.findings if not (f.corrective_action or "").strip()]
    gaps = [
        f"{len(found)} finding(s) {what}: " + ", ".join(f"#{f.id}" for f in found[:10])
        for found, what in (
            (unowned, "open without an owner"),
            (no_action, "without a corrective action"),
        )
        if found
    ]
    gap = "; ".join(gaps) or None
    return Collected(
        [
            EvidenceRef(
                ref=f"finding:{f.id}",
                href=f"runs.json#finding-{f.id}",
                description=f"#{f.id} {f.title} — {f.status}"
                + (f", owner {f.owner}" if f.owner else "")
                + _due(f.status, f.due_date, data),
            )
            for f in data.findings
        ],
        gap,
    )


def _due(status: str, due: str | None, data: ReportData) -> str:
    """When an open finding's corrective action is due, and whether that day had passed
    when the bundle was made: 'open, owner bob' of an action two months late read as on
    track."""
    if status == "closed" or not due:
        return ""
    late = due < f"{data.generated_at:%Y-%m-%d}"  # (ISO dates: in order as text)
    return f", due {due}" + (", overdue when exported" if late else "")


@kind(
    "run_journal",
    "every run's journal (its events, its run log; for experiments also Chaos Toolkit's "
    "journal) is included",
)
def _journal(data: ReportData) -> Collected:
    return Collected(
        [
            EvidenceRef(
                ref=f"journal:{r.id}",
                href=f"journals/{safe_name(r.id)}.json",
                description=f"run {r.id} ({r.target}, {r.status_shown}): its journal events"
                + "".join(f", {a.bundle_path}" for a in r.artifacts),
            )
            for r in data.runs
        ]
    )


@kind(
    "evidence_integrity",
    "the evidence journal (a hash chain: any changed, removed or reordered record shows) "
    "verified when the export was made",
)
def _integrity(data: ReportData) -> Collected:
    if not data.chain.get("verified"):
        return Collected([], "the evidence journal was not verified")
    head = str(data.chain.get("head_hash"))[:16]
    return Collected(
        [
            EvidenceRef(
                ref=f"chain:{data.chain.get('head_seq')}",
                href="manifest.json",
                description=f"journal of {data.chain.get('entries')} events verified, head {head}…",
            )
        ]
    )
