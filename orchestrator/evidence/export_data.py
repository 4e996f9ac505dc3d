"""Read the evidence to report: a period (quarter or date range) or a single run.

The records are read once, by :func:`~orchestrator.evidence.verify.verify` with a
:class:`~orchestrator.evidence.verify.Scope`, which checks each row against its newest
journal event and keeps the event's data; :func:`build_views` turns exactly that data
into the report's views. See benchmarks/evidence_export.py.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from operator import itemgetter
from typing import Any

from orchestrator.durations import EARLIEST_YEAR, LATEST_YEAR, check_date
from orchestrator.errors import NotFoundError, UsageError, shown
from orchestrator.evidence.verify import Scope
from orchestrator.evidence.writer import stored_time
from orchestrator.report.model import FindingView, RunView


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


def parse_period(period: str | None, start: str | None = None, end: str | None = None) -> Period:
    """``2026-Q4`` (calendar quarters, UTC), or ``--from``/``--to`` dates (both inclusive)."""
    if period and (start or end):
        raise UsageError("give either --period or --from/--to, not both")
    if period:
        m = re.fullmatch(r"(\d{4})-?[Qq]([1-4])", period.strip())
        if not m:
            raise UsageError(
                f"--period {period!r} is not a quarter",
                "write it like 2026-Q4 (or use --from/--to YYYY-MM-DD)",
            )
        year, q = int(m.group(1)), int(m.group(2))
        if not EARLIEST_YEAR <= year <= LATEST_YEAR:
            raise UsageError(
                f"--period {period!r} is out of range: drill accepts years "
                f"{EARLIEST_YEAR} to {LATEST_YEAR}"
            )
        first = datetime(year, 3 * q - 2, 1, tzinfo=UTC)
        after = (
            datetime(year + 1, 1, 1, tzinfo=UTC)
            if q == 4
            else datetime(year, 3 * q + 1, 1, tzinfo=UTC)
        )
        return Period(f"{year}-Q{q}", first, after)
    if not (start and end):
        raise UsageError(
            "say which period to export",
            "use --period 2026-Q4, or --from YYYY-MM-DD --to YYYY-MM-DD",
        )
    d0, d1 = _day(start, "--from"), _day(end, "--to")
    if d1 < d0:
        raise UsageError(f"--to {end} is before --from {start}")
    return Period(
        f"{d0.isoformat()}..{d1.isoformat()}",
        datetime(d0.year, d0.month, d0.day, tzinfo=UTC),
        datetime(d1.year, d1.month, d1.day, tzinfo=UTC) + timedelta(days=1),
    )


def period_ids(
    conn: Any, postgres: bool, period: Period, env: str | None
) -> tuple[list[str], list[str]]:
    """Runs that *started* in the period (and env), by start; findings raised in it
    without a run (e.g. a missed quarterly drill)."""
    ph = "%s" if postgres else "?"
    span = [stored_time(period.start, postgres), stored_time(period.end, postgres)]
    where = f" AND env = {ph}" if env else ""
    extra = [env] if env else []
    runs = conn.execute(
        f"SELECT id FROM run WHERE started_at >= {ph} AND started_at < {ph}"
        f"{where} ORDER BY started_at, id",
        [*span, *extra],
    ).fetchall()
    loose = conn.execute(
        f"SELECT id FROM finding WHERE run_id IS NULL AND created_at >= {ph} "
        f"AND created_at < {ph}{where} ORDER BY id",
        [*span, *extra],
    ).fetchall()
    return [r[0] for r in runs], [str(f[0]) for f in loose]


def run_started(conn: Any, postgres: bool, run_id: str) -> datetime:
    """When the run started (its evidence is journaled from then on)."""
    ph = "%s" if postgres else "?"
    row = conn.execute(f"SELECT started_at FROM run WHERE id = {ph}", (run_id,)).fetchone()
    if row is None:
        raise NotFoundError(f"no run {shown(run_id)}", "`drill runs list` shows run ids")
    try:
        at = row[0] if isinstance(row[0], datetime) else datetime.fromisoformat(str(row[0]))
    except ValueError:  # changed behind drill's back: verify from the start says where
        return datetime(1970, 1, 1, tzinfo=UTC)
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at


_SKIP = ("content", "data", "output", "args")  # large columns no view shows
_SCALAR = (bool, int, float, str)
#: a run's children: view field → (table, sort key), each child's "scenario" filled in
_CHILDREN = {
    "scenarios": ("scenario_run", "started_at"),
    "steps": ("step_run", "seq"),
    "events": ("timeline_event", "at"),
    "measurements": ("measurement", "id"),
    "findings": ("finding", "id"),
    "artifacts": ("artifact", "id"),
    "approvals": ("approval", "id"),
}
_OF_A_SCENARIO = ("steps", "events", "measurements", "findings")


def build_views(scope: Scope) -> tuple[list[RunView], list[FindingView]]:
    """Views of the scope's runs (in its order) with all their children, and of every
    finding, from the journal data :func:`~orchestrator.evidence.verify.verify` kept.

    Each run is one validation of one nested document (pydantic-core, in C): ~15 times
    fewer calls into the validator than a model per row (a quarter: 5,000 runs, 80,000
    rows), and typed."""
    children: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for field, (table, key) in _CHILDREN.items():
        of_run = children[field] = defaultdict(list)
        for row in sorted(scope.data.get(table, []), key=itemgetter(key)):
            if row.get("run_id") is not None:
                args = row.get("args") if table == "step_run" else None
                for k in _SKIP:
                    row.pop(k, None)
                if isinstance(args, dict):  # a step's scalar arguments (StepView.args)
                    row["args"] = {k: v for k, v in args.items() if isinstance(v, _SCALAR)}
                of_run[row["run_id"]].append(row)
    runs = {r["id"]: r for r in scope.data.get("run", [])}
    views = []
    for rid in scope.runs:
        if rid not in runs:
            continue
        doc = dict(runs[rid])
        names = {s["id"]: s["scenario_id"] for s in children["scenarios"][rid]}
        for field in _CHILDREN:
            doc[field] = children[field][rid]
            if field in _OF_A_SCENARIO:
                for row in doc[field]:
                    row["scenario"] = names.get(row.get("scenario_run_id"))
        views.append(RunView.model_validate(doc))
    loose = [
        FindingView.model_validate(f)
        for f in scope.data.get("finding", [])
        if f.get("run_id") is None
    ]
    findings = sorted([f for r in views for f in r.findings] + loose, key=lambda f: f.id)
    return views, findings
