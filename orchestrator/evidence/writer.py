"""The evidence database: the one writer of every journaled table, plain DB-API.

The run engine, recovery, ``drill abort``, the scheduler, findings and game days all
write their records (:mod:`orchestrator.evidence.records`,
:mod:`orchestrator.schedule.records`) with :meth:`EvidenceDB.write` and read them with
:meth:`~EvidenceDB.records` / :meth:`~EvidenceDB.get` / :meth:`~EvidenceDB.query`.
Why not the ORM: ``drill run`` of a one-probe experiment must cost about what ``chaos
run`` costs, and importing SQLAlchemy + SQLModel alone costs more than that. This module
needs only ``sqlite3`` (or ``psycopg`` for PostgreSQL). Every write updates the record's
projection row, reads it back and appends its new state as an event to the journal
(:mod:`orchestrator.evidence.journal`) in the same transaction — what the event holds
is what the table holds, so ``drill evidence verify`` can compare them value for value.

The schema itself stays Alembic's job: :meth:`EvidenceDB.open` compares the database's
revision with the newest shipped one and only then imports the migration machinery.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from orchestrator.errors import (
    DrillError,
    EvidenceTampered,
    RecordImmutable,
    StoreUnavailable,
    first_line,
)
from orchestrator.evidence import journal
from orchestrator.evidence.journal import ColumnType
from orchestrator.evidence.records import Record, projection
from orchestrator.secrets import redact, redact_text

_UNSET = object()


def _q(name: str) -> str:
    """A table or column name as an SQL identifier (SQLite and PostgreSQL alike)."""
    return '"' + name.replace('"', '""') + '"'


class _Table:
    """SQL and value conversions of one record type on one dialect."""

    def __init__(self, cls: type[Record], postgres: bool) -> None:
        self.cls = cls
        spec = projection(cls)
        self.names, self.run_col = spec.names, spec.run_col
        self.types = dict(zip(spec.names, spec.types, strict=True))
        ph = "%s" if postgres else "?"
        table, pk = _q(cls.table), _q(cls.pk)
        self.select = spec.select()
        self.by_pk = f"{self.select} WHERE {pk} = {ph}"
        self.insert_names = [n for n in self.names if not (n == cls.pk and cls.autoincrement)]
        self.insert = (
            f"INSERT INTO {table} ({', '.join(map(_q, self.insert_names))}) "
            f"VALUES ({', '.join([ph] * len(self.insert_names))})"
        )
        if postgres and cls.autoincrement:
            self.insert += f" RETURNING {pk}"
        self.update_names = [n for n in self.names if n != cls.pk]
        #: the columns whose values are masked for secrets (every text and JSON value)
        self.redacted = [n for n in self.update_names if self.types[n] in ("str", "json")]
        self._ph = ph
        self.read = journal.reader(spec.types, postgres)
        self.to_db = {n: _to_db(t, postgres) for n, t in self.types.items()}
        self.from_db = [_from_db(t, postgres) for t in spec.types]

    def update_sql(self, names: Sequence[str]) -> str:
        sets = ", ".join(f"{_q(n)} = {self._ph}" for n in names)
        return f"UPDATE {_q(self.cls.table)} SET {sets} WHERE {_q(self.cls.pk)} = {self._ph}"

    def values(self, rec: Record, names: Sequence[str]) -> list[Any]:
        return [self.to_db[n](getattr(rec, n)) for n in names]

    def snapshot(self, rec: Record) -> dict[str, Any]:
        """Comparable column values, to update only what changed."""
        return {
            n: (
                json.dumps(getattr(rec, n), sort_keys=True, default=str)
                if t == "json"
                else self.to_db[n](getattr(rec, n))
            )
            for n, t in self.types.items()
        }

    def record(self, row: Sequence[Any]) -> Any:
        values: dict[str, Any] = {}
        for n, f, v in zip(self.names, self.from_db, row, strict=True):
            try:
                values[n] = f(v)
            except (ValueError, TypeError):  # drill never writes such a value
                raise self.unreadable(row, n, v) from None
        rec = self.cls(**values)
        rec._stored, rec._snapshot = True, self.snapshot(rec)
        return rec

    def unreadable(self, row: Sequence[Any], name: str, value: Any) -> EvidenceTampered:
        """A stored value drill cannot read back: the database was changed behind its
        back. Named (table, row, column) so nobody mistakes it for a bug in drill."""
        key = row[self.names.index(self.cls.pk)]
        shown = redact_text(repr(value))
        return EvidenceTampered(
            f"evidence store: {self.cls.table} {key}: {name} is {shown[:80]}, "
            f"not a {self.types[name]} drill wrote",
            "the database was changed outside drill: `drill evidence verify` names every "
            "changed record; restore it from a backup",
        )


def _none_or(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda v: None if v is None else fn(v)


def storable_text(text: str) -> str:
    """``text`` as a text column can hold it: a lone surrogate (a file name that is not
    UTF-8, as ``os.listdir`` gives it, in an activity's error) cannot be encoded for SQLite
    or PostgreSQL, and the write failed — the step stayed ``running``, the run's error
    became drill's own UnicodeEncodeError. It is kept as its escape (``\\udcff``)."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode()
    return text


def stored_time(v: datetime, postgres: bool) -> Any:
    """A time as the evidence tables store it, naive UTC: a ``datetime`` on PostgreSQL,
    text as :data:`journal.DATA_TS` on SQLite (to write it, or to compare with it)."""
    if v.tzinfo is None:
        raise ValueError("naive datetime given to the evidence store; use utcnow()")
    naive = v.astimezone(UTC).replace(tzinfo=None)
    return naive if postgres else naive.strftime(journal.DATA_TS)


def _to_db(t: ColumnType, postgres: bool) -> Callable[[Any], Any]:
    if t == "str":
        return _none_or(lambda v: v if type(v) is str else str(v))  # StrEnum → its value
    if t == "int":
        return _none_or(int)
    if t == "float":
        return _none_or(float)
    if t == "bool":
        return _none_or(bool) if postgres else _none_or(lambda v: 1 if v else 0)
    if t == "datetime":
        return _none_or(lambda v: stored_time(v, postgres))
    if t == "json":
        if postgres:
            from psycopg.types.json import Json

            return Json  # JSON null for None, as SQLAlchemy's JSON type stores it
        return json.dumps
    return _none_or(bytes)


def _from_db(t: ColumnType, postgres: bool) -> Callable[[Any], Any]:
    if t == "bool":
        return _none_or(bool)
    if t == "datetime":
        if postgres:
            return _none_or(lambda v: v.replace(tzinfo=UTC))
        return _none_or(lambda v: datetime.fromisoformat(v).replace(tzinfo=UTC))
    if t == "json" and not postgres:
        return _none_or(journal.json_sqlite)
    if t == "bytes":
        return _none_or(bytes)
    return lambda v: v


def readonly_uri(path: Path) -> str | None:
    """The URI that reads SQLite file ``path`` where a plain open cannot: its folder
    cannot be written (a read-only mount, ``chattr +i``, an auditor's archive) and no
    ``-shm`` file is beside it, which SQLite must create to open a WAL-mode database —
    it said "unable to open database file", and drill called the store damaged. With
    no write-ahead log beside it either, all of it is in the file, which nothing can
    change there: opened ``immutable`` (read-only). A log with content that SQLite
    cannot index there is one clear line. None when a plain open works (the folder is
    writable, or the -shm file exists)."""
    import os
    from urllib.parse import quote

    shm, wal = Path(f"{path}-shm"), Path(f"{path}-wal")
    if not path.exists() or shm.exists() or os.access(path.parent, os.W_OK):
        return None
    if wal.exists() and wal.stat().st_size > 0:
        raise StoreUnavailable(
            f"evidence database {path} cannot be read where it is: its folder is read-only "
            f"and SQLite must create {shm.name} beside it to read its write-ahead log "
            f"({wal.name})",
            "copy the database and its -wal file to a writable folder and name the copy "
            "with DRILL_DATABASE=sqlite:///PATH (or make the folder writable); nothing was "
            "changed",
        )
    return f"file:{quote(str(path.resolve()))}?immutable=1"


def schema_changed(exc: Exception) -> bool:
    """The driver's error for a table or column that is not as drill made it (a column of
    another type, dropped, renamed) — not a lost connection or a lock."""
    import sqlite3

    import psycopg

    if isinstance(exc, sqlite3.OperationalError):
        return str(exc).startswith("no such ")
    return isinstance(exc, psycopg.ProgrammingError)


def _file_id(path: Path) -> tuple[int, int] | None:
    """The file at ``path`` (device, inode), or None when there is none."""
    import os

    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


class EvidenceDB:
    """One evidence database, written with the DB-API driver (see the module docstring)."""

    def __init__(self, url: str, witness: Path | None = None) -> None:
        self.url = url
        #: where this machine remembers the newest head it wrote (:mod:`.witness`)
        self.witness = witness
        self._first: str | None = None  # the hash of the journal's first event
        self._unsaved: tuple[str, int, str] | None = None  # newest head, not yet remembered
        self.is_postgres = url.startswith("postgresql")
        if not self.is_postgres and not url.startswith("sqlite:///"):
            raise StoreUnavailable(
                f"unsupported evidence database URL {redact_text(url)}",
                "use sqlite:///PATH or postgresql+psycopg://…",
            )
        if self.is_postgres and "@" in url.partition("://")[2].rpartition("@")[0]:
            # libpq would take the rest of the password for the host name and say so
            raise StoreUnavailable(
                f"evidence database URL {redact_text(url)} has an at sign in its user or password",
                "percent-encode it as %40",
            )
        self._conn: Any = None
        self._file: tuple[int, int] | None = None  # the SQLite file the connection opened
        #: long-lived readers (the dashboard, the scheduler service) set it: see
        #: :meth:`_reconnecting`. A run keeps its one connection and its own handling
        #: of a store that fails mid-run (rollbacks still played, one error line).
        self.reconnect = False
        #: the dashboard's (:meth:`limit_lock_waits`): how long a read on PostgreSQL
        #: waits for a lock another session holds before it says the database is busy
        self.lock_wait_s: float | None = None
        self._tables: dict[type[Record], _Table] = {}
        self._lock = threading.RLock()

    # ---- connections ------------------------------------------------------------------
    @property
    def sqlite_path(self) -> Path:
        return Path(self.url.split("sqlite:///", 1)[1])

    def connect(self) -> Any:
        """A new autocommit DB-API connection (transactions are explicit)."""
        try:
            if self.is_postgres:
                import psycopg

                conninfo = self.url.replace("postgresql+psycopg://", "postgresql://", 1)
                pg = psycopg.connect(conninfo, autocommit=True, connect_timeout=5)
                if self.lock_wait_s is not None:
                    pg.execute(f"SET lock_timeout = {int(self.lock_wait_s * 1000)}")
                return pg
            import sqlite3

            readonly = readonly_uri(self.sqlite_path)
            if readonly is not None:  # (a write says "attempt to write a readonly database")
                return sqlite3.connect(
                    readonly, uri=True, isolation_level=None, check_same_thread=False
                )
            self.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                self.sqlite_path, timeout=30, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            return conn
        except StoreUnavailable:
            raise
        except Exception as exc:  # sqlite3.Error, psycopg.Error, OSError
            raise self._unreachable(exc) from None

    def _unreachable(self, exc: Exception) -> StoreUnavailable:
        return StoreUnavailable(
            f"evidence database {redact_text(self.url)} is unreachable: {first_line(exc)}",
            "start the database or fix `database:` in drill.yaml / DRILL_DATABASE",
        )

    def reading(self) -> Any:
        """A new connection inside one read-only snapshot (verify, export): a drill
        committing meanwhile — a row and its event — is wholly in it or not at all."""
        conn = self.connect()
        try:
            conn.execute(
                "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY" if self.is_postgres else "BEGIN"
            )
        except Exception:
            conn.close()
            raise
        return conn

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[Any]:
        """:meth:`reading` for the block, closed after it (its transaction ends unused)."""
        conn = self.reading()
        try:
            yield conn
        finally:
            conn.close()

    @property
    def IntegrityError(self) -> type[Exception]:
        """The driver's exception for a violated constraint: a :meth:`write` inserting a
        row that a unique constraint refuses (a scheduler's fire claim another won)
        raises it, having rolled back, and the record stays unwritten."""
        if self.is_postgres:
            import psycopg

            return psycopg.IntegrityError
        import sqlite3

        return sqlite3.IntegrityError

    def limit_lock_waits(self, seconds: float) -> None:
        """A long-lived reader's reads (the dashboard's) wait at most ``seconds`` for a
        PostgreSQL lock another session holds — a migration, a ``VACUUM FULL``, a stuck
        transaction — then fail "busy" (:meth:`_reconnecting`). Without it one such
        read froze the whole dashboard, /metrics too, for as long as the lock was held."""
        self.lock_wait_s = seconds
        if self.is_postgres and self._conn is not None:
            with self._lock, self._reconnecting():
                self._conn.execute(f"SET lock_timeout = {int(seconds * 1000)}")

    @contextlib.contextmanager
    def _reconnecting(self) -> Iterator[None]:
        """A PostgreSQL connection the server dropped (a restart, a failover) is let go,
        and the call says "unreachable": the next call connects afresh, so a long-lived
        reader (the dashboard, the scheduler) recovers when the database does."""
        try:
            yield
        except Exception as exc:
            if (busy := self._busy(exc)) is not None:
                raise busy from None
            conn = self._conn
            lost = self.is_postgres and conn is not None and (conn.broken or conn.closed)
            if not (self.reconnect and lost):
                raise
            self._conn = None
            with contextlib.suppress(Exception):
                conn.close()
            raise self._unreachable(exc) from None

    def _busy(self, exc: Exception) -> StoreUnavailable | None:
        """A read that waited its :meth:`limit_lock_waits` out (lock_not_available)."""
        if self.lock_wait_s is None or getattr(exc, "sqlstate", None) != "55P03":
            return None
        return StoreUnavailable(
            f"evidence database {redact_text(self.url)} is busy: a lock another "
            f"session holds kept this read waiting over {self.lock_wait_s:g}s",
            "try again shortly; if it lasts, pg_stat_activity and pg_locks on that "
            "database say which session holds it (a migration, a VACUUM FULL, a "
            "transaction left open)",
        )

    @property
    def conn(self) -> Any:
        if self._conn is None:
            self._conn = self.connect()
            if not self.is_postgres:
                self._file = _file_id(self.sqlite_path)
        return self._conn

    def _same_file(self) -> None:
        """A SQLite file removed (or replaced) behind drill's back while it writes: the
        open connection goes on writing into the unlinked file, and a run "succeeded",
        exit 0, with every record of it gone. Checked in each write's transaction."""
        if self._file is not None and _file_id(self.sqlite_path) != self._file:
            raise DrillError(
                f"evidence database {self.sqlite_path} was removed or replaced while drill "
                "was writing to it: what drill records now would be lost with it",
                "restore the file from a backup (`drill evidence verify` says what is "
                "missing); then `drill recover` closes a run left open",
            )

    def file_changed(self) -> bool:
        """The SQLite file this object's connection opened was removed or replaced since
        (a long-lived reader then reads a file nobody else sees any more)."""
        return self._file is not None and _file_id(self.sqlite_path) != self._file

    def explain(self, exc: Exception) -> DrillError | None:
        """What a driver error of a read means, or None: a lock waited out (busy, as in
        :meth:`_reconnecting`, for reads on a connection of their own such as an
        export's), or a table or column not as this drill made it. A long-lived reader
        (the dashboard) checked the schema when it opened the store: another drill has
        migrated it since (a newer one: which revision, and what to do), or it was
        changed outside drill."""
        if (busy := self._busy(exc)) is not None:
            return busy
        if not schema_changed(exc):
            return None
        from orchestrator.evidence.store import refuse_unknown, schema_heads

        try:
            current = self._revisions()
            refuse_unknown(self.url, current)
        except StoreUnavailable as known:
            return known
        if current != schema_heads():
            return StoreUnavailable(
                f"evidence database {redact_text(self.url)} is at schema revision "
                f"{', '.join(sorted(current)) or 'none'} since this process opened it, "
                f"not this drill's ({', '.join(sorted(schema_heads()))}): {first_line(exc)}",
                "restart it: it upgrades an older schema, and says what a newer one needs",
            )
        return EvidenceTampered(
            f"the evidence tables were changed outside drill ({first_line(exc)})",
            "run `drill evidence verify` and investigate the change",
        )

    def close(self) -> None:
        self.save_witness()
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    @classmethod
    def open(cls, url: str, witness: Path | None = None) -> EvidenceDB:
        """Connect and make sure the schema is current (migrating with Alembic if not)."""
        db = cls(url, witness)
        from orchestrator.evidence.store import schema_heads

        if db._revisions() != schema_heads():
            from orchestrator.evidence.store import EvidenceStore

            store = EvidenceStore(url)  # migrates, with the same clear errors
            store.dispose()
        return db

    def _revisions(self) -> set[str]:
        try:
            return {r[0] for r in self.query("SELECT version_num FROM alembic_version")}
        except StoreUnavailable:
            raise
        except Exception:  # no such table yet: a new database
            if self.is_postgres:
                self.conn.rollback()
            return set()

    # ---- reading ---------------------------------------------------------------------
    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.is_postgres else sql

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of a read-only statement (``?`` placeholders on every backend)."""
        with self._lock, self._reconnecting():
            cur = self.conn.execute(self._sql(sql), tuple(params))
            return list(cur.fetchall())

    def records(
        self,
        cls: type[Record],
        where: str = "",
        params: Sequence[Any] = (),
        order: str = "",
        limit: int | None = None,
    ) -> list[Any]:
        """Records of ``cls`` matching ``where`` (SQL with ``?``), as dataclasses."""
        t = self._table(cls)
        sql = (
            t.select
            + (f" WHERE {where}" if where else "")
            + (f" ORDER BY {order}" if order else "")
            + (f" LIMIT {int(limit)}" if limit is not None else "")
        )
        return [t.record(row) for row in self.query(sql, params)]

    def param(self, value: datetime) -> Any:
        """``value`` as this backend stores a timestamp: for comparisons in ``where``."""
        return stored_time(value, self.is_postgres)

    def get(self, cls: type[Record], pk: Any) -> Any:
        found = self.records(cls, f'"{cls.pk}" = ?', (pk,))
        return found[0] if found else None

    # ---- writing ---------------------------------------------------------------------
    def _table(self, cls: type[Record]) -> _Table:
        t = self._tables.get(cls)
        if t is None:
            t = self._tables[cls] = _Table(cls, self.is_postgres)
        return t

    def write(self, *records: Record, unless: tuple[str, Sequence[Any]] | None = None) -> bool:
        """Insert new records / update stored ones, journaled, in one committed transaction.

        ``unless`` (SQL with ``?``, params): when it finds a row inside the transaction,
        under the journal's write lock, nothing is written and the answer is False — how
        several writers (two schedulers, a scheduler and `drill status`) record a thing
        once that a unique key cannot express (an overdue period's finding)."""
        with self._lock, self._reconnecting():
            conn = self.conn
            if self.is_postgres:
                with conn.transaction():
                    if self._present(conn, unless):
                        return False
                    head = self._write(conn, records)
            else:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    self._same_file()
                    if self._present(conn, unless):
                        conn.execute("ROLLBACK")
                        return False
                    head = self._write(conn, records)
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            if head is not None and self.witness is not None and self._first is not None:
                self._unsaved = (self._first, *head)
            return True

    def _present(self, conn: Any, unless: tuple[str, Sequence[Any]] | None) -> bool:
        if unless is None:
            return False
        if self.is_postgres:  # SQLite's BEGIN IMMEDIATE already holds the write lock
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (journal.PG_LOCK_KEY,))
        sql, params = unless
        return conn.execute(self._sql(sql), tuple(params)).fetchone() is not None

    def save_witness(self) -> None:
        """Remember the newest event written through this object (:mod:`.witness`): once
        at the end of a command (or on :meth:`close`), not per write — a file replaced 11
        times cost a one-probe ``drill run`` ~2 %. Never ahead of the database: only
        committed events are remembered."""
        if self._unsaved is not None and self.witness is not None:
            from orchestrator.evidence.witness import location, remember

            remember(self.witness, *self._unsaved, journal.now(), location(self.url))
            self._unsaved = None

    def first_hash(self, conn: Any | None = None) -> str | None:
        """The hash of the journal's first event (which names the journal), or None."""
        if self._first is None:
            try:
                row = (
                    (conn or self.conn)
                    .execute(self._sql(f"SELECT hash FROM {journal.TABLE} WHERE seq = 1"))
                    .fetchone()
                )
            except Exception:  # no journal table (dropped behind drill's back): verify says so
                if conn is not None:
                    raise
                return None
            self._first = None if row is None else str(row[0])
        return self._first

    def _write(self, conn: Any, records: Iterable[Record]) -> tuple[int, str] | None:
        changes: list[journal.Change] = []
        written: list[tuple[Record, dict[str, Any]]] = []
        for rec in records:
            t = self._table(type(rec))
            for n in t.redacted:  # so the table and the event hold the same, masked, value
                v = getattr(rec, n)
                if v is not None:
                    v = redact(v)
                    setattr(rec, n, storable_text(v) if isinstance(v, str) else v)
            op = "update" if rec._stored else "insert"
            snap = t.snapshot(rec)
            if op == "update":
                old = rec._snapshot or {}
                changed = [n for n in t.update_names if old.get(n, _UNSET) != snap[n]]
                if not changed:
                    continue  # nothing changed: no write, no event
                self._guard(conn, t, rec)
                conn.execute(t.update_sql(changed), [*t.values(rec, changed), getattr(rec, rec.pk)])
            else:
                cur = conn.execute(t.insert, t.values(rec, t.insert_names))
                if rec.autoincrement:
                    setattr(rec, rec.pk, cur.fetchone()[0] if self.is_postgres else cur.lastrowid)
            row = conn.execute(t.by_pk, (getattr(rec, rec.pk),)).fetchone()
            written.append((rec, snap))
            run_id = getattr(rec, t.run_col) if t.run_col else None
            changes.append(
                (
                    rec.table,
                    op,
                    str(getattr(rec, rec.pk)),
                    None if run_id is None else str(run_id),
                    dict(zip(t.names, t.read(row), strict=True)),
                )
            )
        head = journal.append(conn, changes, self.is_postgres) if changes else None
        if head is not None and self.witness is not None:
            self.first_hash(conn)
        for rec, snap in written:
            rec._stored, rec._snapshot = True, snap
        return head

    def _guard(self, conn: Any, t: _Table, rec: Record) -> None:
        """Evidence of a finished run is immutable (findings excepted)."""
        if rec.table in journal.MUTABLE_AFTER_RUN or t.run_col is None:
            return
        run_id = getattr(rec, t.run_col)
        ended = conn.execute(
            self._sql("SELECT ended_at FROM run WHERE id = ?"), (run_id,)
        ).fetchone()
        if ended is not None and ended[0] is not None:
            raise RecordImmutable(
                f"{rec.table} {getattr(rec, rec.pk)} is evidence of run {run_id}, which has "
                "ended; it cannot change",
                "evidence of a finished run is immutable; record a new finding or run instead",
            )
