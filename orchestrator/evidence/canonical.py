"""The canonical form of an evidence row, the chain's link hash and its rules.

Both writers of evidence use this module: the ORM path (:mod:`orchestrator.evidence.chain`,
every SQLModel flush) and the direct DB-API path (:mod:`orchestrator.evidence.writer`, what
``drill run`` uses so that a run does not pay for importing SQLAlchemy). ``verify`` uses
it too. One implementation means one definition of what is hashed.

A row's canonical JSON: sorted keys, no whitespace, NULL columns left out, timestamps as
``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (UTC), blobs as ``sha256:<hex>``, non-ASCII kept as is.
:func:`canonical_row` is the reference definition on Python values; :func:`compile_canon`
builds a fast function that yields the same bytes from *raw* driver tuples, given each
column's :data:`Kind` (and :func:`compile_digest` its sha256, as an SQL function).

Only the standard library is needed; for bulk work (verify, export) the generated code
lets orjson write the JSON object, trusted only for what it provably writes exactly like
``json.dumps`` (see :func:`_orjson_dumps`; ``tests/unit/test_canonical_compiled.py``).
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, Literal

from orchestrator.errors import RecordImmutable

CHAIN_TABLE = "evidence_chain"
GENESIS = "0" * 64
PG_CHAIN_LOCK_KEY = 0x64726C6C63686E  # "drllchn": one advisory lock for all appends
TS_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
HEAD_SQL = f"SELECT seq, hash FROM {CHAIN_TABLE} ORDER BY seq DESC LIMIT 1"
#: Tables whose rows may still change after their run ended (each change is chained).
MUTABLE_AFTER_RUN: frozenset[str] = frozenset({"finding"})

#: How a column's raw driver value becomes canonical JSON.
#: ``str``/``int``/``float``/``bool`` — the driver's value (fast path, type-checked);
#: ``bool01`` — SQLite's 0/1 booleans; ``sqlite_ts`` — SQLite's ``YYYY-MM-DD HH:MM:SS.ffffff``
#: text; ``processed`` — through a converter first (e.g. JSON text → value), then encoded.
Kind = Literal["str", "int", "float", "bool", "bool01", "sqlite_ts", "processed"]


def _value(v: Any) -> Any:
    if isinstance(v, datetime):
        if v.tzinfo is not None:
            v = v.astimezone(UTC).replace(tzinfo=None)
        return v.strftime(TS_FORMAT)
    if isinstance(v, bytes | bytearray | memoryview):
        return "sha256:" + hashlib.sha256(bytes(v)).hexdigest()
    if isinstance(v, Enum):
        return v.value
    if isinstance(v, Decimal | date):
        return str(v)
    return v


def canonical_row(names: Sequence[str], values: Any) -> bytes:
    """Canonical JSON of one row given Python values (the reference definition)."""
    doc = {n: _value(v) for n, v in zip(names, values, strict=True) if v is not None}
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str).encode()


def row_digest(names: Sequence[str], values: Any) -> str:
    return hashlib.sha256(canonical_row(names, values)).hexdigest()


def link_hash(seq: int, table: str, pk: str, op: str, run_id: str | None, digest: str,
              at: str, prev: str) -> str:
    return hashlib.sha256(
        f"{seq}\n{table}\n{pk}\n{op}\n{run_id or ''}\n{digest}\n{at}\n{prev}".encode()
    ).hexdigest()


def pk_string(values: Any) -> str:
    return ",".join(str(v) for v in values)


def quote_ident(name: str) -> str:
    """A table or column name as an SQL identifier (SQLite and PostgreSQL alike)."""
    return '"' + name.replace('"', '""') + '"'


def run_column_name(table: str, columns: Sequence[str]) -> str | None:
    """The column naming the run a row is evidence of (``id`` for ``run`` itself)."""
    if table == "run":
        return "id"
    return "run_id" if "run_id" in columns else None


def finished_run_error(table: str, pk: str, run_id: Any, verb: str) -> RecordImmutable:
    """What both writers raise when evidence of a finished run would change."""
    return RecordImmutable(
        f"{table} {pk} is evidence of run {run_id}, which has ended; it cannot {verb}",
        "evidence of a finished run is immutable; record a new finding or run instead")


Item = tuple[str, str, str, "str | None", str]  # table, pk, op, run id, digest


def chain_entries(head: tuple[Any, Any] | None, items: Sequence[Item]
                  ) -> list[tuple[int, str, str, str, str | None, str, str, str, str]]:
    """The chain rows for ``items`` after ``head`` (the newest ``(seq, hash)``, or None),
    in ``evidence_chain`` column order, all stamped with the same time."""
    seq, prev = (int(head[0]), str(head[1])) if head else (0, GENESIS)
    at = chain_timestamp()
    entries = []
    for table, pk, op, run_id, digest in items:
        seq += 1
        new = link_hash(seq, table, pk, op, run_id, digest, at, prev)
        entries.append((seq, table, pk, op, run_id, digest, at, prev, new))
        prev = new
    return entries


def chain_timestamp() -> str:
    return datetime.now(UTC).strftime(TS_FORMAT)


def _default(o: Any) -> Any:
    """The encoder's hook for values that are not JSON: exactly :func:`_value`, then str."""
    v = _value(o)
    return str(o) if v is o else v


def _json_encoder() -> Callable[[Any], str]:
    """``json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
    default=…)`` without building a new encoder per row."""
    encoder = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                               default=_default, check_circular=False)
    try:
        from json.encoder import (  # type: ignore[attr-defined]
            c_make_encoder,
            encode_basestring,
        )

        if c_make_encoder is None:
            return encoder.encode
        make = c_make_encoder(None, _default, encode_basestring, None, ":", ",", True,
                              False, True)
        join = "".join
        if join(make({"b": [1.5, None, True], "a": "\u00e9\n"}, 0)) != encoder.encode(
                {"b": [1.5, None, True], "a": "\u00e9\n"}):
            return encoder.encode
        return lambda doc: join(make(doc, 0))
    except (ImportError, TypeError):  # another Python's private encoder signature
        return encoder.encode


encode_value = _json_encoder()


def _sqlite_ts_fallback(v: Any) -> Any:
    """A SQLite timestamp that is not in the 26-character form: parse it as SQLAlchemy
    does (``datetime.fromisoformat`` accepts its variants), else keep the text."""
    if isinstance(v, str):
        try:
            return _value(datetime.fromisoformat(v))
        except ValueError:
            return v
    return _value(v)


#: Generated-code test for SQLAlchemy's SQLite timestamp text (26 characters, year ≥ 1000)
#: and its one-to-one rewrite to the canonical form; anything else takes the slow path.
_IS_SQLITE_TS = "type(v) is str and len(v) == 26 and v[10] == ' ' and v[0] != '0'"
_ISO_TS = "v[:10] + 'T' + v[11:] + 'Z'"


def _sqlite_ts_slow(conv: Callable[[Any], Any] | None) -> Callable[[Any], Any]:
    """The slow path of a SQLite timestamp column: its converter, else parsing."""
    if conv is None:
        return _sqlite_ts_fallback
    return lambda v: _value(conv(v))


@functools.cache
def _orjson_dumps() -> Callable[[Any], bytes] | None:
    """orjson's ``dumps`` if it writes strings exactly as ``encode_basestring`` does.

    Why orjson: building the JSON object in C instead of member by member in Python
    halves the cost of a row (``drill evidence verify`` canonicalises a million). It is
    only trusted for what it provably writes like ``json.dumps(ensure_ascii=False)``:
    dicts in insertion order, exact ``str``, ``bool`` and 64-bit ``int`` values, and
    :class:`orjson.Fragment` (pre-encoded JSON, used for floats and everything else).
    A test compares every code point; this probe guards against another orjson release.
    """
    try:
        import orjson
    except ImportError:  # pragma: no cover - a declared dependency
        return None
    from json.encoder import encode_basestring

    probe = "".join(map(chr, range(0x00, 0x80))) + "\u00e9\u2028\u2029\ufeff\U0001f600"
    floats = [0.0, -0.0, 1e-4, -65.5, 0.1 + 0.2, 2 / 3, 9999999999999998.0]
    doc = {"k\u00e9\n": probe, "n": -(2 ** 63), "t": True, "x": floats,
           "f": orjson.Fragment("1.5")}
    expected = ('{' + encode_basestring("k\u00e9\n") + ':' + encode_basestring(probe)
                + f',"n":{-(2 ** 63)},"t":true,"x":[{",".join(map(repr, floats))}],'
                + '"f":1.5}').encode()
    try:
        return orjson.dumps if orjson.dumps(doc) == expected else None
    except Exception:  # an orjson without what this relies on
        return None


Columns = Sequence[tuple[str, Kind, "Callable[[Any], Any] | None"]]


def compile_canon(table: str, columns: Columns, bulk: bool = True) -> Callable[[Any], bytes]:
    """A function: raw row tuple (columns in the given order) → canonical JSON bytes.

    ``columns`` = ``[(name, kind, converter)]``; ``converter`` is used by ``processed``
    (None there means the value is already a Python value) and by ``sqlite_ts`` for text
    not in SQLAlchemy's 26-character form. A value of an unexpected type, NaN/∞, blobs
    and JSON documents go through the encoder, so the bytes always equal
    :func:`canonical_row`.

    Two generated functions: the fast one fills a dict in sorted key order and lets
    orjson write it (floats and encoder output inserted as pre-encoded fragments); what
    orjson refuses (a lone surrogate, an integer beyond 64 bits) falls back to the
    portable one, which writes the object member by member with the stdlib's encoders.
    ``bulk=False`` gives the portable one only: importing orjson costs more (≈ 30 ms)
    than it saves on the few rows ``drill run`` writes.
    """
    portable = _compile_portable(table, columns)
    dumps = _orjson_dumps() if bulk else None
    if dumps is None:
        return portable
    return _compile_orjson(table, columns, dumps, portable, as_digest=False)


def compile_digest(table: str, columns: Columns) -> Callable[..., str | None]:
    """A function of the row's columns as arguments → sha256 hex of its canonical JSON,
    None if a value cannot be canonicalised (it was, when it was chained: the row has
    changed). Made to be an SQL function: one Python frame per row, no tuple indexing."""
    portable = _compile_portable(table, columns)
    sha256 = hashlib.sha256

    def reference(row: Any) -> str | None:
        try:
            return sha256(portable(row)).hexdigest()
        except Exception:
            return None
    dumps = _orjson_dumps()
    if dumps is None:
        return lambda *row: reference(row)
    return _compile_orjson(table, columns, dumps, reference, as_digest=True)


def _compile_orjson(table: str, columns: Columns, dumps: Callable[[Any], bytes],
                    fallback: Callable[[Any], Any], as_digest: bool) -> Any:
    """The orjson form; ``fallback(row)`` answers what orjson refuses (and, for a digest,
    any error)."""
    import orjson

    env: dict[str, Any] = {"G": encode_value, "F": orjson.Fragment, "dumps": dumps,
                           "fallback": fallback, "H": hashlib.sha256}
    args = [f"c{i}" for i in range(len(columns))]
    lines = [" d = {}"]
    for i in sorted(range(len(columns)), key=lambda i: columns[i][0]):
        name, kind, conv = columns[i]
        k = f"N{i}"
        env[k] = name
        env[f"p{i}"] = conv
        lines.append(f" v = {args[i]}")
        if kind in ("str", "int", "bool"):
            lines.append(f" if v is not None: d[{k}] = v if type(v) is {kind} else F(G(v))")
        elif kind == "float":
            # orjson writes a float as repr() does between 1e-4 and 1e16 (shortest
            # round trip, the same notation); outside it, or NaN/∞, the encoder writes it
            lines.append(f" if v is not None: d[{k}] = v if type(v) is float and "
                         "(1e-4 <= v < 1e16 or -1e16 < v <= -1e-4 or v == 0) else F(G(v))")
        elif kind == "sqlite_ts":
            env[f"s{i}"] = _sqlite_ts_slow(conv)
            lines.append(f" if v is not None:\n  if {_IS_SQLITE_TS}: d[{k}] = {_ISO_TS}\n"
                         f"  else: d[{k}] = F(G(s{i}(v)))")
        elif kind == "bool01":
            lines.append(f" if v is not None:\n"
                         f"  d[{k}] = v == 1 if type(v) is int and (v == 1 or v == 0) "
                         "else F(G(v))")
        elif conv is not None:
            lines.append(f" if v is not None:\n  v = p{i}(v)\n"
                         f"  if v is not None: d[{k}] = F(G(v))")
        else:
            lines.append(f" if v is not None: d[{k}] = F(G(v))")
    if as_digest:  # any error: the reference decides
        body = "\n".join("  " + line for line in "\n".join(lines).split("\n"))
        source = (f"def canon({', '.join(args)}):\n try:\n{body}\n"
                  "   return H(dumps(d)).hexdigest()\n"
                  f" except Exception: return fallback(({', '.join(args)},))")
    else:  # only what orjson refuses goes the portable way
        source = (f"def canon(row):\n {', '.join(args)}, = row\n" + "\n".join(lines)
                  + "\n try: return dumps(d)\n except TypeError: return fallback(row)")
    exec(compile(source, f"<canonical row of {table} (orjson)>", "exec"), env)
    return env["canon"]


def _compile_portable(table: str, columns: Columns) -> Callable[[Any], bytes]:
    """The stdlib-only form of :func:`compile_canon`: the object member by member."""
    from json.encoder import encode_basestring

    env: dict[str, Any] = {"G": encode_value, "E": encode_basestring, "IR": int.__repr__,
                           "FR": float.__repr__}
    lines = ["def canon(row):", " parts = []", " a = parts.append"]
    for i in sorted(range(len(columns)), key=lambda i: columns[i][0]):
        name, kind, conv = columns[i]
        k = f"K{i}"
        env[k] = encode_basestring(name) + ":"
        env[f"p{i}"] = conv
        lines.append(f" v = row[{i}]")
        if kind in ("str", "int", "float", "bool"):
            fast = {"str": f"if type(v) is str: a({k} + E(v))",
                    "int": f"if type(v) is int: a({k} + IR(v))",
                    "float": f"if type(v) is float and v - v == 0: a({k} + FR(v))",
                    "bool": f"if type(v) is bool: a({k} + ('true' if v else 'false'))"}[kind]
            lines.append(f" if v is not None:\n  {fast}\n  else: a({k} + G(v))")
        elif kind == "sqlite_ts":
            env[f"s{i}"] = _sqlite_ts_slow(conv)
            lines.append(f" if v is not None:\n  if {_IS_SQLITE_TS}: a({k} + E({_ISO_TS}))\n"
                         f"  else: a({k} + G(s{i}(v)))")
        elif kind == "bool01":
            lines.append(f" if v is not None:\n"
                         f"  if v == 1 and type(v) is int: a({k} + 'true')\n"
                         f"  elif v == 0 and type(v) is int: a({k} + 'false')\n"
                         f"  else: a({k} + G(v))")
        elif conv is not None:
            lines.append(f" if v is not None:\n  v = p{i}(v)\n"
                         f"  if v is not None: a({k} + G(v))")
        else:
            lines.append(f" if v is not None: a({k} + G(v))")
    lines.append(" return ('{' + ','.join(parts) + '}').encode()")
    exec(compile("\n".join(lines), f"<canonical row of {table}>", "exec"), env)
    canon: Callable[[Any], bytes] = env["canon"]
    return canon
