"""the evidence journal; schedule_run_args; the (target, started_at) index of run

Revision ID: 0005_event_journal
Revises: 0004_chain_rowid
Create Date: 2026-11-30 21:00:00

Everything this version adds to a store of the released one (0004_chain_rowid), in one
revision in place of 0005_journal, 0006_journal_lean, 0006_schedule_run_args and
0007_run_target_started, which never shipped apart:

- ``journal`` (DESIGN section 14). The old chain (``evidence_chain``: one entry per
  committed row version, hashing a digest of the row) is verified first — every link,
  and every record against its newest entry, with the old reference definition below —
  and the upgrade stops, changing nothing, if it does not verify. Then one
  ``journal.migrated`` event records the old chain's head (``old_chain.head_seq`` /
  ``head_hash``, so continuity with earlier exports can be checked), followed by one
  ``<table>.migrated`` event per record holding its current state, in the order of its
  newest old entry; ``evidence_chain`` is dropped.
- ``schedule_run_args``: the --var / --var-file options a scheduled experiment runs with.
- ``ix_run_target_started_at``: the newest run of a drill and the runs of a period
  without sorting every run (with 100,000 runs, `drill status` took seconds).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0005_event_journal"
down_revision = "0004_chain_rowid"
branch_labels = None
depends_on = None

_OLD = "evidence_chain"


def upgrade() -> None:
    op.create_table(
        "journal",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=False,
        ),
        sa.Column("prev", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("event", sa.LargeBinary(), nullable=False),
    )
    op.create_table(
        "schedule_run_args",
        sa.Column("schedule_id", sa.String(), nullable=False),
        sa.Column("run_args", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("schedule_id"),
    )
    op.create_index("ix_run_target_started_at", "run", ["target", "started_at"])
    bind = op.get_bind()
    if sa.inspect(bind).has_table(_OLD):
        _convert(bind)
        op.drop_table(_OLD)


def downgrade() -> None:
    raise NotImplementedError("the journal cannot be turned back into the old chain")


def _value(v: Any) -> Any:
    """The old canonical form of a value read with ``_SA_TYPES`` (timestamps are naive UTC;
    the Enum, Decimal and date cases of the old code cannot occur with these types)."""
    if isinstance(v, datetime):
        return v.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(v, bytes):
        return "sha256:" + hashlib.sha256(v).hexdigest()
    return v


def _digest(row: sa.Row[Any]) -> str:
    doc = {k: _value(v) for k, v in row._mapping.items() if v is not None}
    return hashlib.sha256(
        json.dumps(
            doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
        ).encode()
    ).hexdigest()


def _fail(what: str) -> None:
    from orchestrator.errors import EvidenceTampered

    raise EvidenceTampered(
        f"the evidence chain does not verify ({what}); the database was "
        "not upgraded to the journal",
        "restore the evidence database from a backup, or keep this copy "
        "as it is for an investigation",
    )


_SA_TYPES: dict[str, Any] = {
    "str": sa.String,
    "int": sa.Integer,
    "float": sa.Float,
    "bool": sa.Boolean,
    "datetime": sa.DateTime,
    "json": sa.JSON,
    "bytes": sa.LargeBinary,
}


def _table(spec: Any) -> sa.Table:
    """The projection as SQLAlchemy reads it (the old chain's digests were of such rows)."""
    return sa.Table(
        spec.name,
        sa.MetaData(),
        *[sa.Column(n, _SA_TYPES[t]()) for n, t in zip(spec.names, spec.types, strict=True)],
    )


def _convert(bind: sa.Connection) -> None:
    from orchestrator.evidence import journal
    from orchestrator.evidence.records import projections

    prev, expected = journal.GENESIS, 1
    latest: dict[tuple[str, str], tuple[int, str, str]] = {}
    for seq, table, pk, op_, run_id, digest, at, stored_prev, stored_hash in bind.execute(
        sa.text(
            f"SELECT seq, table_name, pk, op, run_id, digest, at, prev, hash "
            f"FROM {_OLD} ORDER BY seq"
        )
    ):
        pre = f"{seq}\n{table}\n{pk}\n{op_}\n{run_id or ''}\n{digest}\n{at}\n{stored_prev}"
        if (
            seq != expected
            or stored_prev != prev
            or hashlib.sha256(pre.encode()).hexdigest() != stored_hash
        ):
            _fail(f"entry #{seq}")
        expected, prev = seq + 1, stored_hash
        latest[(table, pk)] = (seq, op_, digest)
    postgres = bind.dialect.name == "postgresql"
    order: list[tuple[int, journal.Change]] = []
    for spec in projections():
        if not sa.inspect(bind).has_table(spec.name):
            continue
        table = _table(spec)
        read = journal.reader(spec.types, postgres)
        i = spec.names.index(spec.pk)
        raw = {str(r[i]): r for r in bind.exec_driver_sql(spec.select())}
        for row in bind.execute(sa.select(table)):
            pk = str(row._mapping[spec.pk])
            entry = latest.pop((spec.name, pk), None)
            if entry is None or entry[1] == "delete" or _digest(row) != entry[2]:
                _fail(f"{spec.name} {pk}")
            assert entry is not None
            data = dict(zip(spec.names, read(raw[pk]), strict=True))
            run = data.get(spec.run_col) if spec.run_col else None
            order.append(
                (entry[0], (spec.name, "migrated", pk, None if run is None else str(run), data))
            )
    if any(op_ != "delete" for _, op_, _ in latest.values()):
        _fail("a chained record was deleted")
    if expected == 1 and not order:
        return  # a new database: nothing to carry over
    head = {"entries": expected - 1, "head_seq": expected - 1, "head_hash": prev}
    order.sort(key=lambda item: item[0])
    changes: list[journal.Change] = [
        ("journal", "migrated", "0", None, {"old_chain": head, "records": len(order)})
    ]
    journal.append(bind.connection.driver_connection, changes + [c for _, c in order], postgres)
