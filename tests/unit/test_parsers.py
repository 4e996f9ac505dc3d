"""Parsers: durations, YAML with line numbers, redaction (property-based where it pays)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator.durations import format_duration, parse_duration
from orchestrator.errors import DefinitionError
from orchestrator.secrets import redact, redact_text
from orchestrator.yamlsrc import format_path, parse_text

UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


@given(st.integers(min_value=0, max_value=10_000), st.sampled_from(sorted(UNITS)))
def test_duration_units(n: int, unit: str) -> None:
    assert parse_duration(f"{n}{unit}") == pytest.approx(n * UNITS[unit])


@given(st.floats(min_value=0, max_value=1e6, allow_nan=False))
def test_numbers_are_seconds(x: float) -> None:
    assert parse_duration(x) == x


@given(st.text(max_size=12).filter(lambda t: not t.strip().replace(".", "").isdigit()))
def test_garbage_durations_raise_value_error(text: str) -> None:
    try:
        value = parse_duration(text)
    except ValueError:
        return
    assert value >= 0  # whatever parsed is a valid combination like "5m 3s"


def test_compound_and_negative() -> None:
    assert parse_duration("1h 30m") == 5400
    with pytest.raises(ValueError):
        parse_duration(-1)
    assert format_duration(125) == "2m 05s" and format_duration(None) == "—"


keys = st.text(alphabet="abcdefghij_", min_size=1, max_size=6)
scalars = st.one_of(st.integers(-5, 5), st.booleans(), st.text(alphabet="xyz ", max_size=5))


@given(
    st.dictionaries(keys, st.one_of(scalars, st.lists(scalars, max_size=3)), min_size=1, max_size=6)
)
def test_yaml_round_trip_keeps_lines(data: dict) -> None:
    import json

    text = "\n".join(f"{k}: {json.dumps(v)}" for k, v in data.items()) + "\n"
    doc = parse_text(text, "f.yaml")
    assert doc.data == data
    for lineno, key in enumerate(data, 1):
        assert doc.line_of([key]) == lineno


def test_yaml_paths_and_errors() -> None:
    doc = parse_text("a:\n  b:\n    - x: 1\n    - y: 2\n", "f.yaml")
    assert doc.line_of(["a", "b", 1, "y"]) == 4
    assert doc.line_of(["a", "b", 1, "missing"]) == 4
    assert format_path(["steps", 2, "args", "x"]) == "steps[2].args.x"
    with pytest.raises(DefinitionError) as exc:
        parse_text("a: [1,\n", "bad.yaml")
    assert exc.value.problems[0].file == "bad.yaml" and exc.value.problems[0].line


_TEMPLATES = (
    "postgresql://user:@db.example:5432/x host=127.0.0.1 password= user=x "
    "https://hooks.slack.com/services/"
)


@given(
    st.text(alphabet="abcdefghijklmnop0123456789", min_size=3, max_size=20).filter(
        lambda s: s not in _TEMPLATES
    )
)  # a "secret" like "ack" is in hooks.slack.com
def test_passwords_never_survive(secret: str) -> None:
    for text in (
        f"postgresql://user:{secret}@db.example:5432/x",
        f"host=127.0.0.1 password={secret} user=x",
        f"https://hooks.slack.com/services/{secret}",
    ):
        assert secret not in redact_text(text)
    assert redact({"password": secret, "nested": [{"api_key": secret}]}) == {
        "password": "***",
        "nested": [{"api_key": "***"}],
    }
