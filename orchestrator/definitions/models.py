"""Pydantic models of runbooks and drills (DESIGN section 3).

Experiments are plain Chaos Toolkit documents and are validated by chaoslib
itself (see :mod:`orchestrator.definitions.loader`); they are wrapped in
:class:`~orchestrator.definitions.kinds.Experiment` only to carry their id and source.
The enums these models use live in :mod:`orchestrator.definitions.kinds`.
"""

from __future__ import annotations

from typing import Any, Literal

# defer_build: a plain Chaos Toolkit experiment run never validates a runbook or a drill,
# so their validators are built on first use instead of at import.
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from orchestrator.definitions.kinds import (
    ID_PATTERN,
    IsolatedPolicy,
    Mark,
    Objectives,
    RunMode,
    Seconds,
    StepKind,
    StopPolicy,
    runs_in,
)


class Step(BaseModel):
    """One step of a runbook."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    name: str | None = None
    kind: StepKind = StepKind.ACTION
    action: str | None = Field(None, description="provider-neutral action/probe name")
    args: dict[str, Any] = Field(default_factory=dict)
    activity: dict[str, Any] | None = Field(None, description="inline Chaos Toolkit activity")
    mark: Mark | None = None
    timeout: Seconds = 600.0
    retries: int = Field(0, ge=0, le=20)
    duration: Seconds | None = Field(None, description="wait: how long")
    until: Literal["service_restored", "replica_caught_up"] | None = Field(
        None, description="wait: until the probes see this condition"
    )
    instructions: str | None = Field(None, description="manual: what the operator does")
    rollback: bool = Field(True, description="register this action's rollback when it runs")
    isolated: IsolatedPolicy = Field(
        "run",
        description="run: in both modes; skip: not in isolated mode (it would "
        "disrupt production); only: in isolated mode only (e.g. marking a simulated disaster)",
    )

    @model_validator(mode="after")
    def _shape(self) -> Step:
        if self.kind in (StepKind.ACTION, StepKind.PROBE) and (
            bool(self.action) == bool(self.activity)
        ):
            raise ValueError(f"a {self.kind.value} step needs exactly one of action, activity")
        if self.kind is StepKind.WAIT and self.duration is None and self.until is None:
            raise ValueError("a wait step needs duration or until")
        if self.kind is StepKind.MANUAL and not self.instructions:
            raise ValueError("a manual step needs instructions")
        return self

    @property
    def title(self) -> str:
        if self.name:
            return self.name
        if self.action:
            return self.action
        if self.activity:
            return str(self.activity.get("name", "activity"))
        if self.kind is StepKind.WAIT:
            return f"wait {self.until or f'{self.duration:g}s'}"
        return self.kind.value


class Verification(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    name: str | None = None
    action: str = "data.verify"
    args: dict[str, Any] = Field(default_factory=dict)
    isolated: IsolatedPolicy = Field(
        "run", description="run: in both modes; skip: live mode only; only: isolated mode only"
    )


class Runbook(BaseModel):
    """A DR procedure as code."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    id: str = Field(pattern=ID_PATTERN)
    title: str
    scenario: str | None = None
    description: str | None = None
    objectives: Objectives = Field(default_factory=Objectives)
    preconditions: list[Step] = Field(default_factory=list)
    steps: list[Step] = Field(min_length=1)
    verification: list[Verification] = Field(default_factory=list)
    rollback: list[Step] = Field(default_factory=list)
    isolated_supported: bool = Field(
        True, description="can run in isolated mode (restore/promote a clone)"
    )
    owner: str | None = None

    @model_validator(mode="after")
    def _isolated(self) -> Runbook:
        only = [
            s for s in [*self.preconditions, *self.steps, *self.rollback] if s.isolated == "only"
        ] + [v for v in self.verification if v.isolated == "only"]
        if only and not self.isolated_supported:
            raise ValueError(
                "steps marked `isolated: only` never run: the runbook says "
                "isolated_supported: false"
            )
        for mode in RunMode:
            if not any(runs_in(s.isolated, mode) for s in self.steps) and (
                mode is RunMode.LIVE or self.isolated_supported
            ):
                raise ValueError(f"no step runs in {mode.value} mode")
        return self


class ScenarioRef(BaseModel):
    """A drill scenario: a runbook (with optional tighter objectives) or an experiment."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    runbook: str | None = None
    experiment: str | None = None
    id: str | None = Field(
        None, pattern=ID_PATTERN, description="scenario id (it names files in evidence bundles)"
    )
    objectives: Objectives = Field(default_factory=Objectives)
    vars: dict[str, str | int | float | bool] = Field(
        default_factory=dict, description="experiment: configuration values (chaos --var)"
    )
    var_files: list[str] = Field(
        default_factory=list,
        description="experiment: JSON/YAML/.env var files (chaos "
        "--var-file), relative to the drill file",
    )

    @model_validator(mode="before")
    @classmethod
    def _mapping(cls, value: Any) -> Any:
        """`scenarios: [rds-failover]` said "Input should be a valid dictionary or
        instance of ScenarioRef": say what a scenario looks like instead."""
        if isinstance(value, dict | ScenarioRef):
            return value
        raise ValueError(
            "a scenario is a mapping: `- runbook: ID` or `- experiment: ID`"
            + (f", e.g. `- runbook: {value}`" if isinstance(value, str) and value else "")
        )

    @model_validator(mode="after")
    def _one(self) -> ScenarioRef:
        if bool(self.runbook) == bool(self.experiment):
            raise ValueError("a scenario names exactly one of runbook, experiment")
        if self.runbook and (self.vars or self.var_files):
            raise ValueError("vars and var_files apply to experiments, not runbooks")
        if self.experiment and (self.objectives.rto is not None or self.objectives.rpo is not None):
            raise ValueError(
                "objectives apply to runbook scenarios: drill measures RTO and RPO of "
                "runbooks; an experiment's steady-state hypothesis decides whether it passed"
            )
        return self

    @property
    def ref(self) -> str:
        return self.runbook or self.experiment or ""

    @property
    def scenario_id(self) -> str:
        return self.id or self.ref


class Drill(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    id: str = Field(pattern=ID_PATTERN)
    title: str
    description: str | None = None
    scenarios: list[ScenarioRef] = Field(min_length=1)
    objectives: Objectives = Field(
        default_factory=Objectives,
        description="the drill's objectives (each left out: kinds.DEFAULT_OBJECTIVES); "
        "a scenario is judged by the strictest of its own, its runbook's and these",
    )
    schedule: str | None = Field(None, description="cron expression, e.g. quarterly")
    mode: RunMode = RunMode.LIVE
    approvals: list[str] = Field(default_factory=list)
    stop_policy: StopPolicy = StopPolicy.CONTINUE
    owner: str | None = None

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        """Checked as `drill schedule sync` reads it: an invalid one passed `validate`,
        and `drill status` then showed no cadence — the drill never fell overdue."""
        if value is None:
            return None
        from orchestrator.errors import UsageError
        from orchestrator.schedule.specs import cron_spec

        try:
            cron_spec(value)
        except UsageError as exc:
            raise ValueError(f"{exc.message}; {exc.hint}" if exc.hint else exc.message) from None
        return value
