"""The evidence journal (DESIGN section 14): one append-only list of immutable events.

An event is one UTF-8 JSON object, stored as the exact bytes that were hashed::

    {"kind":"step_run.update","run":"r-…","pk":"12","at":"2026-…Z","data":{…}}

``kind`` is ``<projection table>.<insert|update|migrated>`` (or ``journal.migrated``),
``run`` the run it is evidence of (or null), ``pk`` the record's key, ``at`` when it was
written, ``data`` the record's full state after the change. (drill deletes no evidence;
verify reads an event without ``data``, ``<table>.delete``, as the record being gone.) Each
event has ``seq`` (1, 2, …), ``prev`` (the hash of event ``seq − 1``, 64 zeros for the
first) and ``hash = sha256(prev_hex + "\\n" + event_bytes)``. Nothing else is hashed, so
an auditor recomputes the chain with a dozen lines of any language (the bundle ships
``journal/verify_chain.py``).

The tables (run, step_run, finding, schedule, …) are *projections*: the current state of
each record, kept beside the journal for queries and checked against it by
:mod:`orchestrator.evidence.verify`. Only :func:`append` adds events; its one caller,
:meth:`orchestrator.evidence.writer.EvidenceDB.write` (every path: run, scheduler,
findings, game days), calls it inside the transaction that changed the projection.

Standard library only: ``drill run`` imports it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from json.encoder import encode_basestring_ascii as _str
from typing import Any, Literal

TABLE = "journal"
GENESIS = "0" * 64
PG_LOCK_KEY = 0x64726C6C63686E  # "drllchn": one advisory lock serialises appends
TS_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
HEAD_SQL = f"SELECT seq, hash FROM {TABLE} ORDER BY seq DESC LIMIT 1"
#: The environment events (whose records belong to no run), as SQL per dialect: the
#: predicate of the journal's partial index ``ix_journal_environment`` (migration 0006).
_ENV = b'{"kind":"environment.'
ENVIRONMENT_EVENTS = {
    "sqlite": f"substr(event, 1, {len(_ENV)}) = X'{_ENV.hex()}'",
    "postgresql": f"substr(event, 1, {len(_ENV)}) = '\\x{_ENV.hex()}'::bytea",
}
#: Tables whose records may still change after their run ended (each change is an event).
MUTABLE_AFTER_RUN: frozenset[str] = frozenset({"finding"})

#: How a projection column is stored (from the record classes' annotations).
ColumnType = Literal["str", "int", "float", "bool", "datetime", "json", "bytes"]

#: ASCII JSON: every byte of an event is printable and valid UTF-8, whatever a step output
#: holds (even a lone surrogate from a file name)
_encode = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode


def link(prev: str, event: bytes) -> str:
    """The chain rule: ``sha256(prev_hex + "\\n" + event_bytes)`` in hex."""
    return hashlib.sha256(prev.encode() + b"\n" + event).hexdigest()


def quoted(text: str) -> bytes:
    """A string as an event holds it (ASCII JSON, quotes included)."""
    return _str(text).encode()


def event(kind: str, run: str | None, pk: str, at: str, data: Any = None) -> bytes:
    """An event's bytes: its members always in this order (``data`` None: no payload,
    e.g. a deletion)."""
    run_ = "null" if run is None else _str(run)
    data_ = "" if data is None else ',"data":' + _encode(data)
    return f'{{"kind":{_str(kind)},"run":{run_},"pk":{_str(pk)},"at":{_str(at)}{data_}}}'.encode()


def keys(ev: bytes) -> tuple[bytes, bytes, bytes, int]:
    """(kind, run as JSON: ``null`` or a quoted string, pk as escaped in the event, index
    of ``"at"``) read from the bytes: the members come first, in this order, and a quote
    inside a JSON string is always escaped, so these separators cannot occur earlier."""
    i = ev.index(b'","run":', 9)
    j = ev.index(b',"pk":"', i)
    k = ev.index(b'","at":"', j)
    return ev[9:i], ev[i + 8 : j], ev[j + 7 : k], k + 8


def data_of(ev: bytes) -> bytes | None:
    """The ``data`` member's bytes (it is always last), or None. ``,"data":`` cannot occur
    earlier: inside a JSON string every quote is escaped."""
    i = ev.find(b',"data":')
    return None if i < 0 else ev[i + 8 : -1]


def now() -> str:
    return datetime.now(UTC).strftime(TS_FORMAT)


# ---- projection rows as JSON values --------------------------------------------------

#: Timestamps in an event's data: UTC, as SQLAlchemy stores them on SQLite — so verify
#: compares SQLite's text as it is, byte for byte.
DATA_TS = "%Y-%m-%d %H:%M:%S.%f"


def _ts_pg(v: Any) -> Any:
    if isinstance(v, datetime):
        if v.tzinfo is not None:
            v = v.astimezone(UTC).replace(tzinfo=None)
        return v.strftime(DATA_TS)
    return ["not a timestamp", repr(v)]


def json_sqlite(v: Any) -> Any:
    """A SQLite JSON column's value: its numeric affinity stores a bare number as a number
    (as SQLAlchemy's JSON type reads it back, so must we)."""
    if not isinstance(v, str | bytes):
        return v
    try:
        return json.loads(v)
    except ValueError:  # not JSON (written behind drill's back): no event holds this
        return ["not JSON", v if isinstance(v, str) else repr(v)]


def _bool(v: Any) -> Any:
    if v is True or v is False:
        return v
    return v == 1 if type(v) is int and v in (0, 1) else ["not a boolean", repr(v)]


def _float(v: Any) -> Any:
    if type(v) is float and v - v == 0:
        return v
    return repr(v) if type(v) is float else v  # NaN/inf as text: JSON has no form for them


def raw(v: Any) -> bytes:
    """A blob's bytes; SQLite may hand back text for one (a value written as text, or
    text it could not decode, as :func:`lenient_text` gives it): its bytes, as stored."""
    return v.encode("utf-8", "surrogateescape") if isinstance(v, str) else bytes(v)


def lenient_text(b: bytes) -> str:
    """SQLite text that is not UTF-8 (written behind drill's back) as a str that differs
    from any event's value, instead of the driver's decoding error."""
    return b.decode("utf-8", "surrogateescape")


def _bytes(v: Any, sha256: Callable[[bytes], Any] = hashlib.sha256) -> Any:
    # raw(v), inlined: this runs once per blob verify reads
    return "sha256:" + sha256(v if type(v) is bytes else raw(v)).hexdigest()


def reader(
    types: Sequence[ColumnType], postgres: bool, strict: Callable[[Any], Any] | None = None
) -> Callable[[Sequence[Any]], list[Any]]:
    """Raw driver row → the JSON values an event holds for it (a blob as its sha256; a
    timestamp as ``YYYY-MM-DD HH:MM:SS.ffffff`` UTC). The writer builds events with it
    from the row it reads back, and verify compares every projection row through it,
    each non-NULL JSON value wrapped by ``strict`` (a type-strict comparison)."""
    table: dict[str, Callable[[Any], Any]] = {"bool": _bool, "float": _float, "bytes": _bytes}
    if postgres:  # (SQLite's DATETIME text is already what an event holds)
        table["datetime"] = _ts_pg
        if strict is not None:
            table["json"] = strict
    elif strict is not None:
        table["json"] = lambda v: strict(json_sqlite(v))
    else:
        table["json"] = json_sqlite
    convs = [(i, table[t]) for i, t in enumerate(types) if t in table]

    def read(row: Sequence[Any]) -> list[Any]:
        values = list(row)
        for i, conv in convs:
            v = values[i]
            if v is not None:
                values[i] = conv(v)
        return values

    return read


# ---- appending -----------------------------------------------------------------------

Change = tuple[str, str, str, "str | None", "dict[str, Any] | None"]  # table op pk run data


def append(
    conn: Any, changes: Iterable[Change], postgres: bool, at: str | None = None
) -> tuple[int, str] | None:
    """Append one event per change after the head, in the caller's transaction (which
    holds the database's write lock on SQLite, the advisory lock here on PostgreSQL);
    the new head (seq, hash), None if there was nothing to append. ``at``: when, if not
    now (benchmark data stamped with the times it simulates)."""
    if postgres:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (PG_LOCK_KEY,))
    head = conn.execute(HEAD_SQL).fetchone()
    seq, prev = (int(head[0]), str(head[1])) if head else (0, GENESIS)
    at = at or now()
    rows = []
    for table, op, pk, run, data in changes:
        kind = f"{table}.{op}"
        ev = event(kind, run, pk, at, data)
        seq += 1
        h = link(prev, ev)
        rows.append((seq, prev, h, ev))
        prev = h
    if not rows:
        return None
    ph = ", ".join(["%s" if postgres else "?"] * 4)
    sql = f"INSERT INTO {TABLE} (seq, prev, hash, event) VALUES ({ph})"
    if postgres:
        with conn.cursor() as cur:
            cur.executemany(sql, rows)
    else:
        conn.executemany(sql, rows)
    return seq, prev
