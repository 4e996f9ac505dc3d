"""Append-only hash chain over every evidence record (DESIGN section 8).

Every committed *version* of every evidence row becomes one :class:`ChainEntry`:
``(seq, table, pk, op, digest, at, prev) → hash``, where ``digest`` is the sha256 of
the row's canonical JSON and ``prev`` the hash of the entry before it. Chaining each
version (not only the first) is what lets the run engine keep updating a run while
it runs (status, ended_at; steps pending → running → succeeded) and still have every
state it went through anchored; :mod:`orchestrator.evidence.chain_verify` checks that
the newest version of each record is exactly what the database holds.

Why session events rather than explicit calls: every writer (engine, recovery,
findings workflow, features other engineers add later) goes through an ORM session,
so installing ``before_flush`` / ``after_flush`` listeners on the Session class chains
all of them without each remembering to. Entries are written in the same transaction
as the rows, so a rollback discards both. Tables are chained unless they opt out
(:data:`EXEMPT`, or ``__table_args__ = {"info": {"chain": False}}``).

The canonical JSON is computed from the row *read back from the database* after the
flush (one indexed SELECT per table per flush), with the same code ``verify`` uses:
what is hashed is what is stored, whatever Python value was assigned. NULL columns are
left out, so a migration that adds a nullable column does not break old digests.

Records of a finished run (``run.ended_at`` set) are immutable: updating or deleting
them raises :class:`~orchestrator.errors.RecordImmutable`. Findings are the exception
(their owner / due date / resolution change after the run; each change is chained).

Concurrency: on PostgreSQL an advisory transaction lock serialises appends (held to
commit); on SQLite the flush already holds the database's single write lock.
"""

from __future__ import annotations

import hashlib
import weakref
from collections.abc import Callable
from functools import cached_property
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session
from sqlmodel import Field, SQLModel

from orchestrator.errors import RecordImmutable
from orchestrator.evidence.canonical import (  # noqa: F401  (re-exported: the chain's API)
    CHAIN_TABLE,
    GENESIS,
    HEAD_SQL,
    MUTABLE_AFTER_RUN,
    PG_CHAIN_LOCK_KEY,
    Kind,
    canonical_row,
    chain_entries,
    compile_canon,
    compile_digest,
    finished_run_error,
    link_hash,
    pk_string,
    row_digest,
    run_column_name,
)

#: Tables that never join the chain (opt-out list; everything else is evidence).
EXEMPT: set[str] = {CHAIN_TABLE, "alembic_version"}


class ChainEntry(SQLModel, table=True):
    """One link: a committed version (or the deletion) of one evidence record."""

    __tablename__ = CHAIN_TABLE
    __table_args__ = (sa.Index("ix_evidence_chain_record", "table_name", "pk"),)

    # On SQLite, INTEGER PRIMARY KEY makes seq the rowid (migration 0004_chain_rowid)
    seq: int = Field(sa_column=sa.Column(sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                                         primary_key=True, autoincrement=False))
    table_name: str = Field(max_length=128)
    pk: str = Field(max_length=256)
    op: str = Field(max_length=8)  # insert | update | delete
    run_id: str | None = Field(default=None, max_length=64)  # the run it is evidence of
    digest: str = Field(max_length=64)  # sha256 of the canonical row ("" for delete)
    at: str = Field(max_length=32)  # when it was chained, ISO 8601 UTC
    prev: str = Field(max_length=64)
    hash: str = Field(max_length=64)


# ---- the canonical form from raw driver values (write path and verify) -------------

_PG_FLOAT8 = 701  # type code of PostgreSQL's double precision (what sa.Float creates)


def _result_processor(col: sa.Column[Any], dialect: sa.Dialect) -> Any:
    """SQLAlchemy's result processor of ``col`` (None: the driver's value as is), or
    False when it cannot be known without a cursor."""
    impl = col.type.dialect_impl(dialect)
    try:
        return impl.result_processor(dialect, None)
    except Exception:  # psycopg's numerics pick a processor by the column's type code
        pass
    base = getattr(col.type, "impl_instance", col.type)
    if (dialect.name == "postgresql" and isinstance(base, sa.Float)
            and not base.asdecimal):
        try:
            return impl.result_processor(dialect, _PG_FLOAT8)
        except Exception:
            return False
    return False


_PLAIN_KINDS: list[tuple[type, Kind]] = [
    (sa.String, "str"), (sa.Integer, "int"), (sa.Float, "float"), (sa.Boolean, "bool")]


def _not_plain(row: Any) -> bytes:
    raise TypeError("not a plain table: use canonical_row on SQLAlchemy's values")


class RowCanon:
    """Canonical bytes of one table's rows, computed from *raw* driver tuples.

    ``sql`` selects the columns in ``names`` order without type processing; calling the
    object turns one raw row into exactly :func:`canonical_row` of the row SQLAlchemy
    would return, so a digest is the same whether the write path or ``verify`` reads it:

    - columns without a result processor (strings, integers, floats, blobs; timestamps on
      PostgreSQL): the driver's value; what is not JSON goes through :func:`_value`;
    - SQLite ``DATETIME`` text in SQLAlchemy's format (``YYYY-MM-DD HH:MM:SS.ffffff``,
      26 characters, year ≥ 1000) is rewritten to ``YYYY-MM-DDTHH:MM:SS.ffffffZ``
      directly (a one-to-one rewrite: other 26-character text cannot pass for it); any
      other text is parsed by SQLAlchemy as before;
    - SQLite booleans 0/1 → false/true (any other stored value stays as it is, so it
      cannot pass for a boolean);
    - every other column: SQLAlchemy's own result processor, then :func:`_value`.

    If a column's processor cannot be built without a live cursor, or a key column (primary
    key, run id) is processed, ``plain`` is False and callers use the reference path
    (SQLAlchemy select + :func:`canonical_row`).
    """

    def __init__(self, table: sa.Table, dialect: sa.Dialect) -> None:
        self.table = table
        self.names = [c.name for c in table.columns]
        self.pk_idx = [self.names.index(c.name) for c in table.primary_key.columns]
        rcol = run_column(table)
        self.run_idx = self.names.index(rcol) if rcol else None
        prep = dialect.identifier_preparer
        self.sql = (f"SELECT {', '.join(prep.quote(n) for n in self.names)} "
                    f"FROM {prep.quote(table.name)}")
        self.plain = True
        sqlite = dialect.name == "sqlite"
        keys = {*self.pk_idx, *([self.run_idx] if self.run_idx is not None else [])}
        # The generated function writes the JSON object member by member, keys in sorted
        # order, each value as json.dumps would: a str/int/float of the column's declared
        # type directly (encode_basestring, int/float repr), anything else — a blob, a
        # value of an unexpected type, NaN/inf, JSON documents — through the encoder.
        columns: list[tuple[str, Kind, Any]] = []
        for i, col in enumerate(table.columns):
            base = getattr(col.type, "impl_instance", col.type)
            proc = _result_processor(col, dialect)
            if proc is False:  # e.g. a numeric type that needs the driver's type code
                proc, self.plain = None, False
            if proc is not None and i in keys:
                self.plain = False
            kind: Kind = "processed"
            if proc is None:
                kind = next((k for t, k in _PLAIN_KINDS if isinstance(base, t)), "processed")
            elif sqlite and isinstance(base, sa.DateTime):
                kind = "sqlite_ts"
            elif sqlite and isinstance(base, sa.Boolean):
                kind = "bool01"
            columns.append((col.name, kind, proc))
        self.columns = columns
        self._canon: Callable[[Any], bytes] = (
            compile_canon(table.name, columns) if self.plain else _not_plain)

    def __call__(self, row: Any) -> bytes:
        return self._canon(row)

    def digest(self, row: Any) -> str:
        return hashlib.sha256(self._canon(row)).hexdigest()

    @cached_property
    def sql_digest(self) -> Callable[..., str | None]:
        """The digest as a function of the row's columns as arguments (an SQL function:
        see :func:`~orchestrator.evidence.canonical.compile_digest`); plain tables only."""
        return compile_digest(self.table.name, self.columns)

    def pk(self, row: Any) -> str:
        return pk_string(row[i] for i in self.pk_idx)


_CANONS: dict[tuple[str, sa.Table], RowCanon] = {}


def row_canon(table: sa.Table, dialect: sa.Dialect) -> RowCanon:
    """The (cached) :class:`RowCanon` of ``table`` on ``dialect``."""
    canon = _CANONS.get((dialect.name, table))
    if canon is None:
        canon = _CANONS[(dialect.name, table)] = RowCanon(table, dialect)
    return canon


def run_column(table: sa.Table) -> str | None:
    """The column naming the run a row is evidence of (``id`` for ``run`` itself)."""
    return run_column_name(table.name, list(table.c.keys()))


def is_chained(table: sa.Table) -> bool:
    return table.name not in EXEMPT and table.info.get("chain", True) is not False


def chained_tables() -> list[sa.Table]:
    """Every evidence table that joins the chain, from the complete metadata."""
    import orchestrator.evidence.schema  # noqa: F401  (registers every table module)

    return [t for t in SQLModel.metadata.sorted_tables if is_chained(t)]


# ---- appending --------------------------------------------------------------------------

def head(conn: sa.Connection) -> tuple[int, str]:
    row = conn.execute(sa.text(HEAD_SQL)).first()
    return (int(row[0]), str(row[1])) if row else (0, GENESIS)


def lock_chain(conn: sa.Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_CHAIN_LOCK_KEY})


def append(conn: sa.Connection,
           changes: list[tuple[sa.Table, str, list[tuple[tuple[Any, ...], Any]]]]) -> int:
    """Chain ``changes`` = [(table, op, [(pk, run_id)…])…]; rows are read back from ``conn``."""
    items: list[tuple[str, str, str, str | None, str]] = []  # table, pk, op, run, digest
    for table, op, keys in changes:
        if not keys:
            continue
        if op == "delete":
            items.extend((table.name, pk_string(pk), op, _str(run), "") for pk, run in keys)
            continue
        canon = row_canon(table, conn.dialect)
        pk_cols = list(table.primary_key.columns)
        r_idx = canon.run_idx
        # raw driver values (untyped columns), canonicalised exactly as verify does
        cols: list[Any] = ([sa.column(n) for n in canon.names] if canon.plain
                           else list(table.columns))
        pks = [pk for pk, _ in keys]
        for start in range(0, len(pks), 500):
            chunk = pks[start:start + 500]
            where = (pk_cols[0].in_([p[0] for p in chunk]) if len(pk_cols) == 1
                     else sa.tuple_(*pk_cols).in_(chunk))
            for row in conn.execute(sa.select(*cols).select_from(table).where(where)):
                items.append((table.name, canon.pk(row), op,
                              _str(row[r_idx]) if r_idx is not None else None,
                              canon.digest(row) if canon.plain
                              else row_digest(canon.names, row)))
    if not items:
        return 0
    lock_chain(conn)
    names = [c.name for c in ChainEntry.__table__.columns]  # type: ignore[attr-defined]
    rows = [dict(zip(names, entry, strict=True))
            for entry in chain_entries(head(conn), items)]
    conn.execute(sa.insert(ChainEntry.__table__), rows)  # type: ignore[attr-defined]
    return len(rows)


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


# ---- session events ---------------------------------------------------------------------

_ENABLED: weakref.WeakKeyDictionary[sa.Engine, bool] = weakref.WeakKeyDictionary()


def _chain_conn(session: Session) -> sa.Connection | None:
    """The session's connection, if its database has a chain (i.e. is migrated)."""
    conn = session.connection()
    if _ENABLED.get(conn.engine):
        return conn
    if sa.inspect(conn).has_table(CHAIN_TABLE):
        _ENABLED[conn.engine] = True
        return conn
    return None


def _table_of(obj: Any) -> sa.Table | None:
    table = getattr(type(obj), "__table__", None)
    return table if isinstance(table, sa.Table) else None


def _pk_of(obj: Any) -> tuple[Any, ...]:
    return tuple(sa.inspect(obj).mapper.primary_key_from_instance(obj))


def _guard(conn: sa.Connection, table: sa.Table, pk: tuple[Any, ...], run_id: Any,
           verb: str) -> None:
    """Refuse to change the chain itself or evidence of a run that has ended."""
    if table.name == CHAIN_TABLE:
        raise RecordImmutable("the evidence chain is append-only; its entries cannot "
                              f"{verb}", "nothing in drill needs to change them")
    if not is_chained(table) or table.name in MUTABLE_AFTER_RUN or run_id is None:
        return
    ended = conn.execute(sa.text("SELECT ended_at FROM run WHERE id = :id"),
                         {"id": run_id}).scalar()
    if ended is not None:
        raise finished_run_error(table.name, pk_string(pk), run_id, verb)


def _run_id_of(table: sa.Table, obj: Any) -> Any:
    if table.name == "run":
        return getattr(obj, "id", None)
    return getattr(obj, "run_id", None)


def _before_flush(session: Session, _ctx: Any, _instances: Any) -> None:
    if not session.dirty and not session.deleted:
        return
    conn = _chain_conn(session)
    if conn is None:
        return
    for obj in list(session.dirty):
        table = _table_of(obj)
        if table is not None and session.is_modified(obj, include_collections=False):
            _guard(conn, table, _pk_of(obj), _run_id_of(table, obj), "change")
    for obj in list(session.deleted):
        table = _table_of(obj)
        if table is not None:
            _guard(conn, table, _pk_of(obj), _run_id_of(table, obj), "be deleted")


def _after_flush(session: Session, _ctx: Any) -> None:
    groups: dict[tuple[str, str], tuple[sa.Table, list[tuple[tuple[Any, ...], Any]]]] = {}

    def note(obj: Any, op: str) -> None:
        table = _table_of(obj)
        if table is not None and is_chained(table):
            groups.setdefault((table.name, op), (table, []))[1].append(
                (_pk_of(obj), _run_id_of(table, obj)))

    for obj in session.new:
        note(obj, "insert")
    for obj in session.dirty:
        if session.is_modified(obj, include_collections=False):
            note(obj, "update")
    for obj in session.deleted:
        note(obj, "delete")
    if not groups:
        return
    conn = _chain_conn(session)
    if conn is not None:
        append(conn, [(table, op, pks) for (_, op), (table, pks) in groups.items()])


def _on_orm_execute(state: Any) -> Any:
    """Bulk ``update(Model)`` / ``delete(Model)`` through a session: chain them too."""
    if not (state.is_update or state.is_delete):
        return None
    table = getattr(state.statement, "table", None)
    if not isinstance(table, sa.Table) or not (is_chained(table) or table.name == CHAIN_TABLE):
        return None
    conn = _chain_conn(state.session)
    if conn is None:
        return None
    verb = "be deleted" if state.is_delete else "change"
    pk_cols = list(table.primary_key.columns)
    run_col = table.c.get("id" if table.name == "run" else "run_id")
    query = sa.select(*pk_cols, *([run_col] if run_col is not None else []))
    if state.statement.whereclause is not None:
        query = query.where(state.statement.whereclause)
    pks = []
    for row in conn.execute(query):
        pk = tuple(row[: len(pk_cols)])
        run_id = row[-1] if run_col is not None else None
        _guard(conn, table, pk, run_id, verb)
        pks.append((pk, run_id))
    result = state.invoke_statement()
    append(conn, [(table, "delete" if state.is_delete else "update", pks)])
    return result


_installed: list[bool] = []


def install() -> None:
    """Chain every ORM write (idempotent; also done on import)."""
    if _installed:
        return
    event.listen(Session, "before_flush", _before_flush)
    event.listen(Session, "after_flush", _after_flush)
    event.listen(Session, "do_orm_execute", _on_orm_execute)
    _installed.append(True)


install()
