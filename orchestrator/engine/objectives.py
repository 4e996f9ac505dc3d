"""Compare a scenario's measurements with its objectives; say what to do on a miss."""

from __future__ import annotations

from dataclasses import dataclass, field

from orchestrator.durations import format_duration
from orchestrator.evidence.enums import RunStatus
from orchestrator.evidence.records import Run, ScenarioRun


@dataclass
class Miss:
    """An objective not met: it becomes an `objective_missed` finding."""

    title: str
    detail: str
    corrective_action: str


@dataclass
class Verdict:
    """Whether a scenario met its objectives, and each one it missed."""

    met: bool | None
    misses: list[Miss] = field(default_factory=list)


#: a scenario that did not run to its end was not judged: ``met`` is null, never
#: false, so no dashboard, metric, report or notification calls it a missed objective
NOT_JUDGED = {
    RunStatus.RUNNING.value: "the scenario has not finished",
    RunStatus.ABORTED.value: "the scenario was aborted before its objectives could be judged",
    RunStatus.CRASHED.value: "drill died during the scenario; its objectives were not judged",
    RunStatus.ROLLBACK_FAILED.value: "the scenario did not run to its end (a rollback "
    "failed); its objectives were not judged",
}


#: a scenario without an RTO/RPO objective whose steady state held (``met`` true: nothing
#: to miss) but whose rollback failed: its fault may still be in place, so no summary or
#: report calls it "passed"
ROLLBACK_FAILED_HELD = (
    "no RTO/RPO objective: its steps or steady state held, but a rollback failed and "
    "the environment may be degraded"
)


#: the timeline event naming a run's scenarios that never started (it was aborted, or
#: stopped after a failure): the reports and `runs show` print its message
NOT_STARTED = "run.not_started"


#: a ``--dry`` run that skipped the actions (no fault was injected) or the probes (the
#: steady state was not checked) tested nothing: not judged, so no control takes it for a
#: DR test (`--dry pause` only skips pauses: that run is judged as any other)
DRY_NOT_JUDGED = {
    "actions": "dry run (--dry actions): no action ran, no fault was injected",
    "activities": "dry run (--dry activities): no action or probe ran, no fault was injected",
    "probes": "dry run (--dry probes): no probe ran, the steady state was not checked",
}


def dry_run(notes: object) -> str | None:
    """The ``--dry`` mode a stored scenario ran in (``notes.dry``), if any."""
    dry = notes.get("dry") if isinstance(notes, dict) else None
    return dry if isinstance(dry, str) else None


def verdict_of(status: str, met: bool | None, notes: object) -> tuple[bool | None, str | None]:
    """What a stored scenario says about its objectives: (met, why it is null).

    The one reading rule for every view (run documents, status, reports, metrics,
    control mappings). Rows written before aborted scenarios were recorded as not
    judged stored ``met`` false for them: they read as not judged too."""
    skipped = notes.get("skipped") if isinstance(notes, dict) else None
    if skipped:
        return None, f"skipped: {skipped}"
    dry = DRY_NOT_JUDGED.get(dry_run(notes) or "")
    if dry is not None:
        return None, dry
    if status in NOT_JUDGED and status != RunStatus.ROLLBACK_FAILED.value:
        return None, NOT_JUDGED[status]
    if met is None:
        return None, NOT_JUDGED.get(status, "no verdict was recorded")
    return met, None


def objectives_from(notes: object) -> dict[str, str]:
    """Where a stored scenario's objectives came from, as recorded when it started."""
    found = notes.get("objectives_from") if isinstance(notes, dict) else None
    return dict(found) if isinstance(found, dict) else {}


def _set_by(row: ScenarioRun, key: str) -> str:
    """`` (set by the runbook's own objectives)`` for a finding's detail; '' if unknown."""
    from orchestrator.definitions.kinds import OBJECTIVE_SOURCES

    source = objectives_from(row.notes).get(key)
    return f" (set by {OBJECTIVE_SOURCES[source]})" if source in OBJECTIVE_SOURCES else ""


def judge(row: ScenarioRun, status: RunStatus) -> Verdict:
    """``met`` is True only if the scenario ran and every measurable objective held.

    ``status`` is how the scenario itself ended (before a failed rollback, which does
    not unmeasure what was measured). An objective that could not be measured (no probe
    data) is a miss: an auditor cannot accept "unknown" as "met". A failed scenario (a
    step failed, an experiment deviated) is a failed test: ``met`` false. One that did
    not run to its end (aborted, drill died) was not judged: ``met`` None.
    """
    if status.value in NOT_JUDGED or dry_run(row.notes) in DRY_NOT_JUDGED:
        return Verdict(None)
    misses: list[Miss] = []
    if row.objective_rto_s is not None and status is RunStatus.SUCCEEDED:
        if row.rto_s is None and row.fault_injected_at is None:
            pass  # no fault was injected (no `mark: fault_injected`): nothing to recover from
        elif row.rto_s is None:
            misses.append(
                Miss(
                    "RTO not measured",
                    "no service-restored time was observed, so the RTO objective "
                    f"({format_duration(row.objective_rto_s)}) cannot be shown to be met",
                    "make sure the scenario's probes can reach the service (probes: in drill.yaml) "
                    "and that the runbook marks fault_injected",
                )
            )
        elif row.rto_s > row.objective_rto_s:
            misses.append(
                Miss(
                    f"RTO {format_duration(row.rto_s)} exceeds objective "
                    f"{format_duration(row.objective_rto_s)}",
                    f"service was restored {row.rto_s:.3f}s after the fault was injected; "
                    f"objective is {format_duration(row.objective_rto_s)}{_set_by(row, 'rto')}",
                    "shorten detection and failover: tune health-check intervals and failover "
                    "automation, pre-warm the standby, rehearse the manual steps; then re-run",
                )
            )
    if (
        row.objective_rpo_s is not None
        and status is RunStatus.SUCCEEDED
        and row.rpo_s is not None
        and row.rpo_s > row.objective_rpo_s
    ):
        misses.append(
            Miss(
                f"RPO {format_duration(row.rpo_s)} exceeds objective "
                f"{format_duration(row.objective_rpo_s)}",
                f"{row.lost_writes or 0} acknowledged write(s) lost; newest surviving write "
                f"was {row.rpo_s:.3f}s older than the newest acknowledged one; objective is "
                f"{format_duration(row.objective_rpo_s)}{_set_by(row, 'rpo')}",
                "reduce replication lag (instance class, network, synchronous replication) "
                "or take backups / ship WAL more often; then re-run",
            )
        )
    if status is not RunStatus.SUCCEEDED:
        return Verdict(False, misses)
    return Verdict(not misses, misses)


def rerun_command(run: Run, scenario_id: str) -> str:
    """The command that runs one scenario of ``run`` again, where it ran (``--env``; the
    default environment is another one) and as it ran (``--mode``)."""
    import shlex

    words = ["drill", "run", run.target, "--env", run.env]
    if run.mode != "live":
        words += ["--mode", run.mode]
    if run.target_kind == "drill":
        words += ["--only", scenario_id]
    return shlex.join(words)
