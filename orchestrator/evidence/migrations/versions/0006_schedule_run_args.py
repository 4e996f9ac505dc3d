"""schedule_run_args: the --var / --var-file options a scheduled experiment runs with

Revision ID: 0006_schedule_run_args
Revises: 0005_journal
Create Date: 2026-11-30 16:05:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_schedule_run_args"
down_revision = "0005_journal"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "schedule_run_args",
        sa.Column("schedule_id", sa.String(), nullable=False),
        sa.Column("run_args", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("schedule_id"),
    )


def downgrade() -> None:
    op.drop_table("schedule_run_args")
