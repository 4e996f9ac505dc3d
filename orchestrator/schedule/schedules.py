"""Schedules as rows: add, list (with next fire), remove, and sync from drills.

The ``schedule`` table is the source of truth; ``drill scheduler run`` reconciles
APScheduler's job store from it. So ``drill schedule add`` needs no running
scheduler, and every scheduler of an HA group sees the same schedules.

A schedule is checked when it is created, not when it first fires months later: the
target must resolve and plan, and a mutating target on a ``protected`` environment
needs ``--yes`` — the approval is stored with the schedule and passed to every run.
"""

from __future__ import annotations

import secrets as _secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.config import Settings
from orchestrator.errors import (
    ConfirmationRequired,
    DrillError,
    NotFoundError,
    UsageError,
    first_line,
)
from orchestrator.schedule import specs
from orchestrator.schedule.records import (
    APSCHEDULER_TABLE,
    Schedule,
    ScheduleAction,
    ScheduleFire,
    ScheduleKind,
    ScheduleRunArgs,
    ScheduleSource,
)

if TYPE_CHECKING:
    from orchestrator.evidence.writer import EvidenceDB


def new_id(prefix: str = "s") -> str:
    return f"{prefix}-{_secrets.token_hex(4)}"


def check_target(
    settings: Settings, target: str, env: str | None, yes: bool, what: str = "add the schedule"
) -> tuple[str, bool]:
    """Resolve env + target now; returns (env name, needs approval). Raises on problems;
    ``what`` says what to repeat with --yes (a game day said "add the schedule")."""
    from orchestrator.definitions.catalog import Catalog
    from orchestrator.engine.experiment_options import refuse_aws_extension_off_aws
    from orchestrator.engine.plan import build_plan

    env_name, env_cfg = settings.environment(env)
    plan = build_plan(Catalog(settings), target)
    refuse_aws_extension_off_aws(plan, env_name, env_cfg)  # each fire would be refused
    needs = bool(env_cfg.protected and plan.mutating)
    if needs and not yes:
        from orchestrator.config import protected_note

        raise ConfirmationRequired(
            f"environment {env_name!r} is protected{protected_note(env_cfg)} and {target} "
            "would change it",
            f"review `drill plan {target} --env {env_name}`, then {what} with --yes "
            "(your approval is recorded with it and every run it starts)",
        )
    return env_name, needs


def stored_target(target: str) -> str:
    """A definition file is scheduled by its absolute path: the service runs it from its
    own directory (drill.yaml's), not from wherever `drill schedule add` was typed."""
    from orchestrator.definitions.loader import DEFINITION_SUFFIXES

    path = Path(target)
    if path.suffix in DEFINITION_SUFFIXES and path.is_file():
        return str(path.absolute())
    return target


def add_schedule(
    db: EvidenceDB,
    target: str,
    env: str,
    spec: specs.Spec,
    who: str,
    now: datetime,
    *,
    approved: bool = False,
    source: ScheduleSource = ScheduleSource.CLI,
    action: ScheduleAction = ScheduleAction.RUN,
    run_args: list[str] | None = None,
) -> Schedule:
    """Insert a schedule (the target was checked by :func:`check_target`)."""
    start = now
    if spec.kind is ScheduleKind.INTERVAL:  # first fire one interval from now
        start = now + timedelta(seconds=float(spec.expr))
    row = Schedule(
        id=new_id(),
        target=target,
        env=env,
        action=action.value,
        kind=spec.kind.value,
        expr=spec.expr,
        timezone=spec.timezone,
        start_at=start,
        approved_by=who if approved else None,
        source=source.value,
        created_by=who,
        created_at=now,
    )
    extra = [ScheduleRunArgs(schedule_id=row.id, run_args=list(run_args))] if run_args else []
    db.write(row, *extra)
    return row


def firing_with(
    db: EvidenceDB, target: str, env: str, spec: specs.Spec, run_args: list[str]
) -> Schedule | None:
    """An active schedule that already runs ``target`` on ``env`` with these options at
    every fire time of ``spec`` (a cron of the same fields and zone, a one-shot at the same
    instant): a second one would start the drill again at each of them. Interval
    schedules are anchored at their creation, so two never share a fire."""
    if spec.kind is ScheduleKind.INTERVAL:
        return None
    args = run_args_of(db)
    for row in active(db, ScheduleAction.RUN):
        same_times = row.kind == spec.kind.value and row.expr == spec.expr
        if spec.kind is ScheduleKind.CRON:
            same_times = same_times and row.timezone == spec.timezone
        if (
            (row.target, row.env) == (target, env)
            and same_times
            and args.get(row.id, []) == run_args
        ):
            return row
    return None


def active(db: EvidenceDB, action: ScheduleAction | None = None) -> list[Schedule]:
    where, params = "removed_at IS NULL", []
    if action is not None:
        where, params = where + " AND action = ?", [action.value]
    return db.records(Schedule, where, params, "created_at")


def remove(db: EvidenceDB, schedule_id: str, who: str, now: datetime) -> Schedule:
    """Mark a schedule removed (kept as evidence); schedulers drop its job."""
    row: Schedule | None = db.get(Schedule, schedule_id)
    if row is None or row.removed_at is not None:
        raise NotFoundError(
            f"no schedule {schedule_id!r}", "`drill schedule list` shows schedule ids"
        )
    row.removed_at, row.removed_by = now, who
    db.write(row)
    return row


def trigger_of(row: Schedule) -> Any:
    return specs.build_trigger(row.kind, row.expr, row.timezone, row.start_at)


def stored_next_runs(db: EvidenceDB, include_paused: bool = False) -> dict[str, datetime | None]:
    """Next run times APScheduler persisted (reflects misfires and coalescing)."""
    rows = db.query(f"SELECT id, next_run_time FROM {APSCHEDULER_TABLE}")
    return {
        r[0]: datetime.fromtimestamp(r[1], UTC) if r[1] is not None else None
        for r in rows
        if include_paused or r[1] is not None
    }


def next_fire_of(
    row: Schedule, now: datetime, stored: dict[str, datetime | None]
) -> datetime | None:
    return stored.get(row.id) or specs.next_fire(trigger_of(row), now)


def next_fire_or_why(
    row: Schedule,
    now: datetime,
    stored: dict[str, datetime | None],
    last: dict[str, ScheduleFire],
) -> tuple[datetime | None, str | None]:
    """The next fire, or ``None`` and why it cannot be computed ("cannot compute: …").

    A one-shot that has fired (``last``: :func:`last_fires`) has none: its trigger still
    answers its own, past, time.

    The schedule table is shared by a group's schedulers: a row another one wrote may
    be one this drill cannot build a trigger of (a time zone this host's tzdata lacks, a
    kind from a newer drill). Its readers show that row with the reason; they do not
    fail for it (the scheduler service logs it and leaves it out)."""
    if row.kind == ScheduleKind.DATE and row.id in last:
        return None, None
    try:
        return next_fire_of(row, now, stored), None
    except Exception as exc:  # one row must not hide every other
        from orchestrator.secrets import redact_text

        why = exc.message if isinstance(exc, DrillError) else first_line(exc)
        return None, f"cannot compute: {redact_text(why)}"


def describe(row: Schedule) -> str:
    try:
        return specs.Spec(
            ScheduleKind(row.kind),
            row.expr,
            row.timezone,
            next(
                (a for a, e in specs.ALIASES.items() if e == row.expr and a not in ("annually",)),
                None,
            ),
        ).describe()
    except ValueError:  # a kind (or an interval) of a newer drill: as it is stored
        return f"{row.kind} {row.expr}"


def run_args_of(db: EvidenceDB, ids: list[str] | None = None) -> dict[str, list[str]]:
    """schedule id → its extra `drill run` options (only schedules that have some)."""
    if ids is not None and not ids:
        return {}
    where = "" if ids is None else f"schedule_id IN ({', '.join('?' * len(ids))})"
    rows: list[ScheduleRunArgs] = db.records(ScheduleRunArgs, where, ids or ())
    return {r.schedule_id: list(r.run_args) for r in rows}


def last_fires(db: EvidenceDB) -> dict[str, ScheduleFire]:
    """Each schedule's latest fire: what happened to it last (ran, skipped by a freeze…)."""
    rows: list[ScheduleFire] = db.records(
        ScheduleFire,
        "scheduled_at = (SELECT MAX(f.scheduled_at) FROM schedule_fire f"
        " WHERE f.schedule_id = schedule_fire.schedule_id)",
    )
    return {r.schedule_id: r for r in rows}


def schedule_doc(
    row: Schedule,
    next_at: datetime | None,
    run_args: list[str] | None = None,
    last: ScheduleFire | None = None,
    next_fire_error: str | None = None,
) -> dict[str, Any]:
    from orchestrator.engine.results import iso

    return {
        "id": row.id,
        "target": row.target,
        "env": row.env,
        "action": row.action,
        "kind": row.kind,
        "expr": row.expr,
        "timezone": row.timezone,
        "description": describe(row),
        "source": row.source,
        "approved_by": row.approved_by,
        "created_by": row.created_by,
        "created_at": iso(row.created_at),
        "next_fire_at": iso(next_at),
        "next_fire_error": next_fire_error,
        "run_args": list(run_args or []),
        "last_fire": {
            "scheduled_at": iso(last.scheduled_at),
            "status": last.status,
            "reason": last.reason,
            "run_id": last.launched_run_id,
        }
        if last
        else None,
    }


def list_docs(db: EvidenceDB, now: datetime) -> list[dict[str, Any]]:
    stored = stored_next_runs(db)
    args, last = run_args_of(db), last_fires(db)
    docs = []
    for r in active(db):
        nxt, why = next_fire_or_why(r, now, stored, last)
        docs.append(schedule_doc(r, nxt, args.get(r.id), last.get(r.id), why))
    return docs


def sync_from_drills(
    settings: Settings, db: EvidenceDB, env: str | None, yes: bool, who: str, now: datetime
) -> dict[str, list[str]]:
    """Install every drill's own ``schedule:`` field; replace changed, drop stale ones."""
    from orchestrator.definitions.catalog import Catalog
    from orchestrator.definitions.kinds import DefinitionKind
    from orchestrator.definitions.loader import load_definition
    from orchestrator.definitions.models import Drill

    env_name, _cfg = settings.environment(env)
    wanted: dict[str, specs.Spec] = {}
    for entry in Catalog(settings).entries(DefinitionKind.DRILL):
        _k, drill, _doc = load_definition(entry.path)
        if isinstance(drill, Drill) and drill.schedule:
            try:
                wanted[drill.id] = specs.cron_spec(drill.schedule)
            except UsageError as exc:
                raise UsageError(f"{entry.path}: schedule: {exc.message}", exc.hint) from None
    current = {
        r.target: r for r in active(db) if r.source == ScheduleSource.DRILL and r.env == env_name
    }
    out: dict[str, list[str]] = {"added": [], "updated": [], "removed": [], "unchanged": []}
    for drill_id, spec in wanted.items():
        have = current.pop(drill_id, None)
        if have is not None and (have.expr, have.timezone) == (spec.expr, spec.timezone):
            out["unchanged"].append(drill_id)
            continue
        _env, needs = check_target(settings, drill_id, env_name, yes)
        if have is not None:
            remove(db, have.id, who, now)
        add_schedule(
            db, drill_id, env_name, spec, who, now, approved=needs, source=ScheduleSource.DRILL
        )
        out["updated" if have is not None else "added"].append(drill_id)
    for stale in current.values():
        remove(db, stale.id, who, now)
        out["removed"].append(stale.target)
    return out
