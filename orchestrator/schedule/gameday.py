"""Game days: drills with a date, participants, notifications and rendered runbooks.

``drill gameday create`` checks every drill now (ids, protected environments need
``--yes``), renders the runbooks the participants will follow into
``<state_dir>/gamedays/<id>/`` (``drill runbook render``'s renderer; the source
files are referenced when a runbook cannot be rendered) and installs two one-shot
schedules: the **announcement** (``announce_before`` ahead) and the **run** at the
date. ``drill scheduler run`` fires both like any schedule — exactly once across an
HA group, skipped inside blackout windows.

At the run, drills go one after the other as ``drill run --trigger gameday`` child
processes. Manual steps wait for a participant's ``drill ack RUN_ID`` (the
announcement says so). Afterwards a summary is stored and posted.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.config import Settings
from orchestrator.durations import parse_duration
from orchestrator.errors import ExitStatus, NotFoundError, UsageError
from orchestrator.notify.messages import Notice, NoticeKind
from orchestrator.schedule import schedules, specs
from orchestrator.schedule.launcher import RunRequest
from orchestrator.schedule.records import (
    FireStatus,
    GameDay,
    GameDayStatus,
    ScheduleAction,
    ScheduleKind,
    ScheduleSource,
)

if TYPE_CHECKING:
    from orchestrator.evidence.store import EvidenceStore
    from orchestrator.evidence.writer import EvidenceDB
    from orchestrator.schedule.fire import FireContext


def render_runbooks(settings: Settings, drills: list[str], out_dir: Path) -> list[dict[str, Any]]:
    """Render every runbook the drills use into ``out_dir``; list what was written."""
    from orchestrator.definitions.catalog import Catalog
    from orchestrator.engine.plan import build_plan

    out_dir.mkdir(parents=True, exist_ok=True)
    done: list[dict[str, Any]] = []
    seen: set[str] = set()
    for drill in drills:
        for sc in build_plan(Catalog(settings), drill).scenarios:
            if sc.runbook is None or sc.runbook.id in seen:
                continue
            seen.add(sc.runbook.id)
            entry: dict[str, Any] = {
                "runbook": sc.runbook.id,
                "drill": drill,
                "source": str(sc.path) if sc.path else None,
            }
            try:
                from orchestrator.definitions.render import render_runbook

                dest = out_dir / f"{sc.runbook.id}.md"
                dest.write_text(
                    render_runbook(sc.runbook, entry["source"] or sc.runbook.id), encoding="utf-8"
                )
                entry["rendered"] = str(dest)
            except ImportError:  # renderer not installed: point at the source
                entry["rendered"] = None
            done.append(entry)
    index = ["# Game day runbooks", ""] + [
        f"- {e['runbook']} ({e['drill']}): {e['rendered'] or e['source']}" for e in done
    ]
    (out_dir / "README.md").write_text("\n".join(index) + "\n", encoding="utf-8")
    return done


def create(
    settings: Settings,
    store: EvidenceStore,
    *,
    date: str,
    drills: list[str],
    participants: list[str],
    env: str | None,
    notify: list[str],
    title: str | None,
    announce_before: str,
    timezone: str | None,
    yes: bool,
    who: str,
    now: datetime,
) -> GameDay:
    if not drills:
        raise UsageError("a game day needs at least one drill", "--drills quarterly-dr")
    twice = sorted({d for d in drills if drills.count(d) > 1})
    if twice:  # it ran that drill twice, each run failing over again
        raise UsageError(
            f"--drills names {', '.join(twice)} more than once",
            "name each drill once; a game day runs its drills in the order given",
        )
    tz = specs.zone(timezone)
    when = specs.parse_instant(date, tz, "--date")
    if when <= now:
        raise UsageError(f"--date {date} is in the past", "plan game days ahead")
    try:
        before = timedelta(seconds=parse_duration(announce_before))
    except ValueError as exc:
        raise UsageError(f"invalid --announce-before: {exc}") from None
    from orchestrator.notify.webhook import redact_webhook

    for url in notify:
        if not url.startswith(("http://", "https://")):
            raise UsageError(f"--notify {redact_webhook(url)} is not an http(s) URL")
    approved = False
    env_name = settings.environment(env)[0]
    for drill in drills:
        env_name, needs = schedules.check_target(settings, drill, env, yes, "create the game day")
        approved = approved or needs
    gid = schedules.new_id("g")
    out_dir = settings.state_path() / "gamedays" / gid
    try:
        books = render_runbooks(settings, drills, out_dir)
    except OSError as exc:  # `gamedays` a file, a read-only state dir: was "internal error"
        folder = out_dir.parent
        where, why = (
            (folder, "not a directory")
            if folder.exists() and not folder.is_dir()
            else (Path(exc.filename or out_dir), (exc.strerror or str(exc)).lower())
        )
        raise UsageError(
            f"the game day's runbooks cannot be written: {where}: {why}; the game day was "
            "not created",
            f"drill renders them into {out_dir.parent}/ID/: it must be a directory drill "
            "can write (move what is in its place aside), then create the game day again",
        ) from None
    row = GameDay(
        id=gid,
        title=title or f"Game day {when:%Y-%m-%d}",
        scheduled_for=when.astimezone(UTC),  # as read back: `create` printed local as UTC
        timezone=tz.key,
        env=env_name,
        drills=drills,
        participants=participants,
        notify=[redact_webhook(u) for u in notify],
        announce_before_s=before.total_seconds(),
        approved_by=who if approved else None,
        runbooks=books,
        runbooks_dir=str(out_dir),
        created_by=who,
        created_at=now,
    )
    from orchestrator.schedule.models import NotifyEndpoint

    if notify:  # configuration, not evidence: the usable URLs, kept out of the journal
        store.add(*[NotifyEndpoint(owner=gid, url=u) for u in notify])
    store.db.write(row)
    announce_at = max(when - before, now + timedelta(seconds=1))
    for action, at in (
        (ScheduleAction.GAMEDAY_ANNOUNCE, announce_at),
        (ScheduleAction.GAMEDAY_RUN, when),
    ):
        spec = specs.Spec(ScheduleKind.DATE, at.astimezone(specs.zone("UTC")).isoformat(), tz.key)
        schedules.add_schedule(
            store.db,
            gid,
            env_name,
            spec,
            who,
            now,
            approved=approved,
            source=ScheduleSource.GAMEDAY,
            action=action,
        )
    return row


def get(db: EvidenceDB, gid: str) -> GameDay:
    row: GameDay | None = db.get(GameDay, gid)
    if row is None:
        raise NotFoundError(f"no game day {gid!r}", "`drill gameday list` shows them")
    return row


def cancel(db: EvidenceDB, gid: str, who: str, now: datetime) -> GameDay | None:
    """Its run schedule removed, a game day will not run: say so on it (it read
    'planned' for ever) and remove its announcement (people were told to come to it).
    ``None`` when it had begun already or is not there."""
    for sched in schedules.active(db, ScheduleAction.GAMEDAY_ANNOUNCE):
        if sched.target == gid and sched.source == ScheduleSource.GAMEDAY:
            schedules.remove(db, sched.id, who, now)
    row: GameDay | None = db.get(GameDay, gid)
    if row is None:
        return None
    row.status, row.ended_at = GameDayStatus.CANCELLED.value, now
    begun = "SELECT 1 FROM gameday WHERE id = ? AND status NOT IN (?, ?)"
    open_ = (gid, GameDayStatus.PLANNED.value, GameDayStatus.ANNOUNCED.value)
    return row if db.write(row, unless=(begun, open_)) else None


def all_gamedays(db: EvidenceDB) -> list[GameDay]:
    return db.records(GameDay, order="scheduled_for")


def doc(row: GameDay) -> dict[str, Any]:
    from orchestrator.engine.results import iso

    return {
        "id": row.id,
        "title": row.title,
        "date": iso(row.scheduled_for),
        "timezone": row.timezone,
        "env": row.env,
        "drills": row.drills,
        "participants": row.participants,
        "notify": row.notify or [],
        "status": row.status,
        "announced_at": iso(row.announced_at),
        "started_at": iso(row.started_at),
        "ended_at": iso(row.ended_at),
        "runbooks": row.runbooks or [],
        "runbooks_dir": row.runbooks_dir,
        "run_ids": row.run_ids or [],
        "summary": row.summary,
    }


def _urls(store: EvidenceStore, gid: str) -> list[str]:
    from sqlmodel import select

    from orchestrator.schedule.models import NotifyEndpoint

    with store.session() as s:
        return [e.url for e in s.exec(select(NotifyEndpoint).where(NotifyEndpoint.owner == gid))]


def _named(title: str) -> str:
    """The title as messages show it: said to be a game day once (the default title is
    "Game day DATE": it read "Game day Game day 2030-03-01")."""
    return title if "game day" in title.lower() else f"Game day {title}"


def announce(ctx: FireContext, gid: str) -> None:
    """Post the announcement of a game day not yet begun. A late one (the scheduler was
    down, both fires came due together) is dropped once the run has begun: it would
    tell people about a game day under way or over, and overwrite its status."""
    row = get(ctx.db, gid)
    row.status, row.announced_at = GameDayStatus.ANNOUNCED.value, ctx.clock()
    begun = "SELECT 1 FROM gameday WHERE id = ? AND status != ?"
    if not ctx.db.write(row, unless=(begun, (gid, GameDayStatus.PLANNED.value))):
        return
    books = ", ".join(
        b.get("rendered") or b.get("source") or b["runbook"] for b in row.runbooks or []
    )
    ctx.notify(
        Notice(
            NoticeKind.GAMEDAY_ANNOUNCE,
            f"{_named(row.title)}: {row.scheduled_for:%Y-%m-%d %H:%M} UTC on {row.env}",
            f"Drills: {', '.join(row.drills)}. Participants: {', '.join(row.participants) or '-'}. "
            f"Runbooks: {books or '-'}. Manual steps wait for `drill ack RUN_ID`.",
            {
                "drills": ", ".join(row.drills),
                "participants": ", ".join(row.participants),
                "environment": row.env,
            },
            {
                "gameday": row.id,
                "date": row.scheduled_for.isoformat(),
                "drills": row.drills,
                "participants": row.participants,
                "runbooks": row.runbooks,
            },
        ),
        _urls(ctx.store, gid),
    )


def run_gameday(ctx: FireContext, gid: str, schedule_id: str | None = None) -> FireStatus:
    """Run the game day's drills in order; store and post the summary."""
    row = get(ctx.db, gid)
    row.status, row.started_at, row.run_ids = GameDayStatus.RUNNING.value, ctx.clock(), []
    ctx.db.write(row)
    results: list[dict[str, Any]] = []
    for drill in row.drills:
        res = ctx.launcher.run(
            RunRequest(
                drill,
                row.env,
                "gameday",
                schedule_id=schedule_id,
                gameday_id=gid,
                yes=bool(row.approved_by),
            )
        )
        results.append(
            {
                "drill": drill,
                "run_id": res.run_id,
                "exit_code": res.exit_code,
                "status": res.status or "failed",
                "error": res.error,
                "scenarios": (res.doc or {}).get("scenarios", []),
            }
        )
        if res.run_id:
            row.run_ids = [*(row.run_ids or []), res.run_id]
        if res.exit_code == ExitStatus.ABORTED:
            break  # a stop: the drills after this one are not started
    ok = all(r["exit_code"] == 0 for r in results)
    stopped = bool(results) and results[-1]["exit_code"] == ExitStatus.ABORTED
    row.summary = {
        "succeeded": sum(r["exit_code"] == 0 for r in results),
        "failed": sum(r["exit_code"] != 0 for r in results),
        "runs": results,
    }
    if stopped:
        row.summary["not_started"] = row.drills[len(results) :]
    row.status = (
        GameDayStatus.INTERRUPTED
        if stopped
        else GameDayStatus.COMPLETED
        if ok
        else GameDayStatus.FAILED
    ).value
    row.ended_at = ctx.clock()
    ctx.db.write(row)
    lines = [f"{r['drill']}: {r['status']} ({r['run_id'] or 'no run'})" for r in results]
    ctx.notify(
        Notice(
            NoticeKind.GAMEDAY_SUMMARY,
            f"{_named(row.title)} {row.status}",
            "\n".join(lines),
            {
                "environment": row.env,
                "succeeded": str(row.summary["succeeded"]),
                "failed": str(row.summary["failed"]),
            },
            {"gameday": gid, "summary": row.summary},
            failed=not ok,
        ),
        _urls(ctx.store, gid),
    )
    return FireStatus.INTERRUPTED if stopped else FireStatus.SUCCEEDED if ok else FireStatus.FAILED


def mark_skipped(ctx: FireContext, gid: str, reason: str) -> None:
    row = get(ctx.db, gid)
    row.status, row.ended_at = GameDayStatus.SKIPPED.value, ctx.clock()
    row.summary = {"skipped": reason, "runs": []}
    ctx.db.write(row)
