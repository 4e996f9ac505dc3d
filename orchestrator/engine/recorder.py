"""Writes evidence as things happen: every start and end is its own commit.

The engine never batches evidence: if drill is killed, what happened up to that
moment is in the database, including the pending rollbacks needed to recover.

Secrets are taken out by the one evidence writer (:class:`EvidenceDB`), which redacts
every text and JSON value it stores and sets the masked values back on the record;
artifact bytes are redacted here, before their sha256 is taken. A pending rollback is
therefore stored redacted too; its secrets stay in memory for
this process (:meth:`Recorder.pending_rollbacks` gives them back) and are restored
from the definition file after a crash (:mod:`orchestrator.engine.recovery`).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from orchestrator.evidence.enums import StepPhase, StepStatus, utcnow
from orchestrator.evidence.records import (
    Approval,
    Artifact,
    Environment,
    Finding,
    Measurement,
    ProbeSeries,
    Record,
    Run,
    ScenarioRun,
    StepRun,
    TimelineEvent,
)
from orchestrator.evidence.writer import EvidenceDB
from orchestrator.secrets import redact_bytes

if TYPE_CHECKING:
    from orchestrator.measure.base import ObservationResult


class Recorder:
    def __init__(self, db: EvidenceDB, run: Run) -> None:
        self.db = db
        self.run = run
        self._seq = 0
        self._secret_args: dict[int, dict[str, Any]] = {}  # pending rollback id → its args
        self._undos: list[StepRun] = []  # every rollback this process recorded pending
        self.store_failing: str | None = None  # the write that began this run's store outage

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def event(
        self,
        kind: str,
        message: str,
        scenario: ScenarioRun | None = None,
        data: dict[str, Any] | None = None,
        at: datetime | None = None,
    ) -> None:
        self.db.write(
            TimelineEvent(
                run_id=self.run.id,
                scenario_run_id=scenario.id if scenario else None,
                at=at or utcnow(),
                kind=kind,
                message=message,
                data=data or None,
            )
        )

    def update_run(self, *with_it: Record, **fields: Any) -> None:
        """Change the run's fields; ``with_it`` are written in the same transaction."""
        for key, value in fields.items():
            setattr(self.run, key, value)
        self.db.write(self.run, *with_it)

    def start_scenario(
        self,
        seq: int,
        scenario_id: str,
        ref: str,
        kind: str,
        objective_rto: float | None,
        objective_rpo: float | None,
        objectives_from: dict[str, str],
    ) -> ScenarioRun:
        """The scenario's row, its objectives and where each came from (in ``notes``:
        the evidence says which definition set the bar the scenario is judged by)."""
        sc = ScenarioRun(
            run_id=self.run.id,
            seq=seq,
            scenario_id=scenario_id,
            ref=ref,
            kind=kind,
            started_at=utcnow(),
            objective_rto_s=objective_rto,
            objective_rpo_s=objective_rpo,
            notes={"objectives_from": objectives_from} if objectives_from else None,
        )
        self.db.write(sc)
        self.event("scenario.start", f"scenario {scenario_id} started", sc)
        return sc

    def save(self, *records: Record) -> None:
        """Write records the engine changed itself (the writer redacts their texts)."""
        self.db.write(*records)

    def step_started(
        self,
        scenario: ScenarioRun | None,
        phase: StepPhase,
        name: str,
        kind: str,
        action: str | None = None,
        args: dict[str, Any] | None = None,
        rollback_of: int | None = None,
    ) -> StepRun:
        step = StepRun(
            run_id=self.run.id,
            scenario_run_id=scenario.id if scenario else None,
            seq=self._next_seq(),
            phase=phase,
            name=name,
            kind=kind,
            action=action,
            args=args or {},
            status=StepStatus.RUNNING,
            started_at=utcnow(),
            rollback_of=rollback_of,
        )
        self.db.write(step)
        return step

    def pending_rollback(
        self,
        scenario: ScenarioRun | None,
        name: str,
        kind: str,
        action: str,
        args: dict[str, Any],
        rollback_of: int | None,
    ) -> StepRun:
        """Record an undo *before* the action it undoes runs (crash safety)."""
        step = StepRun(
            run_id=self.run.id,
            scenario_run_id=scenario.id if scenario else None,
            seq=self._next_seq(),
            phase=StepPhase.ROLLBACK,
            name=name,
            kind=kind,
            action=action,
            args=args,
            status=StepStatus.PENDING,
            rollback_of=rollback_of,
        )
        self.db.write(step)
        self._undos.append(step)
        if step.id is not None and step.args != args:
            self._secret_args[step.id] = args
        return step

    def step_finished(
        self, step: StepRun, status: StepStatus, output: Any = None, error: str | None = None
    ) -> None:
        step.status = status
        step.ended_at = utcnow()
        step.output = _jsonable(output)
        step.error = error or None
        self.db.write(step)

    def pending_rollbacks(self) -> list[StepRun]:
        """This run's undos still pending, newest first — from memory, not the store: they
        are needed most when the store is failing (unreachable, damaged), and this process
        recorded every one of them (the rows it updates are these very objects)."""
        pending = [st for st in self._undos if st.status == StepStatus.PENDING]
        return sorted(pending, key=lambda st: st.seq, reverse=True)

    def recorded_here(self, step: StepRun) -> bool:
        """Whether this process recorded the pending rollback ``step`` (its args are the
        ones it built), rather than read it from the evidence database (a recovery)."""
        return any(mine is step for mine in self._undos)

    def rollback_args(self, step: StepRun) -> dict[str, Any]:
        """The args to play a pending rollback with: with its secrets when this process
        recorded it, else as stored (redacted)."""
        if step.id is not None and step.id in self._secret_args:
            return self._secret_args[step.id]
        return dict(step.args or {})

    def observation(self, scenario: ScenarioRun, result: ObservationResult) -> None:
        records: list[Measurement | ProbeSeries] = []
        for m in result.measurements:
            records.append(
                Measurement(
                    run_id=self.run.id,
                    scenario_run_id=scenario.id,
                    name=m.name,
                    value=m.value,
                    unit=m.unit,
                    method=m.method,
                    interval_s=m.interval_s,
                    error_bound_s=m.error_bound_s,
                    details=m.details or None,
                    objective=_objective_for(m.name, scenario),
                    met=_met(m.name, m.value, scenario),
                )
            )
        for series in result.series:
            records.append(
                ProbeSeries(
                    run_id=self.run.id,
                    scenario_run_id=scenario.id,
                    probe=series.probe,
                    interval_s=series.interval_s,
                    started_at=series.started_at,
                    samples=series.samples,
                    encoding=series.encoding,
                    data=series.data,
                )
            )
        if records:
            self.db.write(*records)

    def artifact(
        self, name: str, content: bytes, media_type: str, scenario: ScenarioRun | None = None
    ) -> None:
        self.db.write(self.artifact_record(name, content, media_type, scenario))

    def artifact_record(
        self, name: str, content: bytes, media_type: str, scenario: ScenarioRun | None = None
    ) -> Artifact:
        """A file kept with the run, secrets masked (written by the caller, e.g. with the
        run's end: :meth:`update_run`)."""
        content = redact_bytes(content)
        return Artifact(
            run_id=self.run.id,
            scenario_run_id=scenario.id if scenario else None,
            name=name,
            media_type=media_type,
            sha256=hashlib.sha256(content).hexdigest(),
            size=len(content),
            content=content,
            created_at=utcnow(),
        )

    def finding(
        self,
        kind: str,
        title: str,
        detail: str,
        corrective_action: str,
        scenario: ScenarioRun | None = None,
        severity: str = "high",
    ) -> None:
        self.db.write(
            Finding(
                run_id=self.run.id,
                scenario_run_id=scenario.id if scenario else None,
                kind=kind,
                severity=severity,
                title=title,
                detail=detail,
                corrective_action=corrective_action,
                created_at=utcnow(),
                drill=self.run.target,
                env=self.run.env,
            )
        )

    def environment(self, provider: str, protected: bool) -> None:
        """The run's environment as configured now (DESIGN 8's environment record): one
        record per name, written the first time and again (an update event) when its
        provider or protection changed, so the evidence says whether a run needed an
        approval. Nothing wrote it before."""
        found = self.db.records(Environment, "name = ?", (self.run.env,), "id", 1)
        if found and (found[0].provider, found[0].protected) == (provider, protected):
            return
        row = (
            found[0]
            if found
            else Environment(name=self.run.env, provider=provider, created_at=utcnow())
        )
        row.provider, row.protected = provider, protected
        self.db.write(row)

    def approval(self, approved_by: str, reason: str) -> None:
        self.db.write(
            Approval(
                run_id=self.run.id,
                env=self.run.env,
                approved_by=approved_by,
                at=utcnow(),
                reason=reason,
            )
        )


def _objective_for(name: str, sc: ScenarioRun) -> float | None:
    return {"rto": sc.objective_rto_s, "rpo": sc.objective_rpo_s}.get(name)


def _met(name: str, value: float | None, sc: ScenarioRun) -> bool | None:
    objective = _objective_for(name, sc)
    if objective is None or value is None:
        return None
    return value <= objective


#: how deep an activity's output (and a chaos journal holding it) nests at most to be
#: recorded: encoding, redacting and reading JSON back recurse, once per level, and an
#: output nested a few hundred levels deep (a parsed tree, a linked structure)
#: overflowed Python's stack — the step stayed ``running`` and the run failed on
#: drill's own ``RecursionError``. A definition nests at most ``yamlguard.MAX_DEPTH``.
RECORDED_DEPTH = 100

NESTED_TOO_DEEP = f"not recorded: nested deeper than {RECORDED_DEPTH} levels"


def recordable(value: Any) -> Any:
    """``value`` with each list or mapping nested deeper than :data:`RECORDED_DEPTH`
    levels, or inside itself (a cycle), replaced by :data:`NESTED_TOO_DEEP` (``value``
    itself when none is)."""
    return _cut(value, RECORDED_DEPTH, set())


def _cut(value: Any, levels: int, path: set[int]) -> Any:
    """One walk: a container whose every child came back as it was is returned itself."""
    if not isinstance(value, dict | list | tuple):
        return value
    if levels == 0 or id(value) in path:
        return NESTED_TOO_DEEP
    path.add(id(value))
    try:
        if isinstance(value, dict):
            mapping = {k: _cut(v, levels - 1, path) for k, v in value.items()}
            return value if all(mapping[k] is v for k, v in value.items()) else mapping
        items = [_cut(v, levels - 1, path) for v in value]
        return value if all(c is v for c, v in zip(items, value, strict=True)) else items
    finally:
        path.discard(id(value))


def _jsonable(value: Any) -> Any:
    if value is None:
        return None
    value = recordable(value)
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return json.loads(json.dumps(value, default=str))
