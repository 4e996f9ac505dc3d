"""evidence chain: on SQLite, seq becomes the table's rowid

Revision ID: 0004_chain_rowid
Revises: 0002_chain, 0003_schedule
Create Date: 2026-11-25 17:20:00

Why: ``seq BIGINT PRIMARY KEY`` is not a rowid alias on SQLite, so every entry was
stored twice (the table under a hidden rowid, and a unique index on seq) and every
lookup by number — the predecessor of each entry in ``drill evidence verify``, the
newest entry of each record — went through that index first. ``seq INTEGER PRIMARY
KEY`` is the rowid itself: one B-tree, and the record index carries seq for free.
Nothing else changes: the same columns, values and order; PostgreSQL is untouched.

A chain whose numbers are no longer unique integers has been tampered with: it is left
exactly as it is, for ``drill evidence verify`` to report.
"""

from __future__ import annotations

from alembic import op

revision = "0004_chain_rowid"
down_revision = ("0002_chain", "0003_schedule")
branch_labels = None
depends_on = None

_COLUMNS = "seq, table_name, pk, op, run_id, digest, at, prev, hash"


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    duplicates, odd = bind.exec_driver_sql(
        "SELECT count(*) - count(DISTINCT seq), coalesce(sum(typeof(seq) <> 'integer'), 0) "
        "FROM evidence_chain").one()
    if duplicates or odd:
        return
    op.execute("""
        CREATE TABLE evidence_chain_rowid (
            seq INTEGER NOT NULL,
            table_name VARCHAR(128) NOT NULL,
            pk VARCHAR(256) NOT NULL,
            op VARCHAR(8) NOT NULL,
            run_id VARCHAR(64),
            digest VARCHAR(64) NOT NULL,
            at VARCHAR(32) NOT NULL,
            prev VARCHAR(64) NOT NULL,
            hash VARCHAR(64) NOT NULL,
            PRIMARY KEY (seq)
        )""")
    op.execute(f"INSERT INTO evidence_chain_rowid ({_COLUMNS}) "
               f"SELECT {_COLUMNS} FROM evidence_chain ORDER BY seq")
    op.execute("DROP TABLE evidence_chain")
    op.execute("ALTER TABLE evidence_chain_rowid RENAME TO evidence_chain")
    op.execute("CREATE INDEX ix_evidence_chain_record ON evidence_chain (table_name, pk)")


def downgrade() -> None:
    """Nothing to undo: the rebuilt table reads and writes exactly as before."""
