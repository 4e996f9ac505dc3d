"""a partial index of the journal's environment events

Revision ID: 0006_environment_events
Revises: 0005_event_journal
Create Date: 2026-12-01 02:40:00

An export checks the environment records of its runs against their newest events. Such
a record is usually written once, with the store's first run, so finding its events by
reading the journal cost a pass over all of it (0.4 s warm, 2.5 s cold on 1.5M events).
This index holds only environment events (a handful), on SQLite and PostgreSQL alike;
:data:`orchestrator.evidence.journal.ENVIRONMENT_EVENTS` is its predicate, which a query
must repeat literally to use it.
"""

from __future__ import annotations

from alembic import op

from orchestrator.evidence.journal import ENVIRONMENT_EVENTS

revision = "0006_environment_events"
down_revision = "0005_event_journal"
branch_labels = None
depends_on = None


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.execute(
        f"CREATE INDEX ix_journal_environment ON journal (seq) WHERE {ENVIRONMENT_EVENTS[dialect]}"
    )


def downgrade() -> None:
    op.drop_index("ix_journal_environment", "journal")
