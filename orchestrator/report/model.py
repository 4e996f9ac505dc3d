"""What every renderer is given: a typed, read-only view of the evidence to report.

Renderers never query the database themselves; :mod:`orchestrator.evidence.export_data`
builds one :class:`ReportData` (for a period, or for a single run) and each output
format turns it into bytes. That is what keeps HTML, PDF, CSV, JSON and OSCAL
consistent with each other.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, computed_field, model_validator


class _View(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class StepView(_View):
    seq: int
    scenario: str | None = None
    phase: str
    name: str
    kind: str
    action: str | None = None
    status: str
    started_at: datetime | None = None
    ended_at: datetime | None = None
    error: str | None = None
    # its scalar arguments (an activity's ``force_failover: true``), what evidence kinds
    # read; documents and lists stay out of the view, and out of runs.json
    args: dict[str, bool | int | float | str] = Field(default_factory=dict, exclude=True)


class EventView(_View):
    at: datetime
    kind: str
    message: str
    scenario: str | None = None


class MeasurementView(_View):
    scenario: str | None = None
    name: str
    value: float | None = None
    unit: str = "s"
    method: str
    error_bound_s: float | None = None
    objective: float | None = None
    met: bool | None = None


class FindingView(_View):
    id: int
    run_id: str | None = None
    scenario: str | None = None
    kind: str
    severity: str
    title: str
    detail: str | None = None
    corrective_action: str | None = None
    status: str
    owner: str | None = None
    due_date: str | None = None
    resolution: str | None = None
    created_at: datetime
    closed_at: datetime | None = None
    drill: str | None = None
    env: str | None = None


class ArtifactView(_View):
    id: int
    run_id: str
    name: str
    media_type: str
    sha256: str
    size: int

    @computed_field  # type: ignore[prop-decorator]
    @property
    def bundle_path(self) -> str:
        """Where the content is in an export bundle (also in runs.json): plain names only,
        so no stored name (``journal-../../x.json``) makes a ``../`` path in the zip."""
        return f"journals/{safe_name(self.run_id)}/{self.id}-{safe_name(self.name)}"


def safe_name(text: str) -> str:
    """One harmless path component: letters, digits, ``.``, ``_``, ``-``; no leading dot."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", text).lstrip(".") or "_"


class EnvironmentView(_View):
    """An environment the exported runs ran on, as its record stood (DESIGN 8): whether
    it was protected (a run on it needed an approval) and its provider."""

    id: int
    name: str
    provider: str
    protected: bool
    created_at: datetime


class ApprovalView(_View):
    approved_by: str
    at: datetime
    reason: str


class ScenarioView(_View):
    id: int
    scenario_id: str
    ref: str
    kind: str
    status: str
    started_at: datetime
    ended_at: datetime | None = None
    fault_injected_at: datetime | None = None
    service_restored_at: datetime | None = None
    rto_s: float | None = None
    rpo_s: float | None = None
    lost_writes: int | None = None
    objective_rto_s: float | None = None
    objective_rpo_s: float | None = None
    met: bool | None = None  # None: not judged (aborted, drill died, skipped), never "missed"
    met_reason: str | None = None  # why ``met`` is None
    #: which definition set each objective ({"rto": "scenario", …}; empty: not recorded)
    objectives_from: dict[str, str] = Field(default_factory=dict)
    #: the ``--dry`` mode of an experiment run dry (``actions``: no fault was injected)
    dry: str | None = None
    #: why the scenario was not run (a live-only one in an isolated run); its stored
    #: ``status`` stays the engine's (``succeeded``: it failed nothing), never "tested"
    skipped: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _judged(cls, data: Any) -> Any:
        """``met`` as every view reads it (:func:`~orchestrator.engine.objectives.verdict_of`)."""
        if isinstance(data, dict) and "status" in data:
            from orchestrator.engine.objectives import dry_run, objectives_from, verdict_of

            data = dict(data)
            data["met"], data["met_reason"] = verdict_of(
                data["status"], data.get("met"), data.get("notes")
            )
            data["objectives_from"] = objectives_from(data.get("notes"))
            data["dry"] = dry_run(data.get("notes"))
            notes = data.get("notes")
            skipped = notes.get("skipped") if isinstance(notes, dict) else None
            data["skipped"] = skipped if isinstance(skipped, str) else None
        return data

    @property
    def status_shown(self) -> str:
        """The status as reports print it: ``skipped`` for a scenario that did not run
        (stored ``succeeded``, which read as tested beside the ones that ran)."""
        return "skipped" if self.skipped else self.status

    @property
    def untested_dry_run(self) -> bool:
        """A ``--dry`` run that tested nothing (no fault, or no steady-state check)."""
        from orchestrator.engine.objectives import DRY_NOT_JUDGED

        return self.dry in DRY_NOT_JUDGED

    @property
    def objectives_set_by(self) -> str:
        """Where the objectives came from, in words: "the drill's objectives for this
        scenario" (both), or each one's ("RTO: …; RPO: …"); '' if not recorded. The
        report printed the bare sources ("set by: RTO scenario, RPO scenario")."""
        from orchestrator.definitions.kinds import OBJECTIVE_SOURCES

        said = {k: OBJECTIVE_SOURCES.get(v, v) for k, v in self.objectives_from.items()}
        if len(set(said.values())) == 1 and len(said) > 1:
            return next(iter(said.values()))
        return "; ".join(f"{k.upper()}: {v}" for k, v in said.items())

    @property
    def has_objective(self) -> bool:
        return self.objective_rto_s is not None or self.objective_rpo_s is not None

    @property
    def rollback_failed_held(self) -> bool:
        """No objective to meet, its steady state held (``met`` true), but a rollback
        failed: its fault may still be in place, so no report shows it as a pass."""
        return not self.has_objective and bool(self.met) and self.status == "rollback_failed"

    @property
    def verdict_class(self) -> str:
        """The class (colour) of :attr:`verdict`'s cell: green only beside a pass."""
        if self.met is None:
            return "notjudged"
        if self.rollback_failed_held:
            return "rollback_failed"
        return "met" if self.met else "missed"

    @property
    def verdict(self) -> str:
        """The objectives' verdict in words, the same in every report. A scenario without
        an RTO/RPO objective (an experiment's) had nothing to meet: it passed or failed
        by its steps or steady state — and did not pass when a rollback failed."""
        if self.met is None:
            return f"not judged ({self.met_reason})"
        if self.rollback_failed_held:
            from orchestrator.engine.objectives import ROLLBACK_FAILED_HELD

            return f"rollback failed ({ROLLBACK_FAILED_HELD})"
        if not self.has_objective:
            return "no RTO/RPO objective; passed" if self.met else "no RTO/RPO objective; failed"
        return "met" if self.met else "not met"


class RunView(_View):
    id: str
    target: str
    target_kind: str
    env: str
    mode: str
    status: str
    trigger: str
    who: str
    started_at: datetime
    ended_at: datetime | None = None
    exit_code: int | None = None
    error: str | None = None
    git_commit: str | None = None
    approved_by: str | None = None
    definition_hashes: dict[str, str] | None = None
    scenarios: list[ScenarioView] = Field(default_factory=list)
    steps: list[StepView] = Field(default_factory=list)
    events: list[EventView] = Field(default_factory=list)
    measurements: list[MeasurementView] = Field(default_factory=list)
    findings: list[FindingView] = Field(default_factory=list)
    artifacts: list[ArtifactView] = Field(default_factory=list)
    approvals: list[ApprovalView] = Field(default_factory=list)

    @property
    def steps_ran(self) -> list[StepView]:
        """The steps in the order they ran (:func:`~orchestrator.views.as_ran`), as the
        timelines draw them: by number a rollback came above the fault it undoes."""
        from orchestrator.views import as_ran

        return as_ran(self.steps, lambda st: st.started_at)

    @property
    def dry_run(self) -> bool:
        """An experiment run with ``--dry actions`` (or ``activities``, ``probes``): it
        tested nothing, so every report says "dry run" beside its status."""
        return any(sc.untested_dry_run for sc in self.scenarios)

    @property
    def status_shown(self) -> str:
        """The status as reports print it: ``succeeded (dry run)`` for a dry run,
        ``succeeded; 2 of 4 scenarios skipped: not run`` for an isolated run that left
        live-only scenarios alone."""
        if self.dry_run:
            return f"{self.status} (dry run)"
        skipped = sum(sc.skipped is not None for sc in self.scenarios)
        if skipped:
            return f"{self.status}; {skipped} of {len(self.scenarios)} scenarios skipped: not run"
        return self.status

    @property
    def not_started(self) -> str | None:
        """``not started (the run ended before them): rds-failover, …``: the scenarios of
        an aborted (or stopped) run that have no record, which the reports said nothing of."""
        from orchestrator.engine.objectives import NOT_STARTED

        return next((e.message for e in self.events if e.kind == NOT_STARTED), None)

    @property
    def duration_s(self) -> float | None:
        return (self.ended_at - self.started_at).total_seconds() if self.ended_at else None

    def provenance(self) -> list[tuple[str, str]]:
        """(label, text) lines an auditor looks for under a run, in the HTML and the PDF
        alike: which version of the definitions ran and who approved it. An absent value
        is said, not left out: a missing line reads as an omission of the report."""
        import posixpath

        hashes = self.definition_hashes or {}
        return [
            (
                "Definitions",
                f"git commit {self.git_commit}"
                if self.git_commit
                else "no git commit recorded (the definitions were not in a git repository)",
            ),
            (
                "Definition sha256",
                ", ".join(
                    f"{posixpath.basename(path.replace(chr(92), '/'))} {digest[:16]}…"
                    for path, digest in sorted(hashes.items())
                )
                or "none recorded",
            ),
            (
                "Approvals",
                "; ".join(
                    f"{a.approved_by} at {a.at:%Y-%m-%d %H:%M:%S}Z ({a.reason})"
                    for a in self.approvals
                )
                or (f"approved by {self.approved_by}" if self.approved_by else "")
                or "none recorded (only a protected environment requires one)",
            ),
        ]


class EvidenceRef(_View):
    """One piece of evidence supporting a control: a run, scenario, finding or check."""

    ref: str
    description: str
    href: str


class ControlResult(_View):
    framework: str
    framework_title: str
    control_id: str
    oscal_id: str
    title: str
    description: str
    evidence_kinds: list[str]
    #: each evidence kind in words (``dr_test_executed``: "a drill, runbook or experiment
    #: was executed and judged in the period, …"): the reports show these, not bare names
    evidence_meaning: dict[str, str] = Field(default_factory=dict)
    satisfied: bool
    evidence: dict[str, list[EvidenceRef]]
    missing: list[str]


class ReportData(_View):
    title: str
    generated_at: datetime
    generated_by: str
    period_label: str
    period_start: datetime | None = None
    period_end: datetime | None = None  # exclusive
    env: str | None = None
    frameworks: list[str] = Field(default_factory=list)
    runs: list[RunView] = Field(default_factory=list)
    environments: list[EnvironmentView] = Field(default_factory=list)  # of ``runs``
    findings: list[FindingView] = Field(default_factory=list)
    controls: list[ControlResult] = Field(default_factory=list)
    chain: dict[str, Any] = Field(default_factory=dict)
    signer_fingerprint: str | None = None
    detail_limit: int = 100

    @property
    def period_shown(self) -> str:
        """The period with its days, as every report heads it: ``2026-Q4 (2026-10-01 to
        2026-12-31, UTC)`` — a bare "2026-Q4" left the auditor to work out its bounds, and
        whether the export was made before it ended (more runs may follow)."""
        from datetime import timedelta

        if self.period_start is None or self.period_end is None:
            return self.period_label
        last = self.period_end - timedelta(microseconds=1)  # the end is exclusive
        days = f"{self.period_start:%Y-%m-%d} to {last:%Y-%m-%d}"
        open_ = "; not over when this was exported" if self.generated_at < self.period_end else ""
        if self.period_label == f"{self.period_start:%Y-%m-%d}..{last:%Y-%m-%d}":
            return f"{days} (UTC{open_})"  # --from/--to: the label is those days already
        return f"{self.period_label} ({days}, UTC{open_})"

    @property
    def scope_shown(self) -> str:
        """What the report covers, as its first line says it: ``Period 2026-Q4 (…)``, or
        for one run's report ``Run r-…`` (it read "Period run r-…")."""
        if self.period_start is None:
            return self.period_label[:1].upper() + self.period_label[1:]
        return f"Period {self.period_shown}"

    def detailed_runs(self) -> list[RunView]:
        """Runs given a full timeline section: failures first, then newest (capped).

        A quarter can hold thousands of scheduled runs; every run is in runs.json and
        runs.csv, while the human-readable reports keep to what an auditor reads.
        """
        ranked = sorted(
            self.runs, key=lambda r: (r.status == "succeeded", -r.started_at.timestamp())
        )
        return sorted(ranked[: self.detail_limit], key=lambda r: r.started_at)

    def detailed_findings(self) -> list[FindingView]:
        """Findings given a row of their own in the PDF: open first, then the newest
        (capped like :meth:`detailed_runs`; report.html and runs.json list every one)."""
        if len(self.findings) <= self.detail_limit:
            return list(self.findings)
        ranked = sorted(
            self.findings, key=lambda f: (f.status != "open", -f.created_at.timestamp(), f.id)
        )
        return sorted(ranked[: self.detail_limit], key=lambda f: f.id)

    def finding_summary(self) -> list[tuple[str, str, str, int]]:
        """(kind, severity, status, count) over every finding, most frequent first."""
        counts: dict[tuple[str, str, str], int] = {}
        for f in self.findings:
            key = (f.kind, f.severity, f.status)
            counts[key] = counts.get(key, 0) + 1
        return sorted(((*k, n) for k, n in counts.items()), key=lambda x: (-x[3], x[:3]))
