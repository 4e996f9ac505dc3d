"""The one verifier (``drill evidence verify``, and every export before it writes).

1. **Journal**: one pass over the stored bytes in ``seq`` order: numbers 1, 2, 3… without
   gaps, each ``prev`` the hash of the event before, each ``hash`` recomputed as
   ``sha256(prev + "\\n" + event)``; the record an event is about is read from the start
   of its bytes. This catches an event changed, removed, inserted or moved.
2. **Projections**: every row of every projection table must equal the ``data`` of its
   record's newest event, column for column (read through :func:`journal.reader`, the
   function the writer built the event with); a row without an event was written outside
   drill; a record whose newest event is not a deletion must still have its row.

A break names the event (seq, run, kind), the record and what differs. The first break
(lowest seq) comes first: everything after a tampered point is suspect anyway.

Not detectable from the database alone: the newest events cut off together with their
rows (or an older copy of the database put back). So verify also requires the newest
event this machine wrote or verified (:mod:`~orchestrator.evidence.witness`), and
``--head SEQ:HASH`` (a bundle's signed head) checks that that one is still there.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import repeat
from typing import Any

import orjson

from orchestrator.evidence import journal
from orchestrator.evidence.gcpause import gc_paused
from orchestrator.evidence.records import Projection, projections

_BATCH = 20_000
_CHUNK = 900  # bound parameters per statement (SQLite's limit is higher; PostgreSQL's too)


@dataclass(frozen=True)
class Break:
    """One thing that is not as drill wrote it: the event (``seq``, ``kind``, ``run``),
    the record it is about (``table pk``) and what differs."""

    seq: int | None
    kind: str
    run: str | None
    record: str
    detail: str
    #: a break of the chain itself (an event missing, moved, changed, not drill's, or the
    #: remembered head gone): it is the cause of the records that then differ from their
    #: newest remaining event, so it is reported before them
    in_chain: bool = False

    def describe(self) -> str:
        if self.record == f"event #{self.seq}":  # an event drill must find (a head)
            return f"{self.record}: {self.detail}"
        where = f"event #{self.seq}, {self.kind}" if self.seq is not None else "no event"
        run = f", run {self.run}" if self.run else ""
        return f"{self.record} ({where}{run}): {self.detail}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "kind": self.kind,
            "run": self.run,
            "record": self.record,
            "detail": self.detail,
        }


@dataclass
class Report:
    events: int = 0
    records: int = 0
    head_seq: int = 0
    head_hash: str = journal.GENESIS
    breaks: list[Break] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.breaks

    @property
    def first(self) -> Break | None:
        return self.breaks[0] if self.breaks else None

    def problems(self, shown: int = 3) -> str:
        """What the CLI says of a broken journal: the first break on the first line, the
        next ``shown`` one a line each (an event deleted leaves a record that differs from
        its newest remaining event: together they say what happened), then how many more."""
        if not self.breaks:
            return "no problem"
        lines = [f"evidence journal broken at {self.breaks[0].describe()}"]
        lines += [f"  also: {b.describe()}" for b in self.breaks[1 : 1 + shown]]
        more = len(self.breaks) - 1 - shown
        if more > 0:
            lines.append(f"  and {more} more problem(s): `drill evidence verify --json` lists them")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "events": self.events,
            "records": self.records,
            "head": {"seq": self.head_seq, "hash": self.head_hash},
            "first_break": self.first.to_dict() if self.first else None,
            "breaks": [b.to_dict() for b in self.breaks[:100]],
            "break_count": len(self.breaks),
        }


@dataclass
class Scope:
    """What an export holds: runs and run-less findings that began at ``since`` or later;
    the events and data of its records are filled in by :func:`verify`."""

    runs: list[str]
    findings: list[str]
    since: datetime
    events: list[tuple[int, str, str, bytes]] = field(default_factory=list)  # the range
    by_run: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    data: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    contents: dict[int, bytes] = field(default_factory=dict)  # artifact id → content


_NOT_AN_EVENT = "its bytes are not an event drill writes"
#: newest event per record: table → pk (as in the event) → (seq, event bytes)
Latest = dict[bytes, dict[bytes, tuple[int, bytes]]]
_MARGIN = timedelta(days=1)  # clocks of several writers may disagree a little


def _batches(
    conn: Any, postgres: bool, sql: str, params: Sequence[Any] = ()
) -> Iterator[list[Any]]:
    """Rows in batches; on PostgreSQL through a server-side cursor (a million events do
    not have to fit in memory at once)."""
    cur = conn.cursor(name="drill_verify", withhold=True) if postgres else conn.cursor()
    try:
        cur.execute(sql, tuple(params))
        while batch := cur.fetchmany(_BATCH):
            yield batch
    finally:
        cur.close()


def _loads(data: bytes, fast: Callable[[bytes], Any] = orjson.loads) -> Any:
    try:
        return fast(data)
    except orjson.JSONDecodeError:  # NaN/Infinity inside a JSON document: json reads those
        return json.loads(data)


def _check_journal(
    conn: Any,
    postgres: bool,
    report: Report,
    span: tuple[int, int],
    scope: Scope | None,
    chain: bool = True,
    skip: tuple[bytes, ...] = (),
    only: tuple[bytes, ...] | None = None,
) -> Latest:
    """One pass over the events ``span`` (first, last seq): with ``chain``, every link
    recomputed; the newest event of every record, except of the tables in ``skip``. With
    ``only`` (and without ``chain``), only the events of those tables are read at all:
    an event of no known table is the chain's pass's to report, not this one's too."""
    latest: Latest = defaultdict(dict)
    start = span[0]
    ph = "%s" if postgres else "?"
    prev = journal.GENESIS
    #: what the event before hashes to when that is not its stored hash (a break said
    #: there): an event naming it as its ``prev`` is linked (only that hash was changed)
    rehashed: str | None = None
    if start > 1 and chain:
        row = conn.execute(
            f"SELECT hash FROM {journal.TABLE} WHERE seq = {ph}", (start - 1,)
        ).fetchone()
        prev = str(row[0]) if row else ""
    expected = start
    wanted = {journal.quoted(r): r for r in scope.runs} if scope else {}  # as in events
    loose = {f.encode() for f in scope.findings} if scope else set()
    last_in_scope = 0
    skip = tuple(_kind_prefix(t) for t in skip)
    sql, params = _events_sql(ph, span, chain, None if chain else only)
    sha256, itself = hashlib.sha256, journal.TABLE.encode()
    for batch in _batches(conn, postgres, sql, params):
        for seq, stored_prev, stored_hash, ev in batch:
            if type(ev) is not bytes:  # SQLite stores anything: a break, not a crash
                ev = (
                    journal.raw(ev)
                    if isinstance(ev, str)
                    else b""
                    if ev is None
                    else str(ev).encode()
                )
            linked = True
            if chain:
                try:  # journal.link, inlined: this runs once per event
                    linked = (
                        seq == expected
                        and stored_prev in (prev, rehashed)
                        and sha256(stored_prev.encode() + b"\n" + ev).hexdigest() == stored_hash
                    )
                except AttributeError:  # not text
                    linked = False
                if not linked:
                    report.breaks.append(
                        _link_break(
                            seq, expected, (prev, rehashed), str(stored_prev), str(stored_hash), ev
                        )
                    )
                rehashed = None if linked else _rehash(stored_prev, ev)
                expected, prev = (seq + 1 if type(seq) is int else expected), str(stored_hash)
                if ev.startswith(skip):
                    continue  # a record the other process checks
            try:  # the record's key, as journal.keys reads it (inlined too)
                i = ev.index(b'","run":', 9)
                table = ev[9 : ev.rindex(b".", 9, i)]
                j = ev.index(b',"pk":"', i)
                pk = ev[j + 7 : ev.index(b'","at":"', j)]
            except ValueError:
                if linked:  # else said above
                    report.breaks.append(
                        _record_break(
                            seq if type(seq) is int else None, ev, None, _NOT_AN_EVENT, True
                        )
                    )
                continue
            if scope is not None:
                run = ev[i + 8 : j]
                name = wanted.get(run)
                if name is not None or (table == b"finding" and pk in loose):
                    last_in_scope = seq
                    if name is not None:
                        scope.by_run[name].append(len(scope.events))
                scope.events.append((seq, stored_prev, stored_hash, ev))
                if last_in_scope != seq:
                    continue
            if table != itself:
                latest[table][pk] = (seq, ev)
    if scope is not None:  # the bundle's range ends with the last event in scope
        cut = next(
            (i for i, e in enumerate(scope.events) if e[0] > last_in_scope), len(scope.events)
        )
        del scope.events[cut:]
    report.events = expected - start
    report.head_seq, report.head_hash = expected - 1, prev
    return latest


def _kind_prefix(table: bytes) -> bytes:
    """The first bytes of every event of ``table``."""
    return b'{"kind":"' + table + b"."


def _events_sql(
    ph: str, span: tuple[int, int], chain: bool, only: tuple[bytes, ...] | None
) -> tuple[str, list[Any]]:
    """The query of :func:`_check_journal`: (seq, prev, hash, event) of the events
    ``span`` in order (prev and hash NULL without ``chain``); with ``only``, those of
    the tables named there (filtered by their first bytes in SQL)."""
    cols = "prev, hash" if chain else "NULL, NULL"
    sql = f"SELECT seq, {cols}, event FROM {journal.TABLE} WHERE seq BETWEEN {ph} AND {ph}"
    params: list[Any] = list(span)
    if only is not None:
        prefixes = [_kind_prefix(t) for t in only]
        match = " OR ".join([f"substr(event, 1, {ph}) = {ph}"] * len(prefixes))
        sql += f" AND ({match or '1 = 0'})"
        for prefix in prefixes:
            params += [len(prefix), prefix]
    return sql + " ORDER BY seq", params


def _text(raw: bytes) -> str:
    """A JSON value's bytes from an event (``null``, ``"…"`` or a bare key) as text."""
    if raw == b"null":
        return ""
    try:
        return str(json.loads(raw if raw.startswith(b'"') else b'"' + raw + b'"'))
    except ValueError:  # bytes changed behind drill's back: show them as they are
        return repr(raw)[2:-1]


def _rehash(stored_prev: Any, ev: bytes) -> str | None:
    """What an event hashes to (None when its ``prev`` is not text)."""
    try:
        return journal.link(stored_prev, ev)
    except (AttributeError, TypeError):
        return None


def _apart(a: str, b: str) -> tuple[str, str]:
    """Two hashes cut short (16 characters, or up to the first that differs) so that
    what is shown of them differs too."""
    same = next(
        (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b))
    )
    n = max(16, same + 1)
    return (a[:n] + "…" if len(a) > n else a), (b[:n] + "…" if len(b) > n else b)


def _link_break(
    seq: Any,
    expected: int,
    prev: tuple[str, str | None],
    stored_prev: str,
    stored_hash: str,
    ev: bytes,
) -> Break:
    """``prev``: the stored hash of the event before, and what it hashes to when that
    differs (its hash was changed, said at that event): either one links."""
    if seq != expected:
        detail = (
            f"event #{expected} before it is missing (deleted)"
            if seq == expected + 1
            else f"events #{expected} to #{seq - 1} before it are missing (deleted)"
            if type(seq) is int and seq > expected
            else f"numbered {seq!r} where #{expected} belongs (events reordered or inserted)"
        )
    elif stored_prev not in prev:
        named, hash_before = _apart(stored_prev, prev[0])
        detail = (
            f"it names {named} as the event before it, but the hash of event "
            f"#{expected - 1} is {hash_before} (events removed, inserted or reordered)"
        )
    else:  # (the one check left: the hash does not recompute)
        detail = "its bytes or its hash were changed (the hash does not recompute)"
    return _record_break(seq if type(seq) is int else None, ev, None, detail, True)


def _compare(
    report: Report,
    spec: Projection,
    rows: list[Any],
    latest: Latest,
    postgres: bool,
    scope: Scope | None,
) -> None:
    read = journal.reader(spec.types, postgres, _StrictJSON)
    names = spec.names
    pk_i = names.index(spec.pk)
    n = len(names)
    stamps = [c for c, t in zip(names, spec.types, strict=True) if t == "datetime"]
    pop: Callable[[Any, None], tuple[int, bytes] | None] = latest.get(spec.name.encode(), {}).pop
    report.records += len(rows)
    pks = [r[pk_i] for r in rows]
    keys = (
        [b"%d" % v if type(v) is int else None for v in pks]
        if spec.types[pk_i] == "int"
        else [journal.quoted(str(v))[1:-1] for v in pks]
    )
    for row, pk, entry in zip(rows, pks, map(pop, keys, repeat(None)), strict=True):
        if entry is None:  # the run the row claims to be evidence of, to find it by
            run = row[names.index(spec.run_col)] if spec.run_col else None
            report.breaks.append(
                Break(
                    None,
                    spec.name,
                    None if run is None else str(run),
                    f"{spec.name} {pk}",
                    "the row has no event (written outside drill)",
                )
            )
            continue
        seq, ev = entry
        i = ev.find(b',"data":')  # journal.data_of, inlined: this runs once per row
        if i < 0:
            report.breaks.append(
                _record_break(
                    seq, ev, f"{spec.name} {pk}", "the record was deleted, but its row is back"
                )
            )
            continue
        try:
            doc = _loads(ev[i + 8 : -1])
        except ValueError:  # only a journal rewritten with recomputed hashes gets here
            report.breaks.append(
                _record_break(seq, ev, f"{spec.name} {pk}", "the event's data is not JSON")
            )
            continue
        # the writer wrote the columns in table order; an event from before a column was
        # added lacks it (NULL)
        expected = list(doc.values()) if len(doc) == n else [doc.get(c) for c in names]
        actual = read(row)
        if actual != expected:
            report.breaks.append(
                _record_break(seq, ev, f"{spec.name} {pk}", _changed(names, actual, expected, doc))
            )
        elif scope is not None:
            for c in stamps:  # journal.DATA_TS, which fromisoformat reads (in C)
                if doc.get(c) is not None:
                    doc[c] = datetime.fromisoformat(doc[c]).replace(tzinfo=UTC)
            scope.data[spec.name].append(doc)
            if spec.name == "artifact":
                scope.contents[int(row[pk_i])] = journal.raw(row[names.index("content")])


def _changed(names: list[str], actual: list[Any], expected: list[Any], doc: dict[str, Any]) -> str:
    """What differs between a row (``actual``) and its event (``expected``, from ``doc``):
    the first three columns."""
    diff = [(c, a) for c, a, e in zip(names, actual, expected, strict=True) if a != e]
    return "changed after it was journaled: " + "; ".join(
        f"{c} is {_short(a)} in the table, {_short(doc.get(c))} in the event" for c, a in diff[:3]
    )


def _typed(v: Any) -> Any:
    """A JSON value as bytes that tell ``true`` from ``1`` and ``1`` from ``1.0``."""
    if v is None or type(v) is str:
        return v
    try:
        return orjson.dumps(v)
    except (TypeError, orjson.JSONEncodeError):  # an integer beyond 64 bits
        return repr(v)


class _StrictJSON:
    """A JSON column's value as read from the table, compared with its event's value so
    that ``true``, ``1`` and ``1.0`` differ, which ``==`` takes for equal (an auditor
    reading the table would not). Only non-NULL JSON values are wrapped: a store without
    JSON pays nothing."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        theirs = other.value if isinstance(other, _StrictJSON) else other
        return _typed(self.value) == _typed(theirs)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(self.value)


#: what journal.reader puts for a value its column cannot hold (written outside drill)
_UNREADABLE = ("not JSON", "not a boolean", "not a timestamp")


def _short(v: Any) -> str:
    """A value as a break shows it; one its column cannot hold as what it is, and why
    ("'x' (not JSON)": it read "['not JSON', 'x']", the reader's marker)."""
    inner = v.value if isinstance(v, _StrictJSON) else v
    if type(inner) is list and len(inner) == 2 and inner[0] in _UNREADABLE:
        what, raw = inner
        shown = repr(raw) if what == "not JSON" else str(raw)  # (the others: a repr)
        return f"{shown if len(shown) <= 60 else shown[:57] + '…'} ({what})"
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "…"


def _record_break(
    seq: int | None, ev: bytes, record: str | None, detail: str, in_chain: bool = False
) -> Break:
    """A break about the event ``ev`` (its kind, run and record read from its bytes, as far
    as they still can be)."""
    try:
        raw_kind, run, pk, _at = journal.keys(ev)
        kind = _text(raw_kind)
    except ValueError:  # not an event drill writes: the event is all there is to name
        kind, run, pk = "?", b"null", b"?"
        record = record or (f"event #{seq}" if seq is not None else None)
    return Break(
        seq,
        kind,
        _text(run) or None,
        record or f"{kind.rpartition('.')[0] or kind} {_text(pk)}",
        detail,
        in_chain,
    )


def _gone(report: Report, latest: Latest, lost: dict[str, str]) -> None:
    """The records whose newest event is not a deletion and whose row was not found: deleted,
    or in a table verify could not read (``lost``: table → what is wrong with it, said first
    in a break of its own). Those rows are there: 'the record's row was deleted' of every
    record of a table that lost a column sent an auditor looking for deleted rows."""
    for table, entries in latest.items():
        name = _text(table)
        detail = (
            f"its row could not be read: {lost[name]}"
            if name in lost
            else "the record's row was deleted"
        )
        for pk, (seq, ev) in entries.items():
            if journal.data_of(ev) is not None:
                report.breaks.append(_record_break(seq, ev, f"{name} {_text(pk)}", detail))


def _first_at(conn: Any, ph: str, when: datetime, head: int) -> int:
    """The first event written at ``when`` or later (events are appended in time order;
    a binary search over their ``at``), or one past the ``head``."""
    at = when.astimezone(UTC).strftime(journal.TS_FORMAT).encode()
    lo, hi = 1, head + 1
    while lo < hi:
        mid = (lo + hi) // 2
        row = conn.execute(f"SELECT event FROM {journal.TABLE} WHERE seq = {ph}", (mid,)).fetchone()
        try:
            ev = bytes(row[0])
            k = journal.keys(ev)[3]
            before = ev[k : k + len(at)] < at
        except (TypeError, ValueError):
            before = False  # a damaged or missing event: start early, verify will say why
        lo, hi = (mid + 1, hi) if before else (lo, mid)
    return lo


#: An event verify must find unchanged: (seq, hash, what it means if it is not there).
Anchor = tuple[int, str, str]


def verify(
    conn: Any,
    postgres: bool,
    anchors: Sequence[Anchor] = (),
    scope: Scope | None = None,
    connect: Callable[[], Any] | None = None,
) -> Report:
    """Verify on a DB-API connection. With ``scope``, only the events from the first one
    of its runs/findings to the head, and only their rows (kept in ``scope``).

    With ``connect`` (a function opening another connection to the same database), the
    whole journal is checked in two processes at once: a forked child recomputes the chain
    and checks the biggest projection tables, this process checks the others — the same
    functions on disjoint tables, each reading every event once. A million events take
    about half the time on two cores (benchmarks/evidence_verify.py).

    SQLite stores whatever it is given: text that is not UTF-8 (written behind drill's
    back) makes the driver fail the fetch. Then this verifies again, in this process, with
    such text read leniently (:func:`journal.lenient_text`), so it is a break naming its
    record like any other change — not on the first pass: that costs ~20 % per text value."""
    try:
        return _verify(conn, postgres, anchors, scope, connect)
    except Exception as exc:  # sqlite3.OperationalError, or the child's RuntimeError
        if postgres or "Could not decode to UTF-8" not in str(exc):
            raise
    if scope is not None:
        scope.events.clear()
        scope.by_run.clear()
        scope.data.clear()
        scope.contents.clear()
    factory = conn.text_factory
    conn.text_factory = journal.lenient_text
    try:
        return _verify(conn, postgres, anchors, scope, None)
    finally:
        conn.text_factory = factory


def _verify(
    conn: Any,
    postgres: bool,
    anchors: Sequence[Anchor],
    scope: Scope | None,
    connect: Callable[[], Any] | None,
) -> Report:
    report = Report()
    specs = _tables_present(conn, postgres, report)
    if specs is None:
        return report  # no journal to verify
    lost = {b.record: b.detail for b in report.breaks if b.kind == _SCHEMA}
    ph = "%s" if postgres else "?"
    head = int(conn.execute(f"SELECT MAX(seq) FROM {journal.TABLE}").fetchone()[0] or 0)
    for seq, ev in conn.execute(  # outside every pass below (events are numbered from #1)
        f"SELECT seq, event FROM {journal.TABLE} WHERE seq < 1 ORDER BY seq"
    ).fetchall():
        report.breaks.append(
            _record_break(seq, journal.raw(ev or b""), None, "numbered below #1 (inserted)", True)
        )
    start = 1 if scope is None else _first_at(conn, ph, scope.since - _MARGIN, head)
    span = (start, max(head, start - 1))
    with gc_paused():  # a million short-lived objects, no cycles among them
        if scope is None and connect is not None and span[1] - span[0] >= SPLIT_FROM:
            _verify_split(conn, postgres, span, specs, connect, report, lost)
        else:
            latest = _check_journal(conn, postgres, report, span, scope)
            _check_projections(conn, postgres, specs, latest, report, scope, lost)
            if scope is not None:
                _check_environments(conn, postgres, specs, report, scope)
    _check_anchors(conn, ph, anchors, report)
    report.breaks.sort(key=_cause_first)
    return report


def _tables_present(conn: Any, postgres: bool, report: Report) -> list[Projection] | None:
    """The projection tables there are, with every column drill made; each one that is
    not is a break (its records' rows are gone as far as verify can tell). None when the
    journal itself is not there: nothing else can be verified."""
    tables: dict[str, set[str]] = defaultdict(set)  # table → its columns
    for table, column in conn.execute(_COLUMNS_PG if postgres else _COLUMNS_SQLITE).fetchall():
        tables[table].add(column)
    if journal.TABLE not in tables:
        report.breaks.append(Break(None, "journal", None, "journal", "the table is missing"))
        return None
    if lost := _missing(tables[journal.TABLE], ["seq", "prev", "hash", "event"]):
        report.breaks.append(Break(None, "journal", None, "journal", lost))
        return None
    specs = []
    for spec in projections():  # every command migrates the store first: all are there
        lost = (
            "the table is missing"
            if spec.name not in tables
            else _missing(tables[spec.name], spec.names)
        )
        if lost:
            report.breaks.append(Break(None, _SCHEMA, None, spec.name, lost))
        else:
            specs.append(spec)
    return specs


def _check_anchors(conn: Any, ph: str, anchors: Sequence[Anchor], report: Report) -> None:
    """Each event drill must find unchanged (the head it last saw, a bundle's head)."""
    for seq, digest, meaning in anchors:
        row = conn.execute(f"SELECT hash FROM {journal.TABLE} WHERE seq = {ph}", (seq,)).fetchone()
        if row is not None and row[0] == digest:
            continue
        old = _old_head(conn, ph)
        if old == (seq, digest):
            continue  # a head from before the upgrade (a wave-1 bundle's), kept by it
        if old is not None:
            meaning += (
                f"; nor is it the head the chain before the upgrade to the journal had "
                f"when it was verified and converted (#{old[0]} {old[1]}), the one "
                "head of that chain the journal keeps"
            )
        report.breaks.append(Break(seq, "journal", None, f"event #{seq}", meaning, True))


_SCHEMA = "schema"


def _cause_first(b: Break) -> tuple[int, int]:
    """The order breaks are reported in: a table or column gone says most; then the chain
    (an event deleted, moved or changed explains why records then differ from their
    newest remaining event); then the records; each group from the lowest seq."""
    group = 0 if b.kind == _SCHEMA else 1 if b.in_chain else 2
    return group, b.seq if b.seq is not None else 1 << 62


#: (table, column) of every table (not view) of the database
_COLUMNS_SQLITE = (
    "SELECT m.name, p.name FROM sqlite_master AS m JOIN pragma_table_info(m.name) AS p "
    "WHERE m.type = 'table'"
)
_COLUMNS_PG = (
    "SELECT c.relname, a.attname FROM pg_attribute AS a JOIN pg_class AS c ON a.attrelid = c.oid "
    "WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p') "
    "AND a.attnum > 0 AND NOT a.attisdropped"
)


def _missing(have: set[str], want: Sequence[str]) -> str:
    """What a table lacks of the columns drill made (a column dropped or renamed behind
    drill's back: reading the table would fail), or ''."""
    gone = [c for c in want if c not in have]
    return f"the table has no column {', '.join(gone)}" if gone else ""


def _old_head(conn: Any, ph: str) -> tuple[int, str] | None:
    """The old hash chain's head (seq, hash) a journal made by upgrading a store of the
    released version records in its first event (``journal.migrated``), or None."""
    row = conn.execute(f"SELECT event FROM {journal.TABLE} WHERE seq = {ph}", (1,)).fetchone()
    first = b"" if row is None else journal.raw(row[0])
    if not first.startswith(b'{"kind":"journal.migrated"'):
        return None
    try:
        head = json.loads(journal.data_of(first) or b"")["old_chain"]
        return int(head["head_seq"]), str(head["head_hash"])
    except (ValueError, KeyError, TypeError):
        return None  # the chain's own check says what is wrong with the event


def _check_projections(
    conn: Any,
    postgres: bool,
    specs: list[Projection],
    latest: Latest,
    report: Report,
    scope: Scope | None,
    lost: dict[str, str],
) -> None:
    """Every row of ``specs`` against its record's newest event; then the records whose
    row is gone (``lost``: the tables that could not be read, and why)."""
    ph = "%s" if postgres else "?"
    for spec in specs:
        if scope is None:
            for batch in _batches(conn, postgres, spec.select()):
                _compare(report, spec, batch, latest, postgres, None)
            continue
        matches: list[tuple[str, list[Any]]] = [(spec.run_col, scope.runs)] if spec.run_col else []
        if spec.name == "finding":
            matches.append((spec.pk, [int(f) for f in scope.findings]))
        for col, keys in matches:
            for i in range(0, len(keys), _CHUNK):
                part = keys[i : i + _CHUNK]
                rows = conn.execute(
                    f'{spec.select()} WHERE "{col}" IN ({", ".join([ph] * len(part))})', part
                ).fetchall()
                _compare(report, spec, rows, latest, postgres, scope)
    _gone(report, latest, lost)


def _check_environments(
    conn: Any, postgres: bool, specs: list[Projection], report: Report, scope: Scope
) -> None:
    """The environment records of the scope's (verified) runs, each against its newest
    event (kept in ``scope`` like every row). They belong to no run and may predate the
    period: their events are found through the journal's partial index of environment
    events (:data:`journal.ENVIRONMENT_EVENTS`), not by reading the journal."""
    spec = next((s for s in specs if s.name == "environment"), None)
    envs = sorted({str(r["env"]) for r in scope.data.get("run", [])})  # as verified
    if spec is None or not envs:
        return
    ph = "%s" if postgres else "?"
    rows = conn.execute(
        f'{spec.select()} WHERE "name" IN ({", ".join([ph] * len(envs))})', envs
    ).fetchall()
    if not rows:
        return
    where = journal.ENVIRONMENT_EVENTS["postgresql" if postgres else "sqlite"]
    latest: Latest = defaultdict(dict)
    links: dict[int, tuple[str, str]] = {}
    for seq, prev, digest, ev in conn.execute(
        f"SELECT seq, prev, hash, event FROM {journal.TABLE} WHERE {where} ORDER BY seq"
    ).fetchall():
        ev = journal.raw(ev)
        try:
            latest[b"environment"][journal.keys(ev)[2]] = (seq, ev)
        except ValueError:  # the main pass or `drill evidence verify` says what is wrong
            continue
        links[seq] = (str(prev), str(digest))
    # an event before the period is outside the chain pass: it must be a link of the chain
    # (its hash recomputes, the next event names it), or a row and its event changed alike
    # would be exported; a chain rewritten from there on does not end at the head drill saw
    pk_i = spec.names.index(spec.pk)
    for row in rows:
        entry = latest[b"environment"].get(journal.quoted(str(row[pk_i]))[1:-1])
        if entry is None:
            continue  # _compare says so
        seq, ev = entry
        prev, digest = links[seq]
        after = conn.execute(
            f"SELECT prev FROM {journal.TABLE} WHERE seq = {ph}", (seq + 1,)
        ).fetchone()
        if journal.link(prev, ev) != digest or (after is not None and after[0] != digest):
            report.breaks.append(
                _record_break(
                    seq,
                    ev,
                    f"environment {row[pk_i]}",
                    "its event is not a link of the chain: its hash does not recompute, "
                    "or the event after it does not name it",
                    True,
                )
            )
    _compare(report, spec, rows, latest, postgres, scope)


#: Below this many events a second process is not worth its start.
SPLIT_FROM = 50_000
#: Relative cost (CPU per event or row, measured on the benchmark journal) of what each
#: process does, to give both about the same work: recomputing an event's link; checking
#: a row (fetching it and its ~1.5 events, comparing).
_COST_LINK, _COST_ROW = 2.25, 7.0


def _verify_split(
    conn: Any,
    postgres: bool,
    span: tuple[int, int],
    specs: list[Projection],
    connect: Callable[[], Any],
    report: Report,
    lost: dict[str, str],
) -> None:
    """The child recomputes the chain and checks some tables (and the events of no known
    table, or of a table in ``lost``); this process checks the others, each table going
    to the one with less work so far (biggest first)."""
    from orchestrator.evidence.forked import abandon, in_child

    sizes = {
        s.name: int(conn.execute(f'SELECT COUNT(*) FROM "{s.name}"').fetchone()[0]) for s in specs
    }
    child: list[Projection] = []
    here: list[Projection] = []
    load_child, load_here = _COST_LINK * (span[1] - span[0] + 1), 0.0
    for spec in sorted(specs, key=lambda s: -sizes[s.name]):
        if load_child < load_here:
            child.append(spec)
            load_child += _COST_ROW * sizes[spec.name]
        else:
            here.append(spec)
            load_here += _COST_ROW * sizes[spec.name]

    def in_the_child() -> Report:
        part = Report()
        own = connect()
        try:
            latest = _check_journal(
                own, postgres, part, span, None, skip=tuple(s.name.encode() for s in here)
            )
            _check_projections(own, postgres, child, latest, part, None, lost)
        finally:
            own.close()
        return part

    wait = in_child(in_the_child)
    try:
        latest = _check_journal(
            conn,
            postgres,
            report,
            span,
            None,
            chain=False,
            only=tuple(s.name.encode() for s in here),
        )
        _check_projections(conn, postgres, here, latest, report, None, lost)
    except BaseException:
        abandon(wait)
        raise
    part = wait()
    report.events, report.head_seq, report.head_hash = part.events, part.head_seq, part.head_hash
    report.records += part.records
    linked = {b.seq for b in part.breaks}  # an event both found wrong: the chain's word
    report.breaks = part.breaks + [
        b for b in report.breaks if b.detail != _NOT_AN_EVENT or b.seq not in linked
    ]


def verify_db(db: Any, anchors: Sequence[Anchor] = ()) -> Report:
    """:func:`verify` on a new connection of ``db`` (an
    :class:`~orchestrator.evidence.writer.EvidenceDB`); in two processes from
    :data:`SPLIT_FROM` events on. Also requires the newest event this machine saw
    (:mod:`~orchestrator.evidence.witness`), and remembers the head when all is well."""
    from orchestrator.evidence import witness

    seen = witness.anchor(db)  # before the snapshot: the event it names is in it
    # each process reads one snapshot: read statement by statement, a row a drill
    # committed between the journal pass and the tables' was taken for tampering
    with db.snapshot() as conn:
        report = verify(
            conn, db.is_postgres, [*anchors, *([seen] if seen else [])], connect=db.reading
        )
    first = db.first_hash() if report.ok and report.head_seq else None
    if first and db.witness is not None:
        witness.remember(
            db.witness,
            first,
            report.head_seq,
            report.head_hash,
            journal.now(),
            witness.location(db.url),
        )
    return report
