"""the scheduler's jobs as plain JSON, not pickles

Revision ID: 0007_plain_jobs
Revises: 0006_environment_events
Create Date: 2026-12-02 05:40:00

``apscheduler_jobs`` held each job as APScheduler's pickle, which drill's scheduler
unpickled as jobs came due (a planted row ran its own code until an allow-list of what
a job may hold, 44c519f). drill's job store now keeps a job as JSON (:mod:`orchestrator.schedule.jobrows`) and
never unpickles. Each row is rewritten here from its schedule — nothing is unpickled:
a job of drill's is its schedule's trigger, and the row's ``next_run_time`` column is
kept, so fires already run, missed or skipped are not taken up again. A row whose
schedule is gone or removed is deleted (the scheduler's sync would drop it), and so is
one whose spec this drill cannot build a trigger of (the sync says why).

The trigger is the one the schedule's spec gives today; a cron restricting both the day
of the month and the day of the week had been stored with APScheduler's both-must-match
rule, so its next run is the sooner of the stored one and the new rule's next fire from
now. Schema unchanged; the revision also keeps an older drill (which would unpickle)
from starting on the store.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0007_plain_jobs"
down_revision = "0006_environment_events"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from orchestrator.schedule import specs
    from orchestrator.schedule.jobrows import JobDoc, job_name

    conn = op.get_bind()
    jobs = list(conn.execute(sa.text("SELECT id, next_run_time FROM apscheduler_jobs")))
    if not jobs:
        return
    schedules = {
        row[0]: row
        for row in conn.execute(
            sa.text(
                "SELECT id, action, target, env, kind, expr, timezone, start_at FROM schedule "
                "WHERE removed_at IS NULL"
            )
        )
    }
    now = datetime.now(UTC)
    for job_id, stored in jobs:
        row = schedules.get(job_id)
        if row is None:
            conn.execute(sa.text("DELETE FROM apscheduler_jobs WHERE id = :i"), {"i": job_id})
            continue
        _id, action, target, env, kind, expr, timezone, start_at = row
        try:
            doc = JobDoc(job_name(action, target, env), kind, expr, timezone, _utc(start_at))
            nxt = specs.next_fire(specs.build_trigger(kind, expr, timezone, doc.start_at), now)
        except Exception:  # a spec this drill cannot build: the sync tries, and says why
            conn.execute(sa.text("DELETE FROM apscheduler_jobs WHERE id = :i"), {"i": job_id})
            continue
        nxt_ts = None if nxt is None else nxt.timestamp()
        if stored is not None and (nxt_ts is None or stored < nxt_ts):
            nxt_ts = stored
        conn.execute(
            sa.text("UPDATE apscheduler_jobs SET job_state = :s, next_run_time = :n WHERE id = :i"),
            {"s": doc.encode(), "n": nxt_ts, "i": job_id},
        )


def _utc(value: Any) -> datetime:
    """A timestamp column read raw: naive UTC (PostgreSQL) or its text (SQLite)."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return moment.replace(tzinfo=UTC)


def downgrade() -> None:
    raise NotImplementedError("drill no longer writes APScheduler's pickles")
