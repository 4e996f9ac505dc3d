"""`drill status`: per drill last run, last success, next due, overdue.

A drill's *cadence* is its own ``schedule:`` field (e.g. ``quarterly``) or else an
installed cron schedule of it. The cadence's fire times cut time into periods —
for ``quarterly`` exactly the calendar quarters — and compliance means **every
period holds a successful run**. Tracking starts when the drill was first
scheduled or run; the first period counted is the first full one after that.

* ``next_due`` — the end of the period after the one holding the last success (or
  the first full period after tracking began): a success must happen before it.
* ``overdue`` — ``now`` is past ``next_due``.
* a period that ended without a success becomes a ``drill_overdue`` finding (once:
  findings are keyed by their title, which names the period), e.g.
  "quarterly-dr: no successful run in 2026-Q3".

Time is a parameter (``now``), so all of this is tested with a controlled clock.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.config import Settings
from orchestrator.evidence.enums import RunStatus
from orchestrator.evidence.records import Finding, Run
from orchestrator.schedule import schedules, specs
from orchestrator.schedule.records import Schedule, ScheduleAction, ScheduleKind

if TYPE_CHECKING:
    from orchestrator.evidence.writer import EvidenceDB

MAX_PERIODS = 400  # newest periods examined per drill


@dataclass
class DrillStatus:
    drill: str
    kind: str
    cadence: str | None = None
    cadence_env: str | None = None
    last_run: Run | None = None
    last_success: Run | None = None
    next_due: datetime | None = None
    next_fire: datetime | None = None
    #: "schedule ID: cannot compute: …" of its schedules this drill cannot build a
    #: trigger of (written by another scheduler of the group: a newer drill, a time
    #: zone this host's tzdata lacks)
    next_fire_errors: list[str] = field(default_factory=list)
    overdue: bool = False
    missed_periods: list[str] = field(default_factory=list)

    def doc(self, now: datetime) -> dict[str, Any]:
        from orchestrator.engine.results import iso

        lr, ls = self.last_run, self.last_success
        return {
            "drill": self.drill,
            "kind": self.kind,
            "cadence": self.cadence,
            "env": self.cadence_env,
            "last_run": iso(lr.started_at) if lr else None,
            "last_run_id": lr.id if lr else None,
            "last_run_status": lr.status if lr else None,
            "last_success": iso(ls.started_at) if ls else None,
            "last_success_run_id": ls.id if ls else None,
            "next_due": iso(self.next_due),
            "next_fire": iso(self.next_fire),
            "next_fire_errors": self.next_fire_errors,
            "overdue": self.overdue,
            "overdue_by_s": round((now - self.next_due).total_seconds(), 3)
            if self.overdue and self.next_due
            else None,
            "missed_periods": self.missed_periods,
        }


@dataclass
class StatusReport:
    now: datetime
    drills: list[DrillStatus]
    new_findings: list[Finding] = field(default_factory=list)


def _label(cadence_expr: str, start: datetime, end: datetime) -> str:
    fields = cadence_expr.split()
    if len(fields) == 5 and fields[3] in ("1,4,7,10", "*/3", "1-12/3"):  # quarterly
        return f"{start.year}-Q{(start.month - 1) // 3 + 1}"
    return f"{start:%Y-%m-%d %H:%M}Z to {end:%Y-%m-%d %H:%M}Z"


@functools.lru_cache(maxsize=256)
def _cadence(path: str, _mtime_ns: int, _size: int) -> str | None:
    """A drill file's own ``schedule:``, parsed once per version of the file (the
    dashboard asks on every request; parsing with line tracking costs ~15 ms)."""
    from orchestrator.definitions.loader import load_definition

    _k, drill, _doc = load_definition(Path(path))  # a failure is not cached: raised
    return getattr(drill, "schedule", None)


@functools.lru_cache(maxsize=256)
def _file_id(path: str, _mtime_ns: int, _size: int) -> str:
    from orchestrator.definitions.loader import load_definition

    _k, definition, _doc = load_definition(Path(path))
    return str(definition.id)


def _as_run_target(row: Schedule) -> Schedule:
    """The schedule as its runs are recorded: a definition file's runs are recorded
    under the definition's id (``ok.yaml`` runs as ``ok``), so that is what its
    cadence is judged on — not a target no run ever has, overdue forever."""
    from dataclasses import replace

    from orchestrator.definitions.loader import DEFINITION_SUFFIXES

    path = Path(row.target)
    if path.suffix not in DEFINITION_SUFFIXES:
        return row
    try:
        st = path.stat()
        return replace(row, target=_file_id(str(path), st.st_mtime_ns, st.st_size))
    except Exception:  # gone or invalid: judged under the name it was scheduled by
        return row


def _targets(
    settings: Settings, rows: list[Schedule], db: EvidenceDB
) -> dict[str, tuple[str, str | None]]:
    """target id → (kind, cadence cron expr from the drill's own field).

    Every drill found, every scheduled target, and every runbook or experiment that has
    run (by id or by file): what teams run between quarterly drills has a last run and
    a last success too, and `/metrics` must not know it only by its open findings."""
    from orchestrator.definitions.catalog import Catalog
    from orchestrator.definitions.kinds import DefinitionKind

    out: dict[str, tuple[str, str | None]] = {}
    catalog = Catalog(settings)
    for entry in catalog.entries(DefinitionKind.DRILL):
        try:
            st = entry.path.stat()
            cadence = _cadence(str(entry.path), st.st_mtime_ns, st.st_size)
        except Exception:  # an invalid drill still shows up, without cadence
            cadence = None
        out[entry.id] = ("drill", cadence)
    for row in rows:
        if row.action == ScheduleAction.RUN and row.target not in out:
            out[row.target] = ("scheduled", None)
    for (target,) in db.query(_RUN_TARGETS):
        out.setdefault(str(target), ("", None))  # its kind: its last run's (drill_status)
    return out


#: Every distinct run target, read off the (target, started_at) index one target at a
#: time: a GROUP BY over 100,000 runs cost ~350 ms on every status and scrape, this a
#: few index probes per target (SQLite and PostgreSQL alike).
_RUN_TARGETS = (
    "WITH RECURSIVE t(target) AS (SELECT MIN(target) FROM run UNION ALL "
    "SELECT (SELECT MIN(target) FROM run WHERE target > t.target) FROM t "
    "WHERE t.target IS NOT NULL) SELECT target FROM t WHERE target IS NOT NULL"
)


def drill_status(
    settings: Settings, db: EvidenceDB, now: datetime, record: bool = False
) -> StatusReport:
    """Compute every drill's status; with ``record``, file findings for missed periods."""
    all_sched = [_as_run_target(r) for r in db.records(Schedule)]  # read, never written
    active = [r for r in all_sched if r.removed_at is None]
    stored_next, fired = schedules.stored_next_runs(db), schedules.last_fires(db)
    report = StatusReport(now, [])
    for target, (kind, own) in sorted(_targets(settings, all_sched, db).items()):
        st = DrillStatus(target, kind)
        mine = [r for r in active if r.target == target and r.action == ScheduleAction.RUN]
        nexts = {r.id: schedules.next_fire_or_why(r, now, stored_next, fired) for r in mine}
        st.next_fire = min((f for f, _why in nexts.values() if f), default=None)
        st.next_fire_errors = sorted(
            f"schedule {sid}: {why}" for sid, (_f, why) in nexts.items() if why
        )
        cron = next((r for r in mine if r.kind == ScheduleKind.CRON and not nexts[r.id][1]), None)
        tz = "UTC"
        if own:
            try:
                spec = specs.cron_spec(own)
                st.cadence, tz = spec.expr, spec.timezone
            except Exception:
                st.cadence = None
        if st.cadence is None and cron is not None:
            st.cadence, tz = cron.expr, cron.timezone
        if cron is not None or (mine and own):
            st.cadence_env = (cron or mine[0]).env
        _fill_runs(db, st)
        if not st.kind and st.last_run is not None:  # known only by its runs
            st.kind = st.last_run.target_kind
        if st.cadence:
            _judge(st, db, all_sched, tz, now)
            if record and st.missed_periods:
                report.new_findings += _record(db, st, now)
        report.drills.append(st)
    return report


def _mine(st: DrillStatus) -> tuple[str, list[Any]]:
    """The drill's runs (on its cadence's environment) as SQL."""
    if st.cadence_env:
        return "target = ? AND env = ?", [st.drill, st.cadence_env]
    return "target = ?", [st.drill]


def _newest(db: EvidenceDB, where: str, params: list[Any], first: bool = False) -> Run | None:
    found: list[Run] = db.records(
        Run, where, params, "started_at" if first else "started_at DESC", 1
    )
    return found[0] if found else None


#: a success that tested something: not one whose scenarios were none of them judged. A
#: ``--dry actions`` run succeeds and injects no fault (its scenarios are not judged), so
#: it keeps no drill from being overdue — the rule of the ``dr_test_executed`` evidence
#: (compliance/kinds.py)
TESTED = (
    "status = ? AND (NOT EXISTS (SELECT 1 FROM scenario_run sr WHERE sr.run_id = run.id) "
    "OR EXISTS (SELECT 1 FROM scenario_run sr WHERE sr.run_id = run.id "
    "AND sr.met IS NOT NULL))"
)


def _fill_runs(db: EvidenceDB, st: DrillStatus) -> None:
    where, params = _mine(st)
    st.last_run = _newest(db, where, params)
    st.last_success = _newest(db, f"{where} AND {TESTED}", [*params, RunStatus.SUCCEEDED.value])


def _judge(
    st: DrillStatus, db: EvidenceDB, all_sched: list[Schedule], tz: str, now: datetime
) -> None:
    assert st.cadence is not None
    trig = specs.build_trigger(ScheduleKind.CRON, st.cadence, tz, now)
    begins = [r.created_at for r in all_sched if r.target == st.drill]
    # the database finds the first run and, per period below, whether one succeeded:
    # a drill with 100,000 runs is not loaded into memory to answer that
    where, params = _mine(st)
    first = _newest(db, where, params, first=True)
    if first is not None:
        begins.append(first.started_at)
    if not begins:
        st.next_due = specs.fire_after(trig, now)
        return
    tracking = min(begins)
    anchor = st.last_success.started_at if st.last_success else tracking
    end_of_anchor = specs.fire_after(trig, anchor)
    st.next_due = specs.fire_after(trig, end_of_anchor) if end_of_anchor else None
    st.overdue = bool(st.next_due and now >= st.next_due)
    # every full period since tracking began must hold a success
    periods: list[tuple[datetime, datetime]] = []
    start = specs.fire_after(trig, tracking)
    while start is not None:
        end = specs.fire_after(trig, start)
        if end is None or end > now:
            break
        periods.append((start, end))
        if len(periods) > MAX_PERIODS:
            periods.pop(0)
        start = end
    hit_sql = (
        f"SELECT id FROM run WHERE {where} AND {TESTED} AND started_at >= ? "
        "AND started_at < ? LIMIT 1"
    )
    for p_start, p_end in periods:
        if not db.query(
            hit_sql, [*params, RunStatus.SUCCEEDED.value, db.param(p_start), db.param(p_end)]
        ):
            st.missed_periods.append(_label(st.cadence, p_start, p_end))


def _record(db: EvidenceDB, st: DrillStatus, now: datetime) -> list[Finding]:
    """File a finding per missed period, once: the check is repeated inside each write,
    under the journal's lock, so two schedulers (or one and `drill status`) computing
    the same missed quarter at the same moment file it once, not twice."""
    exists = "SELECT 1 FROM finding WHERE kind = ? AND drill = ? AND title = ?"
    have = {
        r[0]
        for r in db.query(
            "SELECT title FROM finding WHERE kind = ? AND drill = ?", ("drill_overdue", st.drill)
        )
    }
    new: list[Finding] = []
    for label in st.missed_periods:
        title = f"{st.drill}: no successful run in {label}"
        if title in have:
            continue
        finding = Finding(
            kind="drill_overdue",
            severity="high",
            title=title,
            detail=f"the {st.drill} cadence ({st.cadence}) requires a "
            f"successful run every period; none succeeded in {label}",
            corrective_action=f"run `drill run {st.drill}"
            + (f" --env {st.cadence_env}" if st.cadence_env else "")
            + "` now and find out why the scheduled run did not succeed",
            created_at=now,
            drill=st.drill,
            env=st.cadence_env,
        )
        if db.write(finding, unless=(exists, ("drill_overdue", st.drill, title))):
            new.append(finding)
    return new
