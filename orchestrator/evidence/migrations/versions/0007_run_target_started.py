"""run: index (target, started_at) for the newest run of a drill and runs in a period

Revision ID: 0007_run_target_started
Revises: 0006_schedule_run_args
Create Date: 2026-11-30 15:55:00

Without it SQLite sorts every run of a drill to find its newest one: with 100,000
runs `drill status` and the dashboard's overview took seconds instead of milliseconds.

"""

from __future__ import annotations

from alembic import op

revision = "0007_run_target_started"
down_revision = "0006_schedule_run_args"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # IF NOT EXISTS (SQLite and PostgreSQL): a store whose version table was rewound by
    # hand, as migration tests do, may already have it
    op.execute("CREATE INDEX IF NOT EXISTS ix_run_target_started_at ON run (target, started_at)")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_run_target_started_at")
