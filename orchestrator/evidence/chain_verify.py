"""Check the evidence hash chain against the database (``drill evidence verify``).

Two passes, both streaming so that a chain of millions of entries fits in memory
as one small tuple per record:

1. **Links**: entries must be numbered 1, 2, 3… without gaps, each ``prev`` must be
   the hash of the entry before, and each ``hash`` must recompute. This catches an
   entry changed, removed, inserted or moved (reordering changes ``seq``/``prev``).
2. **Records**: the newest entry of every record must carry the digest of the row
   the database holds now; a row with no entry was written outside drill; an entry
   whose row is gone (and that is not a ``delete``) means the row was removed.

The *first* broken record (lowest chain position) is the one named, since
everything after a tampered point is suspect anyway.

On SQLite, :mod:`orchestrator.evidence.verify_sqlite` makes the same two passes inside
SQLite (the reference functions registered as SQL functions, only failing entries
fetched) and must give the same report; this module's streaming passes serve PostgreSQL,
chains whose numbering is broken, and ``method="stream"``.

Not detectable from the database alone: removing the newest entries together with
their rows (a truncated tail). Export manifests carry the signed chain head; pass it
back with ``--head SEQ:HASH`` (or a bundle) to prove no tail was cut since.
"""

from __future__ import annotations

import hashlib
import itertools
import os
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from orchestrator.evidence.chain import (
    CHAIN_TABLE,
    GENESIS,
    RowCanon,
    chained_tables,
    pk_string,
    row_canon,
    row_digest,
    run_column,
)
from orchestrator.evidence.forked import in_child
from orchestrator.evidence.gcpause import gc_paused

_LAST = 1 << 62  # sort position of problems that have no chain entry


@dataclass(frozen=True)
class Break:
    """One problem, located by chain position and record."""

    seq: int | None
    table: str
    pk: str
    kind: str  # changed | deleted | unchained | link | gap | truncated
    detail: str

    def describe(self) -> str:
        where = f"chain entry #{self.seq}" if self.seq is not None else "no chain entry"
        return f"{self.table} {self.pk} ({where}): {self.detail}"

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "table": self.table, "pk": self.pk, "kind": self.kind,
                "detail": self.detail}


@dataclass
class VerifyReport:
    entries: int = 0
    records: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS
    breaks: list[Break] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.breaks

    @property
    def first(self) -> Break | None:
        return self.breaks[0] if self.breaks else None

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "entries": self.entries, "records": self.records,
                "head": {"seq": self.head_seq, "hash": self.head_hash},
                "first_break": self.first.to_dict() if self.first else None,
                "breaks": [b.to_dict() for b in self.breaks[:100]],
                "break_count": len(self.breaks)}


_BATCH = 20_000
_CHAIN_COLUMNS = "seq, table_name, pk, op, run_id, digest, at, prev, hash"
_cursor_ids = itertools.count(1)
#: newest entry per record: table → pk → (seq, op, digest)
Latest = dict[str, dict[str, tuple[int, str, str]]]


def _raw_batches(conn: sa.Connection, sql: str, params: Any = None, stream: bool = True
                 ) -> Iterator[list[Any]]:
    """Raw driver rows of ``sql`` in batches, streamed (``stream``: a server-side cursor
    on PostgreSQL; ``fetchmany`` on SQLite). No SQLAlchemy rows, no type processing."""
    if conn.dialect.name not in ("sqlite", "postgresql"):
        result = conn.execution_options(stream_results=True, yield_per=_BATCH
                                        ).exec_driver_sql(sql, params)
        for part in result.partitions():
            yield [tuple(r) for r in part]
        return
    dbapi = conn.connection.driver_connection
    assert dbapi is not None
    if conn.dialect.name == "postgresql" and stream:
        cur = dbapi.cursor(name=f"drill_verify_{next(_cursor_ids)}")
        cur.itersize = _BATCH
    else:
        cur = dbapi.cursor()
    try:
        if params is None:
            cur.execute(sql)
        else:
            cur.execute(sql, params)
        while batch := cur.fetchmany(_BATCH):
            yield batch
    finally:
        cur.close()


def _link_break(report: VerifyReport, seq: int, expected: int, table: str, pk: str,
                stored_prev: str, prev: str) -> None:
    """Classify a link that does not check out (the hot loop only detects it)."""
    if seq != expected:
        report.breaks.append(Break(seq, table, pk, "gap", (
            f"chain entries #{expected} to #{seq - 1} are missing" if seq > expected
            else f"entry is out of order (expected #{expected})")))
    elif stored_prev != prev:
        report.breaks.append(Break(seq, table, pk, "link",
                                   "entry does not follow the one before it "
                                   "(entries removed, inserted or reordered)"))
    else:
        report.breaks.append(Break(seq, table, pk, "link", "chain entry was altered"))


def _check_links(conn: sa.Connection, report: VerifyReport, start: int = 1,
                 runs: set[str] | None = None, loose: set[str] | None = None) -> Latest:
    """Pass 1, from entry ``start`` to the head; returns the newest entry per record
    (only of ``runs`` and of the run-less findings ``loose``, when given)."""
    latest: Latest = defaultdict(dict)
    expected = start
    if start > 1:
        prev = str(conn.execute(sa.text(f"SELECT hash FROM {CHAIN_TABLE} WHERE seq = :s"),
                                {"s": start - 1}).scalar() or "")
    else:
        prev = GENESIS
    sha256 = hashlib.sha256
    sql = f"SELECT {_CHAIN_COLUMNS} FROM {CHAIN_TABLE} ORDER BY seq"
    if start > 1:
        sql = (f"SELECT {_CHAIN_COLUMNS} FROM {CHAIN_TABLE} WHERE seq >= {int(start)} "
               "ORDER BY seq")
    for batch in _raw_batches(conn, sql):
        for seq, table, pk, op, run_id, digest, at, stored_prev, stored_hash in batch:
            if type(seq) is not int:  # SQLite stores whatever it is given
                report.breaks.append(Break(None, table, pk, "gap",
                                           f"chain entry has no valid number ({seq!r})"))
                continue
            # link_hash(), inlined: this loop runs once per chain entry
            if seq != expected or stored_prev != prev or sha256(
                    f"{seq}\n{table}\n{pk}\n{op}\n{run_id or ''}\n{digest}\n{at}\n"
                    f"{stored_prev}".encode()).hexdigest() != stored_hash:
                _link_break(report, seq, expected, table, pk, stored_prev, prev)
            expected, prev = seq + 1, stored_hash  # resynchronise to find later problems
            if runs is None or run_id in runs or (loose and table == "finding"
                                                  and pk in loose):
                latest[table][pk] = (seq, op, digest)
    report.entries = expected - start
    report.head_seq, report.head_hash = expected - 1, prev
    return latest


def _compare(report: VerifyReport, table: sa.Table, rows: Iterable[Sequence[Any]],
             latest: dict[str, tuple[int, str, str]], canon: RowCanon | None) -> None:
    """Each row against the newest chain entry of its record (popped from ``latest``);
    rows are raw driver tuples when ``canon`` is given, else SQLAlchemy rows."""
    names = [c.name for c in table.columns]
    pk_idx = [names.index(c.name) for c in table.primary_key.columns]
    one = pk_idx[0] if len(pk_idx) == 1 else None
    sha256 = hashlib.sha256
    pop = latest.pop
    name = table.name
    for batch in rows:
        report.records += len(batch)
        for row in batch:
            pk = str(row[one]) if one is not None else pk_string(row[i] for i in pk_idx)
            entry = pop(pk, None)
            if entry is None:
                report.breaks.append(Break(None, name, pk, "unchained",
                                           "record is not in the chain (written outside "
                                           "drill)"))
            elif entry[1] == "delete":
                report.breaks.append(Break(entry[0], name, pk, "changed",
                                           "record was deleted but is back"))
            elif _digest_of(row, canon, names, sha256) != entry[2]:
                report.breaks.append(Break(entry[0], name, pk, "changed",
                                           "record was changed after it was chained"))


def _digest_of(row: Sequence[Any], canon: Callable[[Any], bytes] | None, names: list[str],
               sha256: Any = hashlib.sha256) -> str | None:
    """The row's digest; None when a value no longer reads as its column's type — the
    row was canonicalised when it was chained, so it has been changed since."""
    try:
        return sha256(canon(row)).hexdigest() if canon is not None else row_digest(names, row)
    except Exception:
        return None


def _table_rows(conn: sa.Connection, table: sa.Table,
                match: tuple[str, list[Any]] | None = None
                ) -> tuple[Iterable[Sequence[Any]], RowCanon | None]:
    """Batches of ``table``'s rows (those whose column ``match[0]`` is one of
    ``match[1]``, if given): raw driver values when the table's canonical form can be
    computed from them (with the :class:`RowCanon` returned), else SQLAlchemy-processed
    rows (and None)."""
    canon = row_canon(table, conn.dialect)
    mark = {"qmark": "?", "format": "%s", "pyformat": "%s"}.get(conn.dialect.paramstyle)
    if canon.plain and match is None:
        return _raw_batches(conn, canon.sql), canon
    if canon.plain and mark is not None and match is not None:
        column, values = match
        sql = (f"{canon.sql} WHERE {conn.dialect.identifier_preparer.quote(column)} "
               f"IN ({', '.join([mark] * len(values))})")
        return _raw_batches(conn, sql, tuple(values), stream=False), canon
    cols: list[Any] = ([sa.column(n) for n in canon.names] if canon.plain
                       else list(table.columns))
    query = sa.select(*cols).select_from(table)
    if match is not None:
        query = query.where(table.c[match[0]].in_(match[1]))
    result = conn.execution_options(stream_results=True, yield_per=_BATCH).execute(query)
    return result.partitions(), canon if canon.plain else None


def _check_records(conn: sa.Connection, latest: Latest, report: VerifyReport,
                   tables: list[sa.Table]) -> None:
    for table in tables:
        rows, canon = _table_rows(conn, table)
        _compare(report, table, rows, latest.get(table.name, {}), canon)  # leaves the gone


#: chains at least this long hash part of the tables in a second process
PARALLEL_MIN_ENTRIES = 200_000

Digests = dict[str, tuple[list[str], str]]  # table → (pks, concatenated hex digests)


def _split(conn: sa.Connection, tables: list[sa.Table], entries: int
           ) -> tuple[list[sa.Table], list[sa.Table]]:
    """(tables for this process, tables for the worker): balance the worker's records
    against this process's link pass plus its records. Cost units measured on the
    benchmark DB: a record costs about (columns + 4), a chain entry about 10."""
    cost = []
    for table in tables:
        rows = conn.execute(sa.select(sa.func.count()).select_from(table)).scalar() or 0
        cost.append((rows * (len(table.columns) + 4), table))
    mine, theirs = [], []
    load_mine, load_theirs = entries * 10.0, 0.0
    for c, table in sorted(cost, key=lambda x: -x[0]):
        if load_theirs <= load_mine:
            theirs.append(table)
            load_theirs += c
        else:
            mine.append(table)
            load_mine += c
    return mine, theirs


def _digests(url: sa.URL, tables: list[sa.Table]) -> Digests:
    """Worker: every record's pk and digest, on a connection of its own."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    out: Digests = {}
    with engine.connect() as conn:
        for table in tables:
            rows, canon = _table_rows(conn, table)
            names = [c.name for c in table.columns]
            pk_idx = [names.index(c.name) for c in table.primary_key.columns]
            one = pk_idx[0] if len(pk_idx) == 1 else None
            sha256 = hashlib.sha256
            pks: list[str] = []
            digests: list[str] = []
            for batch in rows:
                if one is not None:
                    pks.extend([str(row[one]) for row in batch])
                else:
                    pks.extend([pk_string(row[i] for i in pk_idx) for row in batch])
                digests.extend([_digest_of(row, canon, names, sha256) or "-" * 64
                                for row in batch])
            out[table.name] = (pks, "".join(digests))
    engine.dispose()
    return out


def _compare_digests(report: VerifyReport, table_name: str, pks: list[str], digests: str,
                     latest: dict[str, tuple[int, str, str]]) -> None:
    """Like :func:`_compare`, for digests the worker computed."""
    report.records += len(pks)
    pop = latest.pop
    for i, pk in enumerate(pks):
        entry = pop(pk, None)
        if entry is None:
            report.breaks.append(Break(None, table_name, pk, "unchained",
                                       "record is not in the chain (written outside drill)"))
        elif entry[1] == "delete":
            report.breaks.append(Break(entry[0], table_name, pk, "changed",
                                       "record was deleted but is back"))
        elif digests[64 * i:64 * i + 64] != entry[2]:
            report.breaks.append(Break(entry[0], table_name, pk, "changed",
                                       "record was changed after it was chained"))


def _deleted(report: VerifyReport, latest: Latest) -> None:
    """Entries whose record is gone (and that are not deletions)."""
    for table_name, entries in latest.items():
        for pk, (seq, op, _digest) in entries.items():
            if op != "delete":
                report.breaks.append(Break(seq, table_name, pk, "deleted",
                                           "record was deleted"))


def _sort_breaks(report: VerifyReport) -> None:
    """Breaks in chain order (the first named is the first broken); those without an
    entry (unchained rows) last."""
    report.breaks.sort(key=lambda b: (b.seq if b.seq is not None else _LAST, b.table, b.pk))


def verify_connection(conn: sa.Connection, anchor: tuple[int, str] | None = None,
                      method: str = "auto") -> VerifyReport:
    """Verify links and records; ``anchor`` is a chain head known from an export.

    ``method``: ``auto`` checks SQLite inside SQLite (:mod:`.verify_sqlite`) and other
    databases by streaming; ``stream`` forces the streaming check (the reference the
    SQLite one is tested against)."""
    report = VerifyReport()
    if not sa.inspect(conn).has_table(CHAIN_TABLE):
        report.breaks.append(Break(None, CHAIN_TABLE, "-", "gap", "the chain table is missing"))
        return report
    inspector = sa.inspect(conn)
    tables = [t for t in chained_tables() if inspector.has_table(t.name)]
    fast = None
    with gc_paused():
        if method == "auto" and conn.dialect.name == "sqlite":
            from orchestrator.evidence.verify_sqlite import verify_sqlite

            fast = verify_sqlite(conn, tables)
        report = fast if fast is not None else _verify_streaming(conn, tables)
    if anchor is not None:
        seq, expected_hash = anchor
        stored = conn.execute(sa.text(f"SELECT hash FROM {CHAIN_TABLE} WHERE seq = :s"),
                              {"s": seq}).scalar()
        if stored != expected_hash:
            report.breaks.append(Break(seq, CHAIN_TABLE, str(seq), "truncated",
                                       "the exported chain head is missing or different "
                                       "(entries removed from the end?)"))
    _sort_breaks(report)
    return report


def _verify_streaming(conn: sa.Connection, tables: list[sa.Table]) -> VerifyReport:
    """Links and records, every entry and row fetched (a worker hashes part of the
    tables for large chains)."""
    report = VerifyReport()
    entries = int(conn.execute(sa.text(f"SELECT COUNT(*) FROM {CHAIN_TABLE}")).scalar() or 0)
    url = conn.engine.url
    theirs: list[sa.Table] = []
    if (entries >= PARALLEL_MIN_ENTRIES and url.database not in (None, "", ":memory:")
            and hasattr(os, "fork")):
        tables, theirs = _split(conn, tables, entries)
    worker: Callable[[], Digests] = (in_child(lambda: _digests(url, theirs)) if theirs
                                     else dict)
    try:
        latest = _check_links(conn, report)
        _check_records(conn, latest, report, tables)
    finally:
        done = worker()
    for name, (pks, digests) in done.items():
        _compare_digests(report, name, pks, digests, latest.get(name, {}))
    _deleted(report, latest)
    return report


def verify_store(store: Any, anchor: tuple[int, str] | None = None, method: str = "auto"
                 ) -> VerifyReport:
    with store.engine.connect() as conn:
        return verify_connection(conn, anchor, method)


def verify_runs(conn: sa.Connection, run_ids: list[str], finding_ids: list[int],
                keep: dict[str, tuple[list[Any], RowCanon | None]] | None = None
                ) -> VerifyReport:
    """Verify only what an export contains: the records of ``run_ids`` (every chained
    table with a run column) and the run-less findings ``finding_ids``.

    Links are checked from the first entry of those records to the head — enough to
    vouch for them, since the signed manifest pins the head — and records are compared
    with their newest entries; an entry of one of these runs whose row is gone is a
    deletion. Cost grows with the size of the export and the age of the period, not
    with the whole database.

    ``keep``, when given, receives every row that was checked, per table: (rows, the
    table's :class:`RowCanon` if they are raw driver tuples, else None). The export
    builds its views from exactly these rows, so what is exported is what was verified
    (and nothing is read twice).
    """
    return start_verify_runs(conn, run_ids, finding_ids, keep)()


def start_verify_runs(conn: sa.Connection, run_ids: list[str], finding_ids: list[int],
                      keep: dict[str, tuple[list[Any], RowCanon | None]] | None = None,
                      parallel: bool = False) -> Callable[[], VerifyReport]:
    """:func:`verify_runs` in two steps: the rows in scope are read now (into ``keep``);
    the returned function gives the report. With ``parallel`` on a SQLite file (POSIX),
    the link pass and the re-hashing run meanwhile in a forked worker on its own
    connection, so the caller can build its views from ``keep`` at the same time — it
    must call the function (exactly once, also on error) before trusting them."""
    chunks = [run_ids[i:i + 900] for i in range(0, len(run_ids), 900)]
    start: int | None = None
    lookups = [("run", chunk) for chunk in chunks]
    if finding_ids:
        lookups += [("finding", [str(i) for i in finding_ids[j:j + 900]])
                    for j in range(0, len(finding_ids), 900)]
    for table_name, keys in lookups:
        low = conn.execute(sa.text(f"SELECT MIN(seq) FROM {CHAIN_TABLE} WHERE table_name = "
                                   ":t AND pk IN :ids").bindparams(
                                       sa.bindparam("ids", expanding=True)),
                           {"t": table_name, "ids": keys}).scalar()
        if low is not None:
            start = low if start is None else min(start, low)
    fetched: list[tuple[sa.Table, list[Sequence[Any]], RowCanon | None]] = []
    for table in chained_tables():
        rcol = run_column(table)
        if rcol is None and table.name != "finding":
            continue
        matches: list[tuple[str, list[Any]]] = [(rcol, c) for c in chunks] if rcol else []
        if table.name == "finding" and finding_ids:
            matches += [("id", finding_ids[i:i + 900]) for i in range(0, len(finding_ids), 900)]
        for match in matches:
            batches, canon = _table_rows(conn, table, match)
            rows = [row for batch in batches for row in batch]
            fetched.append((table, rows, canon))
            if keep is not None:
                keep.setdefault(table.name, ([], canon))[0].extend(rows)
    runs, loose = set(run_ids), {str(i) for i in finding_ids}

    def check(on: sa.Connection) -> VerifyReport:
        report = VerifyReport()
        latest: Latest = defaultdict(dict)
        if start is not None:
            latest = _check_links(on, report, start, runs, loose)
        for table, rows, canon in fetched:  # _compare leaves the records that are gone
            _compare(report, table, [rows], latest.get(table.name, {}), canon)
        _deleted(report, latest)
        _sort_breaks(report)
        return report

    url = conn.engine.url
    if parallel and conn.dialect.name == "sqlite" and url.database not in (None, "",
                                                                          ":memory:"):
        def in_worker() -> VerifyReport:
            engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
            try:
                with engine.connect() as own:
                    return check(own)
            finally:
                engine.dispose()
        return in_child(in_worker)
    report = check(conn)
    return lambda: report
