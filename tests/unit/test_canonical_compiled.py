"""The generated canonical forms (orjson-backed and portable) write exactly the bytes of
the reference definition, :func:`canonical_row`, for any value a column may hold —
including values of the wrong type, NaN/∞, lone surrogates and integers beyond 64 bits
(what orjson refuses must fall back, never change the bytes)."""

from __future__ import annotations

import hashlib
import json
import math
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.evidence import canonical
from orchestrator.evidence.canonical import (
    Kind,
    canonical_row,
    compile_canon,
    compile_digest,
)


def _loads(v: Any) -> Any:
    return json.loads(v) if isinstance(v, str) else v


#: (name, kind, converter); names out of order on purpose, one needing escapes
COLUMNS: list[tuple[str, Kind, Any]] = [
    ("name", "str", None), ("count", "int", None), ("ratio", "float", None),
    ("ok", "bool", None), ("at", "sqlite_ts", None), ("flag", "bool01", None),
    ("doc", "processed", _loads), ("blob", "processed", None), ("é\n\"key", "str", None),
]
NAMES = [c[0] for c in COLUMNS]

anything = (st.none() | st.text() | st.integers() | st.floats() | st.booleans()
            | st.binary(max_size=8))
floats = st.floats() | st.sampled_from([0.0, -0.0, 1e-4, -1e-4, 9.999e-05, 1e16, 1e-320,
                                        1e15, 65.0, 0.1 + 0.2, math.nan, math.inf])
ints = st.integers() | st.sampled_from([2**63 - 1, -(2**63), 2**63, 2**64, -(2**64) - 1])
texts = st.text() | st.sampled_from(["\ud800", "a\udfffb", "\u2028\x7f\x00", "\U0001f600"])
timestamps = st.datetimes(timezones=st.just(UTC)).map(
    lambda d: d.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f"))
json_docs = st.recursive(st.none() | st.booleans() | ints | floats | texts,
                         lambda inner: st.lists(inner, max_size=3)
                         | st.dictionaries(st.text(max_size=3), inner, max_size=3),
                         max_leaves=8).map(lambda v: json.dumps(v))

ROWS = st.tuples(
    st.none() | texts | anything, st.none() | ints | anything, st.none() | floats | anything,
    st.none() | st.booleans() | anything, st.none() | timestamps | anything,
    st.none() | st.sampled_from([0, 1, 2, -1]) | anything, st.none() | json_docs,
    st.none() | st.binary(max_size=8) | anything, st.none() | texts)


def _reference(row: tuple[Any, ...]) -> bytes | None:
    """canonical_row of the values SQLAlchemy would hand over for this raw row."""
    values: list[Any] = []
    for (_, kind, conv), v in zip(COLUMNS, row, strict=True):
        if v is not None and kind == "sqlite_ts":
            v = (datetime.fromisoformat(v).replace(tzinfo=UTC)
                 if isinstance(v, str) and len(v) == 26 and v[10] == " " and v[0] != "0"
                 else canonical._sqlite_ts_fallback(v))
        elif v is not None and kind == "bool01" and type(v) is int and v in (0, 1):
            v = bool(v)
        elif v is not None and conv is not None:
            v = conv(v)
        values.append(v)
    try:
        return canonical_row(NAMES, values)
    except Exception:
        return None


def _call(form: Any, row: tuple[Any, ...]) -> bytes | None:
    """The form's bytes, None where it raises (as the reference does, e.g. surrogates)."""
    try:
        return form(row)
    except Exception:
        return None


CANON = compile_canon("t", COLUMNS)
PORTABLE = canonical._compile_portable("t", COLUMNS)
DIGEST = compile_digest("t", COLUMNS)


def test_orjson_is_in_use() -> None:
    """The fast form is the one under test (orjson installed and its probe passes)."""
    assert canonical._orjson_dumps() is not None
    assert "orjson" in CANON.__code__.co_filename


@settings(max_examples=600, deadline=None)
@given(row=ROWS)
def test_generated_forms_equal_the_reference(row: tuple[Any, ...]) -> None:
    expected = _reference(row)
    assert _call(CANON, row) == expected
    assert _call(PORTABLE, row) == expected
    assert DIGEST(*row) == (hashlib.sha256(expected).hexdigest() if expected else None)


@pytest.mark.parametrize("value", [chr(c) for c in range(0x00, 0x250)]
                         + ["\u2028", "\u2029", "\ufeff", "\U0010ffff", "\ud800"])
def test_every_escape_matches(value: str) -> None:
    row = (value, None, None, None, None, None, None, None, value + "x")
    assert _call(CANON, row) == _reference(row)


def test_orjson_not_trusted_when_its_output_differs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Another orjson that writes strings differently is not used: the probe catches it."""
    import orjson

    canonical._orjson_dumps.cache_clear()
    monkeypatch.setattr(orjson, "dumps", lambda doc: json.dumps(doc).encode())
    try:
        assert canonical._orjson_dumps() is None
        row = ("é", 1, None, None, None, None, None, None, None)
        assert compile_canon("t", COLUMNS)(row) == _reference(row)
    finally:
        canonical._orjson_dumps.cache_clear()
