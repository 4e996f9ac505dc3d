"""The projection tables, and how an ORM session's writes reach the journal.

Every SQLModel table is a projection of the journal unless it opts out
(``__table_args__ = {"info": {"chain": False}}``: heartbeats, APScheduler's working
state, webhook configuration). :func:`projections` describes them for the verifier and
the migration; :func:`journaled` makes one session's flushes journaled.

Why a per-session hook, and only here: the scheduler, findings and game-day code write
through :meth:`EvidenceStore.session`, which calls :func:`journaled` on the session it
hands out. Its listeners are attached to that one session (nothing global); after each
flush they read the flushed rows back and give them to :func:`journal.append` on the
same connection, inside the same transaction — the one writer the run engine's
:class:`~orchestrator.evidence.writer.EvidenceDB` uses too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session
from sqlmodel import SQLModel

from orchestrator.errors import RecordImmutable
from orchestrator.evidence import journal
from orchestrator.evidence.journal import ColumnType

_EXEMPT = {journal.TABLE, "alembic_version"}


@dataclass(frozen=True)
class Projection:
    """One projection table: its columns (in order) with their storage type."""

    name: str
    names: list[str]
    types: list[ColumnType]
    pk: str
    run_col: str | None

    def select(self) -> str:
        cols = ", ".join(f'"{n}"' for n in self.names)
        return f'SELECT {cols} FROM "{self.name}"'


def _type(col: sa.Column[Any]) -> ColumnType:
    t = getattr(col.type, "impl_instance", col.type)
    for cls, name in ((sa.Boolean, "bool"), (sa.DateTime, "datetime"), (sa.JSON, "json"),
                      (sa.LargeBinary, "bytes"), (sa.Float, "float"), (sa.Integer, "int")):
        if isinstance(t, cls):
            return name  # type: ignore[return-value]
    return "str"


def is_projection(table: sa.Table) -> bool:
    return table.name not in _EXEMPT and table.info.get("chain", True) is not False


def _spec(table: sa.Table) -> Projection:
    names = [c.name for c in table.columns]
    (pk,) = [c.name for c in table.primary_key.columns]
    return Projection(table.name, names, [_type(c) for c in table.columns], pk,
                      journal.run_column(table.name, names))


def projections() -> list[Projection]:
    """Every projection table, from the complete metadata."""
    import orchestrator.evidence.schema  # noqa: F401  (registers every table module)

    return [_spec(t) for t in SQLModel.metadata.sorted_tables if is_projection(t)]


# ---- ORM sessions -------------------------------------------------------------------

def _table(obj: Any) -> sa.Table | None:
    table = getattr(type(obj), "__table__", None)
    return table if isinstance(table, sa.Table) and is_projection(table) else None


def _run_of(table: sa.Table, obj: Any) -> Any:
    return getattr(obj, "id" if table.name == "run" else "run_id", None)


def _guard(conn: sa.Connection, table: sa.Table, pk: Any, run_id: Any, verb: str) -> None:
    if table.name in journal.MUTABLE_AFTER_RUN or run_id is None:
        return
    ended = conn.execute(sa.text("SELECT ended_at FROM run WHERE id = :id"),
                         {"id": run_id}).scalar()
    if ended is not None:
        raise journal.finished_run_error(table.name, str(pk), run_id, verb)


def _before_flush(session: Session, _ctx: Any, _instances: Any) -> None:
    conn = session.connection()
    for obj in [*session.new, *session.dirty]:
        table = _table(obj)
        if table is None:
            continue
        if obj in session.dirty:
            if not session.is_modified(obj, include_collections=False):
                continue
            _guard(conn, table, _pk(obj), _run_of(table, obj), "change")
        types = {n: _type(c) for n, c in table.c.items()}
        for name, value in journal.redact_values(
                {n: getattr(obj, n, None) for n in types}, types).items():
            if value != getattr(obj, name, None):
                setattr(obj, name, value)
    for obj in session.deleted:
        table = _table(obj)
        if table is not None:
            _guard(conn, table, _pk(obj), _run_of(table, obj), "be deleted")


def _pk(obj: Any) -> Any:
    (pk,) = sa.inspect(obj).mapper.primary_key_from_instance(obj)
    return pk


def _after_flush(session: Session, _ctx: Any) -> None:
    found: list[tuple[sa.Table, str, Any]] = []
    for op, objs in (("insert", session.new), ("update", session.dirty),
                     ("delete", session.deleted)):
        for obj in objs:
            table = _table(obj)
            if table is None or (op == "update" and not session.is_modified(
                    obj, include_collections=False)):
                continue
            found.append((table, op, _pk(obj)))
    if not found:
        return
    conn = session.connection()
    postgres = conn.dialect.name == "postgresql"
    raw = conn.connection.driver_connection
    assert raw is not None
    ph = "%s" if postgres else "?"
    changes: list[journal.Change] = []
    for table, op, pk in found:
        spec = _spec(table)
        if op == "delete":
            row = None
        else:
            row = raw.execute(f'{spec.select()} WHERE "{spec.pk}" = {ph}', (pk,)).fetchone()
        data = (None if row is None
                else dict(zip(spec.names, journal.reader(spec.types, postgres)(row),
                              strict=True)))
        run = data.get(spec.run_col) if data and spec.run_col else None
        changes.append((table.name, op, str(pk), None if run is None else str(run), data))
    journal.append(raw, changes, postgres)


def _on_orm_execute(state: Any) -> None:
    """Bulk ``update(Model)`` / ``delete(Model)`` would bypass the journal: refused."""
    if not (state.is_update or state.is_delete):
        return
    table = getattr(state.statement, "table", None)
    if isinstance(table, sa.Table) and (is_projection(table) or table.name == journal.TABLE):
        raise RecordImmutable(
            f"a bulk {'delete' if state.is_delete else 'update'} of {table.name} would "
            "bypass the evidence journal", "change records one by one through a session")


def journaled(session: Session) -> Session:
    """Journal every flush of ``session`` (listeners on this session only)."""
    event.listen(session, "before_flush", _before_flush)
    event.listen(session, "after_flush", _after_flush)
    event.listen(session, "do_orm_execute", _on_orm_execute)
    return session


#: The journal itself (migration 0005_journal), declared so the metadata is complete.
journal_table = sa.Table(
    journal.TABLE, SQLModel.metadata,
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
              autoincrement=False),
    sa.Column("prev", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Column("event", sa.LargeBinary(), nullable=False),
    info={"chain": False},
)
