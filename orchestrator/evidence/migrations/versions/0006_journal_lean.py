"""journal: only seq, prev, hash and the event (the index columns of 0005's first version go)

Revision ID: 0006_journal_lean
Revises: 0005_journal
Create Date: 2026-11-30 16:10:00

The first version of 0005 kept ``kind``, ``run_id`` and ``pk`` beside each event to find a
run's events; they repeated the event's own bytes, so verify had to read and check them
too. The export now finds its events by their time, and nothing but the four columns of
DESIGN section 14 is stored. A database created by the current 0005 has nothing to drop.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_journal_lean"
down_revision = "0005_journal"
branch_labels = None
depends_on = None


def upgrade() -> None:
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("journal")}
    extra = [c for c in ("kind", "run_id", "pk") if c in columns]
    if not extra:
        return
    with op.batch_alter_table("journal") as batch:
        if "run_id" in extra:
            batch.drop_index("ix_journal_run_id")
        for name in extra:
            batch.drop_column(name)


def downgrade() -> None:
    """Nothing to undo: the columns were never read."""
