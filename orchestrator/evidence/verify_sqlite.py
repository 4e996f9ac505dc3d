"""``drill evidence verify`` on SQLite, with the per-entry loops inside SQLite.

Why: the streaming check (:mod:`orchestrator.evidence.chain_verify`) fetches every chain
entry and every row into Python — for a 1,000,000-entry chain that fetch alone is ~8 s
of CPU. Here SQLite scans, joins and compares, calling back into Python only for what
must be exactly the reference: :func:`~orchestrator.evidence.chain.link_hash` per entry
and each table's :class:`~orchestrator.evidence.chain.RowCanon` digest per row (both
registered as deterministic SQL functions). Only the numbers of the entries that fail
come back.

The same checks as the streaming path, with the same answers:

- **Links**: count/min/max show whether entries are numbered ``1…N`` as integers;
  one statement joins each entry with the one numbered before it (primary key lookup)
  and flags an entry whose ``prev`` is not that entry's hash or whose hash does not
  recompute, or whose predecessor is missing (a gap or a duplicate number always leaves
  one such entry). When the numbering is off, the whole streaming verify reports it
  (only a tampered chain pays for that).
- **Records**, per table: the newest entry of each record (highest ``seq``, via index
  ``ix_evidence_chain_record``) is joined with its row by primary key (compared as text,
  as the chain stores it); flagged: an entry whose row is gone (unless it records the
  deletion), a deleted record that is back, a row whose digest differs. The count of
  joined rows against the table's row count reveals rows without any entry.
- Every flagged entry and unchained row is re-examined in Python with the reference
  code, which writes the :class:`~orchestrator.evidence.chain_verify.Break`.

Tables this cannot handle exactly (a composite key, a key SQLite does not keep unique or
holding values other than integers and text, a canonical form that needs SQLAlchemy's
processing) are checked the streaming way, table by table. Large chains split the work
— eight ranges of the link pass and the tables, costliest first — between this process
and a forked worker, each on its own connection, taking items from a shared
:class:`~orchestrator.evidence.forked.WorkQueue` until none are left, so both end within
about one link range of each other however the machine treats them. A value the
reference cannot canonicalise any more counts as a change.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, cast

import sqlalchemy as sa

from orchestrator.evidence import chain_verify as cv
from orchestrator.evidence.canonical import quote_ident as _q
from orchestrator.evidence.chain import CHAIN_TABLE, GENESIS, link_hash, row_canon
from orchestrator.evidence.forked import WorkQueue, in_child

_CHUNK = 900  # bound parameters per IN list
LINKS = "links"
#: CPU cost in µs, measured on the benchmark DB (see benchmarks/README.md): a chain
#: entry ≈ 2.7, a row ≈ 4 + 0.25 per column
_ENTRY_COST = 2.7
_ROW_COST, _COLUMN_COST = 4.0, 0.25
#: link ranges for two processes: small enough that the last one evens out the end
_LINK_PARTS = 8

Scan = dict[str, Any]  # work item → its result (see _run_items)


def _ints(text: str | None) -> list[int]:
    return [int(x) for x in text.split(",")] if text else []


def _sql_capable(dbapi: Any, table: sa.Table, dialect: sa.Dialect) -> bool:
    """One primary key column that SQLite keeps unique, holding only integers and text
    (compared as the chain's text exactly), and a canonical form from raw values."""
    pk = list(table.primary_key.columns)
    if (len(pk) != 1 or not row_canon(table, dialect).plain
            or not _unique_key(dbapi, table.name, pk[0].name)):
        return False
    odd = dbapi.execute(f"SELECT count(*) FROM {_q(table.name)} "
                        f"WHERE typeof({_q(pk[0].name)}) NOT IN ('integer', 'text')"
                        ).fetchone()[0]
    return not odd


def _unique_key(dbapi: Any, table: str, column: str) -> bool:
    """Does SQLite itself keep ``column`` unique — an INTEGER PRIMARY KEY, or a unique
    index on exactly that column? (A table rebuilt without it could hold two rows with
    one key, which the join would both match to one entry.)"""
    pks = [r for r in dbapi.execute(f"PRAGMA table_info({_q(table)})") if r[5]]
    if len(pks) == 1 and pks[0][1] == column and str(pks[0][2]).upper() == "INTEGER":
        return True
    for _, name, unique, _, partial in dbapi.execute(f"PRAGMA index_list({_q(table)})"):
        if unique and not partial and [r[2] for r in dbapi.execute(
                f"PRAGMA index_info({_q(name)})")] == [column]:
            return True
    return False


# ---- the scans (run in this process or the worker, on a raw sqlite3 connection) -------

class Renumbered(Exception):
    """The chain is not numbered 1…N (a gap, a duplicate, a number that is not a positive
    integer, an entry of no table): only a tampered chain; the streaming pass
    classifies its breaks."""


def _numbering(dbapi: Any) -> tuple[int, int | None] | None:
    """(entries, highest number) when the chain is numbered 1…N with every entry naming
    its table; None otherwise."""
    n, low, high, odd = dbapi.execute(
        f"SELECT count(*), min(seq), max(seq), sum(typeof(seq) <> 'integer') "
        f"FROM {CHAIN_TABLE}").fetchone()
    nameless = dbapi.execute(f"SELECT count(*) FROM {CHAIN_TABLE} "
                             "WHERE table_name IS NULL").fetchone()[0]
    if odd or nameless or (n and (low != 1 or high != n)):
        return None
    return int(n), high


def _scan_links(dbapi: Any, low: int, high: int) -> list[int]:
    """Numbers of the entries ``low…high`` whose link fails (chain numbered 1…N)."""
    dbapi.create_function("drill_link_hash", 8, link_hash, deterministic=True)
    flagged = dbapi.execute(
        f"SELECT group_concat(c.seq) FROM {CHAIN_TABLE} AS c "
        f"LEFT JOIN {CHAIN_TABLE} AS p ON p.seq = c.seq - 1 "
        "WHERE c.seq BETWEEN :low AND :high AND ("
        " (c.seq > 1 AND p.seq IS NULL)"
        " OR c.prev IS NOT (CASE WHEN c.seq = 1 THEN :genesis ELSE p.hash END)"
        " OR drill_link_hash(c.seq, c.table_name, c.pk, c.op, c.run_id, c.digest, c.at,"
        " c.prev) IS NOT c.hash)",
        {"low": low, "high": high, "genesis": GENESIS}).fetchone()[0]
    return _ints(flagged)


def _scan_table(dbapi: Any, table: sa.Table, dialect: sa.Dialect
                ) -> tuple[int, list[int]] | None:
    """(rows that have an entry, seqs of newest entries that fail); None: the table must
    be checked the streaming way."""
    if not _sql_capable(dbapi, table, dialect):
        return None
    canon = row_canon(table, dialect)
    fn = "drill_row_digest"  # registered anew for each table, right before its use
    dbapi.create_function(fn, len(canon.names), canon.sql_digest, deterministic=True)
    pk = _q(next(iter(table.primary_key.columns)).name)
    cols = ", ".join(f"t.{_q(n)}" for n in canon.names)
    matched, flagged = dbapi.execute(
        f"SELECT count(t.{pk}), group_concat(CASE"
        f" WHEN t.{pk} IS NULL THEN (CASE WHEN n.op IS NOT 'delete' THEN n.seq END)"
        " WHEN n.op IS 'delete' THEN n.seq"
        f" WHEN {fn}({cols}) IS NOT n.digest THEN n.seq END) "
        f"FROM (SELECT pk, max(seq) AS seq, op, digest FROM {CHAIN_TABLE} "
        "WHERE table_name = ? GROUP BY pk) AS n "
        f"LEFT JOIN {_q(table.name)} AS t ON t.{pk} = n.pk AND CAST(t.{pk} AS TEXT) = n.pk",
        (table.name,)).fetchone()
    return int(matched), _ints(flagged)


def _run_items(dbapi: Any, items: list[str], queue: WorkQueue | None,
               tables: dict[str, sa.Table], dialect: sa.Dialect) -> Scan:
    """Each item: ``links:LOW:HIGH`` (a range of the link pass) or a table name; all of
    them, or those this process takes from ``queue`` (shared with the worker)."""
    out: Scan = {}
    order = iter(range(len(items))) if queue is None else iter(queue.take, None)
    for i in order:
        item = items[i]
        if item.startswith(LINKS + ":"):
            _, low, high = item.split(":")
            out[item] = _scan_links(dbapi, int(low), int(high))
        else:
            out[item] = _scan_table(dbapi, tables[item], dialect)
    return out


def _in_worker(url: sa.URL, items: list[str], queue: WorkQueue,
               tables: dict[str, sa.Table], dialect: sa.Dialect) -> Scan:
    """The worker's scans, on a connection of its own made from the same URL."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        raw = engine.raw_connection()
        try:
            return _run_items(raw.driver_connection, items, queue, tables, dialect)
        finally:
            raw.close()
    finally:
        engine.dispose()


def _costliest_first(dbapi: Any, links: list[tuple[str, int]], names: list[str],
                     tables: dict[str, sa.Table]) -> list[str]:
    """All items, by estimated cost, highest first: taken in that order from the queue,
    the big tables start at once and the small link ranges even out the end."""
    cost = {item: entries * _ENTRY_COST for item, entries in links}
    for name in names:
        rows = dbapi.execute(f"SELECT count(*) FROM {_q(name)}").fetchone()[0]
        cost[name] = rows * (_ROW_COST + _COLUMN_COST * len(tables[name].columns))
    return sorted(cost, key=lambda k: -cost[k])


# ---- turning flagged entries into breaks (this process, SQLAlchemy connection) --------

def _entries(conn: sa.Connection, seqs: list[int]) -> dict[int, Any]:
    out: dict[int, Any] = {}
    for i in range(0, len(seqs), _CHUNK):
        chunk = seqs[i:i + _CHUNK]
        for row in conn.exec_driver_sql(
                f"SELECT seq, table_name, pk, op, digest, prev, hash FROM {CHAIN_TABLE} "
                f"WHERE seq IN ({', '.join('?' * len(chunk))})", tuple(chunk)):
            if row[0] in out:
                raise Renumbered(f"chain entry #{row[0]} appears twice")
            out[row[0]] = row
    return out


def link_breaks(conn: sa.Connection, report: cv.VerifyReport, scan: Scan) -> None:
    """Breaks of the flagged links, classified as the streaming pass does, and the head.
    Raises :class:`Renumbered` when that pass must do it."""
    if not scan["numbered"]:
        raise Renumbered("the chain's numbering is off")
    flagged = scan["flagged"]
    entries = _entries(conn, flagged)
    before = _entries(conn, sorted({s - 1 for s in flagged if s > 1} - set(flagged)))
    before.update(entries)
    for seq in flagged:
        _, table, pk, _, _, stored_prev, _ = entries[seq]
        if seq == 1:
            prev = GENESIS
        elif seq - 1 in before:
            prev = before[seq - 1][6]
        else:
            raise Renumbered(f"chain entry #{seq - 1} is missing")
        cv._link_break(report, seq, seq, table, pk, stored_prev, prev)
    report.entries = scan["entries"]
    top = conn.exec_driver_sql(f"SELECT seq, hash FROM {CHAIN_TABLE} WHERE seq = ?",
                               (scan["high"],)).first()  # the head as counted (entries
    if top is not None and report.entries:  # appended meanwhile are not in the report)
        report.head_seq, report.head_hash = int(top[0]), str(top[1])


def _record_breaks(conn: sa.Connection, report: cv.VerifyReport, table: sa.Table,
                   matched: int, flagged: list[int]) -> None:
    canon = row_canon(table, conn.dialect)
    pk = _q(next(iter(table.primary_key.columns)).name)
    base = f"SELECT {', '.join(_q(n) for n in canon.names)} FROM {_q(table.name)}"
    total = int(conn.exec_driver_sql(f"SELECT count(*) FROM {_q(table.name)}").scalar_one())
    report.records += total
    for seq, (_, _, key, op, digest, _, _) in sorted(_entries(conn, flagged).items()):
        row = conn.exec_driver_sql(f"{base} WHERE {pk} = ? AND CAST({pk} AS TEXT) = ?",
                                   (key, key)).first()
        if row is None:
            if op != "delete":
                report.breaks.append(cv.Break(seq, table.name, key, "deleted",
                                              "record was deleted"))
        elif op == "delete":
            report.breaks.append(cv.Break(seq, table.name, key, "changed",
                                          "record was deleted but is back"))
        elif cv._digest_of(row, canon, canon.names) != digest:
            report.breaks.append(cv.Break(seq, table.name, key, "changed",
                                          "record was changed after it was chained"))
    if total > matched:
        for row in conn.exec_driver_sql(
                f"{base} AS t WHERE NOT EXISTS (SELECT 1 FROM {CHAIN_TABLE} AS e "
                f"WHERE e.table_name = ? AND e.pk = CAST(t.{pk} AS TEXT))", (table.name,)):
            report.breaks.append(cv.Break(None, table.name, canon.pk(row), "unchained",
                                          "record is not in the chain (written outside "
                                          "drill)"))


def _newest(conn: sa.Connection, table_name: str) -> dict[str, tuple[int, str, str]]:
    return {pk: (int(seq), op, digest) for pk, seq, op, digest in conn.exec_driver_sql(
        f"SELECT pk, max(seq), op, digest FROM {CHAIN_TABLE} WHERE table_name = ? "
        "GROUP BY pk", (table_name,))}


def _streamed_table(conn: sa.Connection, report: cv.VerifyReport, table: sa.Table) -> None:
    """The streaming check of one table, against its newest entries."""
    latest = _newest(conn, table.name)
    rows, canon = cv._table_rows(conn, table)
    cv._compare(report, table, rows, latest, canon)
    cv._deleted(report, {table.name: latest})


def _other_names(conn: sa.Connection, known: set[str]) -> list[str]:
    """Table names in the chain other than ``known`` (one index seek per name)."""
    names = [r[0] for r in conn.exec_driver_sql(
        f"WITH RECURSIVE n(name) AS (SELECT min(table_name) FROM {CHAIN_TABLE} UNION ALL "
        f"SELECT (SELECT min(table_name) FROM {CHAIN_TABLE} WHERE table_name > n.name) "
        "FROM n WHERE n.name IS NOT NULL) SELECT name FROM n WHERE name IS NOT NULL")]
    return [n for n in names if n not in known]


def verify_sqlite(conn: sa.Connection, tables: list[sa.Table]) -> cv.VerifyReport | None:
    """Links and records of the whole database (no anchor, breaks not yet sorted);
    None when the chain's numbering is off (the streaming path reports that)."""
    dbapi = conn.connection.driver_connection
    assert dbapi is not None
    top = dbapi.execute(f"SELECT max(seq) FROM {CHAIN_TABLE}").fetchone()[0]
    entries = top if type(top) is int and top > 0 else 0  # numbering checked below
    by_name = {t.name: t for t in tables}
    fast = [t.name for t in tables if len(t.primary_key.columns) == 1
            and row_canon(t, conn.dialect).plain]  # (the scan checks the key's values)
    path = conn.engine.url.database
    parallel = (entries >= cv.PARALLEL_MIN_ENTRIES and path not in (None, "", ":memory:")
                and hasattr(os, "fork"))
    parts = _LINK_PARTS if parallel else 1  # the link pass in ranges of seq
    cuts = [entries * k // parts for k in range(parts + 1)]
    links = [(f"{LINKS}:{cuts[k] + 1}:{cuts[k + 1]}", cuts[k + 1] - cuts[k])
             for k in range(parts)]
    items = [item for item, _ in links] + fast
    queue, worker = None, cast(Callable[[], Scan], dict)
    if parallel:
        items = _costliest_first(dbapi, links, fast, by_name)
        queue = WorkQueue(len(items))
        worker = in_child(lambda: _in_worker(conn.engine.url, items, cast(WorkQueue, queue),
                                             by_name, conn.dialect))
    try:
        numbering = _numbering(dbapi)  # (while the worker starts)
        scans = _run_items(dbapi, items, queue, by_name, conn.dialect) if numbering else {}
    finally:
        if queue is not None:  # empty already, unless the streaming pass takes over or
            queue.drain()      # this process failed (Ctrl-C): the worker stops early
        done = worker()  # always reaped
        if queue is not None:
            queue.close()
    if numbering is None:
        return None
    scans.update(done)
    if numbering[0] > entries:  # appended since the ranges were cut: check those too
        scans[f"{LINKS}:tail"] = _scan_links(dbapi, entries + 1, numbering[0])
        links.append((f"{LINKS}:tail", 0))
    entries, high = numbering
    flagged = sorted(seq for item, _ in links for seq in scans.pop(item))
    report = cv.VerifyReport()
    try:
        link_breaks(conn, report, {"numbered": True, "entries": entries, "high": high,
                                   "flagged": flagged})
    except Renumbered:
        return None
    for table in tables:
        if scans.get(table.name) is not None:
            _record_breaks(conn, report, table, *scans[table.name])
        else:
            _streamed_table(conn, report, table)
    for name in _other_names(conn, set(by_name)):
        cv._deleted(report, {name: _newest(conn, name)})
    return report
