"""The run document (Contract, DESIGN section 5), built from the evidence store.

``drill run --json`` and ``drill runs show --json`` both print this, read back from
the database, so they cannot disagree.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from orchestrator.errors import NotFoundError, shown
from orchestrator.evidence.records import (
    Approval,
    Finding,
    Measurement,
    Run,
    ScenarioRun,
    StepRun,
    TimelineEvent,
)
from orchestrator.evidence.writer import EvidenceDB


def iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def scenario_doc(sc: ScenarioRun) -> dict[str, Any]:
    """A scenario of the run document; ``met`` null (with ``met_reason``) when its
    objectives were not judged (aborted, drill died, skipped): never false for that."""
    from orchestrator.engine.objectives import dry_run, objectives_from, verdict_of

    met, why = verdict_of(sc.status, sc.met, sc.notes)
    doc: dict[str, Any] = {
        "id": sc.scenario_id,
        "status": sc.status,
        "rto_s": sc.rto_s,
        "rpo_s": sc.rpo_s,
        "lost_writes": sc.lost_writes,
        "objectives": {"rto_s": sc.objective_rto_s, "rpo_s": sc.objective_rpo_s},
        "met": met,
        "fault_injected_at": iso(sc.fault_injected_at),
        "service_restored_at": iso(sc.service_restored_at),
    }
    sources = objectives_from(sc.notes)
    if sources:  # which definition set each objective (absent in rows from before)
        doc["objectives_from"] = sources
    if why is not None:
        doc["met_reason"] = why
    skipped = (sc.notes or {}).get("skipped") if isinstance(sc.notes, dict) else None
    if skipped:  # e.g. a live-only scenario in an isolated run
        doc["skipped"] = skipped
    dry = dry_run(sc.notes)
    if dry:  # `--dry actions`: nothing was injected (met null, met_reason says so)
        doc["dry"] = dry
    return doc


def run_summary(run: Run, scenarios: list[ScenarioRun]) -> dict[str, Any]:
    """`drill run --json`'s document of ``run`` and its scenario rows: from the store
    (:func:`run_document`), or from the engine's memory when the store failed."""
    return {
        "run_id": run.id,
        "drill": run.target,
        "kind": run.target_kind,
        "env": run.env,
        "mode": run.mode,
        "status": run.status,
        "trigger": run.trigger,
        "who": run.who,
        "started_at": iso(run.started_at),
        "ended_at": iso(run.ended_at),
        "exit_code": run.exit_code,
        "error": run.error,
        "scenarios": [scenario_doc(sc) for sc in scenarios],
    }


def run_document(db: EvidenceDB, run_id: str, detail: bool = False) -> dict[str, Any]:
    run: Run | None = db.get(Run, run_id)
    if run is None:
        raise NotFoundError(f"no run {shown(run_id)}", "`drill runs list` shows run ids")
    scenarios: list[ScenarioRun] = db.records(ScenarioRun, "run_id = ?", (run_id,), "seq")
    doc = run_summary(run, scenarios)
    if not detail:
        return doc
    # per scenario id: why a number is missing or how it was taken (e.g. RPO not measured
    # with `probes: none`, the RTO's method), the reasons DESIGN 4 says are reported;
    # beside `scenarios`, which stay exactly those of `drill run --json`
    doc["scenario_notes"] = {sc.scenario_id: sc.notes or {} for sc in scenarios}
    by_sc = {sc.id: sc.scenario_id for sc in scenarios}
    steps: list[StepRun] = db.records(StepRun, "run_id = ?", (run_id,), "seq")
    doc["steps"] = [
        {
            "scenario": by_sc.get(st.scenario_run_id),
            "seq": st.seq,
            "phase": st.phase,
            "name": st.name,
            "kind": st.kind,
            "action": st.action,
            "args": st.args,
            "status": st.status,
            "started_at": iso(st.started_at),
            "ended_at": iso(st.ended_at),
            "output": st.output,
            "error": st.error,
            "rollback_of": st.rollback_of,
        }
        for st in steps
    ]
    measurements: list[Measurement] = db.records(Measurement, "run_id = ?", (run_id,), "id")
    doc["measurements"] = [
        {
            "scenario": by_sc.get(m.scenario_run_id),
            "name": m.name,
            "value": m.value,
            "unit": m.unit,
            "method": m.method,
            "interval_s": m.interval_s,
            "error_bound_s": m.error_bound_s,
            "objective": m.objective,
            "met": m.met,
            "details": m.details,
        }
        for m in measurements
    ]
    findings: list[Finding] = db.records(Finding, "run_id = ?", (run_id,), "id")
    doc["findings"] = [
        {
            "id": f.id,
            "scenario": by_sc.get(f.scenario_run_id),
            "kind": f.kind,
            "severity": f.severity,
            "title": f.title,
            "status": f.status,
            "corrective_action": f.corrective_action,
            "owner": f.owner,
            "due_date": f.due_date,
        }
        for f in findings
    ]
    approvals: list[Approval] = db.records(Approval, "run_id = ?", (run_id,), "id")
    doc["approvals"] = [
        {"env": a.env, "approved_by": a.approved_by, "at": iso(a.at), "reason": a.reason}
        for a in approvals
    ]
    events: list[TimelineEvent] = db.records(TimelineEvent, "run_id = ?", (run_id,), "at, id")
    doc["timeline"] = [
        {
            "at": iso(e.at),
            "kind": e.kind,
            "message": e.message,
            "scenario": by_sc.get(e.scenario_run_id),
        }
        for e in events
    ]
    return doc


def _run_filter(
    db: EvidenceDB,
    env: str | None,
    target: str | None,
    status: str | None,
    since: datetime | None,
    until: datetime | None,
) -> tuple[str, list[Any]]:
    where, params = ["1 = 1"], []
    for column, value in (("env", env), ("target", target), ("status", status)):
        if value:
            where.append(f"{column} = ?")
            params.append(value)
    if since is not None:
        where.append("started_at >= ?")
        params.append(db.param(since))
    if until is not None:
        where.append("started_at < ?")
        params.append(db.param(until))
    return " AND ".join(where), params


def count_runs(
    db: EvidenceDB,
    env: str | None = None,
    target: str | None = None,
    status: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> int:
    """How many runs :func:`list_runs` pages through (for the dashboard's pager)."""
    where, params = _run_filter(db, env, target, status, since, until)
    return int(db.query(f"SELECT COUNT(*) FROM run WHERE {where}", params)[0][0])


def list_runs(
    db: EvidenceDB,
    limit: int = 50,
    env: str | None = None,
    target: str | None = None,
    status: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """`drill runs list --json`: runs newest first, filtered, one page of ``limit``."""
    where, params = _run_filter(db, env, target, status, since, until)
    page = f"started_at DESC LIMIT {int(limit)} OFFSET {max(int(offset), 0)}"
    runs: list[Run] = db.records(Run, where, params, page)
    dry, skipped = untested(db, [r.id for r in runs])
    return [
        {
            "run_id": r.id,
            "drill": r.target,
            "kind": r.target_kind,
            "env": r.env,
            "mode": r.mode,
            "status": r.status,
            "dry_run": r.id in dry,
            "skipped_scenarios": skipped.get(r.id, 0),  # not run (live-only, isolated mode)
            "trigger": r.trigger,
            "who": r.who,
            "started_at": iso(r.started_at),
            "ended_at": iso(r.ended_at),
            "exit_code": r.exit_code,
        }
        for r in runs
    ]


def untested(db: EvidenceDB, run_ids: list[str]) -> tuple[set[str], dict[str, int]]:
    """Which of ``run_ids`` tested nothing (an experiment run with ``--dry actions``,
    ``activities`` or ``probes``), and how many scenarios each skipped (live-only ones in
    isolated mode: not run): `drill runs list` and `status` said only "succeeded" of
    them, where `runs show` and the reports say "succeeded (dry run)", "2 skipped"."""
    from orchestrator.engine.objectives import DRY_NOT_JUDGED, dry_run

    dry: set[str] = set()
    skipped: dict[str, int] = {}
    for i in range(0, len(run_ids), 900):  # bound parameters per statement
        part = run_ids[i : i + 900]
        marks = ", ".join("?" * len(part))
        for sc in db.records(ScenarioRun, f"run_id IN ({marks})", part):
            if dry_run(sc.notes) in DRY_NOT_JUDGED:
                dry.add(sc.run_id)
            if isinstance(sc.notes, dict) and sc.notes.get("skipped"):
                skipped[sc.run_id] = skipped.get(sc.run_id, 0) + 1
    return dry, skipped
