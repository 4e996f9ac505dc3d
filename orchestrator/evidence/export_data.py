"""Read the evidence to report: a period (quarter or date range) or a single run.

The rows are read once, by :func:`~orchestrator.evidence.chain_verify.verify_runs`
(one query per table per chunk of run ids, raw driver rows), which checks each against
the hash chain and keeps it; :func:`build_views` turns exactly those rows into the
report's views. See benchmarks/evidence_export.py.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from orchestrator.durations import EARLIEST_YEAR, LATEST_YEAR, check_date
from orchestrator.errors import NotFoundError, UsageError
from orchestrator.evidence.chain import RowCanon
from orchestrator.evidence.models import Artifact, Finding, Run, UTCDateTime
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
        day = date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{option} {text!r} is not a date", "use YYYY-MM-DD") from None
    try:
        check_date(day, option)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return day


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
        if not EARLIEST_YEAR <= year <= LATEST_YEAR:
            raise UsageError(f"--period {period!r} is out of range: drill accepts years "
                             f"{EARLIEST_YEAR} to {LATEST_YEAR}")
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


_VIEW_SKIP = {"content", "data", "output", "args"}  # large columns no view shows


def _decoder(table: sa.Table, dialect: sa.Dialect, canon: RowCanon | None
             ) -> Callable[[Any], dict[str, Any]]:
    """Row → {column: value as SQLAlchemy returns it}, without the large columns.

    Raw driver tuples (``canon`` given) go through each column's result processor
    (SQLite's ``DATETIME`` text of UTC columns through ``datetime.fromisoformat``, the
    same value); SQLAlchemy rows are already processed.
    """
    cols = [(i, c) for i, c in enumerate(table.columns) if c.name not in _VIEW_SKIP]
    if canon is None:
        names = [(i, c.name) for i, c in cols]
        return lambda row: {n: row[i] for i, n in names}
    procs: list[tuple[int, str, Callable[[Any], Any] | None]] = []
    for i, c in cols:
        proc: Callable[[Any], Any] | None = c.type.dialect_impl(dialect).result_processor(
            dialect, None)
        if proc is not None and dialect.name == "sqlite" and isinstance(c.type, UTCDateTime):
            proc = _sqlite_utc(proc)
        procs.append((i, c.name, proc))
    return lambda row: {n: row[i] if p is None else p(row[i]) for i, n, p in procs}


def _sqlite_utc(slow: Callable[[Any], Any]) -> Callable[[Any], Any]:
    from_iso = datetime.fromisoformat

    def process(value: Any) -> Any:
        if type(value) is str and len(value) == 26 and value[10] == " ":
            return from_iso(value).replace(tzinfo=UTC)
        return slow(value)
    return process


@dataclass
class Loaded:
    """What an export or report holds, built from the rows ``verify_runs`` checked."""

    runs: list[RunView]
    findings: list[FindingView]
    contents: dict[int, bytes]  # artifact id → content (the journals)


def period_ids(conn: sa.Connection, period: Period, env: str | None
               ) -> tuple[list[str], list[int]]:
    """Runs that *started* in the period (and env), by start; findings raised in it
    without a run (e.g. a missed quarterly drill)."""
    run = Run.__table__  # type: ignore[attr-defined]
    q = (sa.select(run.c.id).where(run.c.started_at >= period.start,
                                   run.c.started_at < period.end)
         .order_by(run.c.started_at, run.c.id))
    if env:
        q = q.where(run.c.env == env)
    finding = Finding.__table__  # type: ignore[attr-defined]
    loose = sa.select(finding.c.id).where(finding.c.run_id.is_(None),
                                          finding.c.created_at >= period.start,
                                          finding.c.created_at < period.end)
    if env:
        loose = loose.where(finding.c.env == env)
    return list(conn.execute(q).scalars()), list(conn.execute(loose).scalars())


def run_exists(conn: sa.Connection, run_id: str) -> None:
    run = Run.__table__  # type: ignore[attr-defined]
    if conn.execute(sa.select(run.c.id).where(run.c.id == run_id)).first() is None:
        raise NotFoundError(f"no run {run_id!r}", "`drill runs list` shows run ids")


# Views are built by validation (pydantic-core, in C): with pydantic 2.14 that is about
# twice as fast as ``model_construct`` (pure Python) for these flat models, and typed.
def build_views(dialect: sa.Dialect, kept: dict[str, tuple[list[Any], RowCanon | None]],
                run_ids: list[str]) -> Loaded:
    """Views of the runs ``run_ids`` (in that order) with all their children, and of the
    findings, from the rows :func:`~orchestrator.evidence.chain_verify.verify_runs` kept."""
    from orchestrator.evidence.chain import chained_tables

    tables = {t.name: t for t in chained_tables()}
    decoded: dict[str, list[dict[str, Any]]] = {}
    contents: dict[int, bytes] = {}
    for name, (rows, canon) in kept.items():
        decode = _decoder(tables[name], dialect, canon)
        decoded[name] = [decode(r) for r in rows]
        if name == "artifact":
            idx = [c.name for c in tables[name].columns]
            i_id, i_content = idx.index("id"), idx.index("content")
            contents.update((int(r[i_id]), bytes(r[i_content])) for r in rows)

    def by_run(name: str) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in decoded.get(name, []):
            if row.get("run_id") is not None:
                out[row["run_id"]].append(row)
        return out

    scenarios, steps, events = by_run("scenario_run"), by_run("step_run"), by_run(
        "timeline_event")
    measurements, findings, artifacts = by_run("measurement"), by_run("finding"), by_run(
        "artifact")
    approvals = by_run("approval")
    run_rows = {r["id"]: r for r in decoded.get("run", [])}
    views = []
    for rid in run_ids:
        if rid not in run_rows:
            continue
        names = {s["id"]: s["scenario_id"] for s in scenarios[rid]}
        views.append(RunView(
            **run_rows[rid],
            scenarios=sorted((ScenarioView(**s) for s in scenarios[rid]),
                             key=lambda s: s.started_at),
            steps=sorted((StepView(**st, scenario=names.get(st["scenario_run_id"]))
                          for st in steps[rid]), key=lambda s: s.seq),
            events=sorted((EventView(**e, scenario=names.get(e["scenario_run_id"]))
                           for e in events[rid]), key=lambda e: e.at),
            measurements=[MeasurementView(
                              **m, scenario=names.get(m["scenario_run_id"]))
                          for m in sorted(measurements[rid], key=lambda m: m["id"])],
            findings=[FindingView(**f, scenario=names.get(f["scenario_run_id"]))
                      for f in sorted(findings[rid], key=lambda f: f["id"])],
            artifacts=[ArtifactView(**a) for a in sorted(artifacts[rid],
                                                         key=lambda a: a["id"])],
            approvals=[ApprovalView(**a) for a in sorted(approvals[rid],
                                                         key=lambda a: a["id"])],
        ))
    loose = [FindingView(**f) for f in decoded.get("finding", []) if f.get("run_id") is None]
    all_findings = [f for r in views for f in r.findings] + loose
    return Loaded(views, sorted(all_findings, key=lambda f: f.id), contents)


def artifact_content(conn: sa.Connection, artifact_id: int) -> bytes:
    table = Artifact.__table__  # type: ignore[attr-defined]
    return bytes(conn.execute(sa.select(table.c.content).where(table.c.id == artifact_id))
                 .scalar_one())
