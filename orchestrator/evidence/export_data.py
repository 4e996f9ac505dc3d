"""Read the evidence to report: a period (quarter or date range) or a single run.

Bulk-loads with one query per table per chunk of run ids (Core selects, no ORM
identity map), so a quarter out of a database of 100,000 runs loads in well under
a second (see benchmarks/evidence_export.py).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from orchestrator.errors import NotFoundError, UsageError
from orchestrator.evidence.models import (
    Approval,
    Artifact,
    Finding,
    Measurement,
    Run,
    ScenarioRun,
    StepRun,
    TimelineEvent,
)
from orchestrator.report.model import (
    ApprovalView,
    ArtifactView,
    EventView,
    FindingView,
    MeasurementView,
    RunView,
    ScenarioView,
    StepView,
)

_CHUNK = 900  # below SQLite's bound-parameter limit


@dataclass(frozen=True)
class Period:
    label: str
    start: datetime  # inclusive
    end: datetime  # exclusive


def _day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{option} {text!r} is not a date", "use YYYY-MM-DD") from None


def parse_period(period: str | None, start: str | None = None, end: str | None = None
                 ) -> Period:
    """``2026-Q4`` (calendar quarters, UTC), or ``--from``/``--to`` dates (both inclusive)."""
    if period and (start or end):
        raise UsageError("give either --period or --from/--to, not both")
    if period:
        m = re.fullmatch(r"(\d{4})-?[Qq]([1-4])", period.strip())
        if not m:
            raise UsageError(f"--period {period!r} is not a quarter",
                             "write it like 2026-Q4 (or use --from/--to YYYY-MM-DD)")
        year, q = int(m.group(1)), int(m.group(2))
        first = datetime(year, 3 * q - 2, 1, tzinfo=UTC)
        after = datetime(year + 1, 1, 1, tzinfo=UTC) if q == 4 else datetime(
            year, 3 * q + 1, 1, tzinfo=UTC)
        return Period(f"{year}-Q{q}", first, after)
    if not (start and end):
        raise UsageError("say which period to export",
                         "use --period 2026-Q4, or --from YYYY-MM-DD --to YYYY-MM-DD")
    d0, d1 = _day(start, "--from"), _day(end, "--to")
    if d1 < d0:
        raise UsageError(f"--to {end} is before --from {start}")
    return Period(f"{d0.isoformat()}..{d1.isoformat()}",
                  datetime(d0.year, d0.month, d0.day, tzinfo=UTC),
                  datetime(d1.year, d1.month, d1.day, tzinfo=UTC) + timedelta(days=1))


def _rows(conn: sa.Connection, model: Any, column: str, ids: list[str]
          ) -> dict[str, list[Any]]:
    table = model.__table__
    out: dict[str, list[Any]] = defaultdict(list)
    cols = [c for c in table.columns if c.name not in ("content", "data", "output", "args")]
    for i in range(0, len(ids), _CHUNK):
        chunk = ids[i:i + _CHUNK]
        for row in conn.execute(sa.select(*cols).where(table.c[column].in_(chunk))):
            out[row._mapping[column]].append(row._mapping)
    return out


def load_runs(conn: sa.Connection, run_rows: list[Any]) -> list[RunView]:
    """Runs (Core rows of ``run``) with all their children, as views."""
    ids = [r.id for r in run_rows]
    scenarios = _rows(conn, ScenarioRun, "run_id", ids)
    steps = _rows(conn, StepRun, "run_id", ids)
    events = _rows(conn, TimelineEvent, "run_id", ids)
    measurements = _rows(conn, Measurement, "run_id", ids)
    findings = _rows(conn, Finding, "run_id", ids)
    artifacts = _rows(conn, Artifact, "run_id", ids)
    approvals = _rows(conn, Approval, "run_id", ids)
    views = []
    for r in run_rows:
        names = {s["id"]: s["scenario_id"] for s in scenarios[r.id]}
        views.append(RunView(
            **dict(r._mapping),
            scenarios=sorted((ScenarioView(**s) for s in scenarios[r.id]),
                             key=lambda s: s.started_at),
            steps=sorted((StepView(**st, scenario=names.get(st["scenario_run_id"]))
                          for st in steps[r.id]), key=lambda s: s.seq),
            events=sorted((EventView(**e, scenario=names.get(e["scenario_run_id"]))
                           for e in events[r.id]), key=lambda e: e.at),
            measurements=[MeasurementView(**m, scenario=names.get(m["scenario_run_id"]))
                          for m in measurements[r.id]],
            findings=[FindingView(**f, scenario=names.get(f["scenario_run_id"]))
                      for f in findings[r.id]],
            artifacts=[ArtifactView(**a) for a in artifacts[r.id]],
            approvals=[ApprovalView(**a) for a in approvals[r.id]],
        ))
    return views


def load_period(conn: sa.Connection, period: Period, env: str | None
                ) -> tuple[list[RunView], list[FindingView]]:
    """Runs that *started* in the period (and env), plus findings raised in it."""
    run = Run.__table__  # type: ignore[attr-defined]
    q = (sa.select(run).where(run.c.started_at >= period.start, run.c.started_at < period.end)
         .order_by(run.c.started_at))
    if env:
        q = q.where(run.c.env == env)
    runs = load_runs(conn, list(conn.execute(q)))
    findings = [f for r in runs for f in r.findings]
    finding = Finding.__table__  # type: ignore[attr-defined]
    loose = sa.select(finding).where(finding.c.run_id.is_(None),
                                     finding.c.created_at >= period.start,
                                     finding.c.created_at < period.end)
    if env:
        loose = loose.where(finding.c.env == env)
    findings.extend(FindingView(**row._mapping) for row in conn.execute(loose))
    return runs, sorted(findings, key=lambda f: f.id)


def load_one(conn: sa.Connection, run_id: str) -> RunView:
    run = Run.__table__  # type: ignore[attr-defined]
    rows = list(conn.execute(sa.select(run).where(run.c.id == run_id)))
    if not rows:
        raise NotFoundError(f"no run {run_id!r}", "`drill runs list` shows run ids")
    return load_runs(conn, rows)[0]


def artifact_content(conn: sa.Connection, artifact_id: int) -> bytes:
    table = Artifact.__table__  # type: ignore[attr-defined]
    return bytes(conn.execute(sa.select(table.c.content).where(table.c.id == artifact_id))
                 .scalar_one())
