"""Property-based fuzzing of what users type and write (issue 18): definitions, drill.yaml
with DRILL_* overrides, and CLI arguments.

For every generated input, in-process: the exit code is 0, 1 or 2; nothing ends in
``internal error`` or a traceback; an exit-2 error names where the problem is (the file,
the variable or the option); each invocation finishes within a generous bound (a hang
guard, not a timing measurement) and the process's peak memory stays bounded.
Hypothesis runs derandomized (the same examples every run) with no example database, so
the tests are deterministic; example counts are in benchmarks/README.md ("Fuzzing").
"""

from __future__ import annotations

import json
import resource
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.clihelp import Result, clear_drill_env, drill

HANG_GUARD_S = 60  # far above any single invocation; only a hang reaches it
PEAK_RSS_LIMIT = 1536 * 1024 * 1024  # the whole test process, after every example
FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=100,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

RUNBOOK = b"""id: f
title: fuzzed runbook
scenario: rds-failover
objectives: {rto: 2m, rpo: 0s}
preconditions:
  - {kind: probe, action: db.health, args: {target: db}}
steps:
  - name: fail over
    action: db.failover
    args: {target: primary_db}
    mark: fault_injected
  - {name: wait, kind: wait, until: service_restored, timeout: 5m}
rollback:
  - {action: db.reprotect, args: {target: primary_db}}
"""
EXPERIMENT = b"""title: fuzzed experiment
description: d
configuration: {drill_env: lab}
steady-state-hypothesis:
  title: fine
  probes:
    - type: probe
      name: cwd
      tolerance: true
      provider: {type: python, module: os.path, func: exists, arguments: {path: .}}
method:
  - type: action
    name: noop
    provider: {type: process, path: "true"}
"""
DRILL = b"""id: f
title: fuzzed drill
scenarios:
  - runbook: rds-failover
    objectives: {rto: 1m}
  - experiment: multi-az-failover
schedule: quarterly
"""
SNIPPETS = [
    b"\x00",
    b"\xff",
    b"\xc3",
    b"\x1b",
    b"\t",
    b"&a ",
    b"*a",
    b"[" * 80,
    b"{" * 80,
    b"!!float ",
    b"!!binary ",
    b"!!python/object:os.system ",
    b"? ",
    b": ",
    b"- ",
    b"'",
    b'"',
    b"---\n",
    b"%YAML 1.2\n---\n",
    b"<<: *a\n",
    b"\n  ",
    b"#",
    b"99999999999999999999d",
    b"host=10.0.0.1 dbname=x",
    b"../../x",
    b"null",
    b"\r",
    b"\xef\xbb\xbf",
    b"\\u0000",
    b"1e400",
    b"-1",
]
KEYS = [
    "id",
    "title",
    "steps",
    "kind",
    "action",
    "args",
    "target",
    "duration",
    "until",
    "scenario",
    "objectives",
    "rto",
    "rpo",
    "preconditions",
    "rollback",
    "verification",
    "scenarios",
    "runbook",
    "experiment",
    "method",
    "steady-state-hypothesis",
    "provider",
    "type",
    "module",
    "func",
    "arguments",
    "name",
    "tolerance",
    "description",
    "mark",
    "timeout",
    "retries",
    "schedule",
    "mode",
    "probes",
]
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=12),
    st.sampled_from(
        [
            "db.failover",
            "db.health",
            "primary_db",
            "5m",
            "-1s",
            "1e400d",
            "host=10.0.0.1 dbname=x",
            "service=evil",
            "../../tmp/x",
            "9999-12-31",
            "action",
            "probe",
            "wait",
            "python",
            "process",
            "os",
            "exists",
            "quarterly",
            "live",
            "bogus",
        ]
    ),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), inner, max_size=5)
    ),
    max_leaves=25,
)
DOCS = st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=8)


@contextmanager
def _hang_guard() -> Iterator[None]:
    def expired(_sig: int, _frame: Any) -> None:
        raise TimeoutError(f"an invocation ran past {HANG_GUARD_S}s: a hang")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(HANG_GUARD_S)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _invoke(capsys: pytest.CaptureFixture[str], *args: str) -> Result:
    with _hang_guard():
        res = drill(capsys, *args)
    assert res.code in (0, 1, 2), (args, res.code, res.err)
    assert "internal error" not in res.err, (args, res.err)
    assert "Traceback" not in res.err, (args, res.err)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    assert peak < PEAK_RSS_LIMIT, f"peak memory {peak >> 20} MiB"
    return res


def _mutate(base: bytes, edits: list[tuple[int, bytes]]) -> bytes:
    out = base
    for pos, piece in edits:
        at = pos % (len(out) + 1)
        out = out[:at] + piece + out[at:]
    return out


EDITS = st.lists(
    st.tuples(st.integers(0, 10_000), st.sampled_from(SNIPPETS) | st.binary(max_size=4)),
    min_size=1,
    max_size=4,
)
KIND = st.sampled_from([("runbooks", RUNBOOK), ("experiments", EXPERIMENT), ("drills", DRILL)])


def _check_definition(capsys: pytest.CaptureFixture[str], path: Path) -> None:
    for args in (("validate", str(path)), ("plan", str(path), "--env", "lab", "--json")):
        res = _invoke(capsys, *args)
        if res.code == 2:
            assert path.name in res.err, (args, res.err)  # the error names the file


@FUZZ
@given(kind=KIND, edits=EDITS)
def test_fuzz_mutated_definitions(
    workdir: Path,
    capsys: pytest.CaptureFixture[str],
    kind: tuple[str, bytes],
    edits: list[tuple[int, bytes]],
) -> None:
    directory, base = kind
    path = workdir / directory / "f.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(_mutate(base, edits))
    _check_definition(capsys, path)


@FUZZ
@given(
    directory=st.sampled_from(["runbooks", "experiments", "drills"]),
    doc=DOCS,
    as_json=st.booleans(),
)
def test_fuzz_generated_definitions(
    workdir: Path,
    capsys: pytest.CaptureFixture[str],
    directory: str,
    doc: dict[str, Any],
    as_json: bool,
) -> None:
    import yaml

    path = workdir / directory / ("f.json" if as_json else "f.yaml")
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(doc) if as_json else yaml.safe_dump(doc))
    _check_definition(capsys, path)


CONFIG_KEYS = [
    "database",
    "state_dir",
    "default_env",
    "environments",
    "paths",
    "blackout_windows",
    "notify",
    "signing_key",
]
ENV_NAMES = [
    "DRILL_DATABASE",
    "DRILL_STATE_DIR",
    "DRILL_DEFAULT_ENV",
    "DRILL_NOTIFY",
    "DRILL_PATHS__RUNBOOKS",
    "DRILL_ENVIRONMENTS__STAGING__PROTECTED",
    "DRILL_ENVIRONMENTS__STAGING__ENDPOINT_URL",
    "DRILL_ENVIRONMENTS__STAGING",
    "DRILL_ENVIRONMENTS__X__PROVIDER",
    "DRILL_BLACKOUT_WINDOWS",
    "DRILL___",
    "DRILL_DATABSE",
    "DRILL_ENVIRONMENTS__LAB__LAB__IN_MEMORY",
    "DRILL_ENVIRONMENTS__LAB__LAB__DETECTION_DELAY_S",
    "DRILL_PATHS__EXPERIMENTS",
]
CONFIG_VALUES = st.one_of(
    VALUES,
    st.sampled_from(
        [
            "sqlite:///:memory:",
            "sqlite:///e.db?mode=ro",
            "postgresql+psycopg://u:pw@127.0.0.1:1/x",
            "/proc/x",
            "garbage",
            "file:///etc/passwd",
            "http://127.0.0.1:1",
            {"staging": {"provider": "aws", "endpoint_url": "garbage"}},
            {"lab": {"provider": "x"}},
            {"runbooks": ["/dev"]},
        ]
    ),
)
ENV_VALUES = st.sampled_from(
    [
        "true",
        "maybe",
        "123",
        "[1",
        "[1]",
        "{}",
        '{"a": 1}',
        "",
        "null",
        "sqlite:///:memory:",
        "http://127.0.0.1:1",
        "lab",
        "aws",
        "/proc/x",
        "garbage",
    ]
) | st.text(max_size=10)


@FUZZ
@given(
    config=st.dictionaries(st.sampled_from(CONFIG_KEYS), CONFIG_VALUES, max_size=5),
    environ=st.dictionaries(st.sampled_from(ENV_NAMES), ENV_VALUES, max_size=3),
)
def test_fuzz_config_and_overrides(
    workdir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    config: dict[str, Any],
    environ: dict[str, str],
) -> None:
    import yaml

    (workdir / "drill.yaml").write_text(yaml.safe_dump(config))
    with monkeypatch.context() as mp:
        clear_drill_env(mp)
        for key, value in environ.items():
            mp.setenv(key, value.replace("\x00", ""))
        for args in (("list", "--json"), ("validate", str(workdir / "none"))):
            res = _invoke(capsys, *args)
            if res.code == 2 and "none" not in res.err:
                assert "drill.yaml" in res.err or "DRILL_" in res.err, res.err


NUMBERS = st.one_of(st.integers(), st.integers(-(2**70), 2**70), st.floats()).map(str)
DURATIONS = st.one_of(
    NUMBERS, st.tuples(NUMBERS, st.sampled_from(["ms", "s", "m", "h", "d", "y", ""])).map("".join)
)
DATES = st.one_of(
    st.datetimes().map(lambda d: d.isoformat()),
    st.dates().map(lambda d: d.isoformat()),
    st.tuples(st.integers(0, 99999), st.integers(-2, 14), st.integers(-2, 40)).map(
        lambda t: f"{t[0]:04d}-{t[1]:02d}-{t[2]:02d}"
    ),
    st.sampled_from(
        [
            "9999-12-31T23:59:59-12:00",
            "0001-01-01T00:00:00+14:00",
            "+1s",
            "25:61",
            "23:59",
            "now",
            "",
        ]
    ),
)
FREE = st.text(max_size=12).filter(lambda s: "\x00" not in s)
COMMANDS = st.one_of(
    st.tuples(st.just(("schedule", "add", "rds-failover", "--every")), DURATIONS | FREE),
    st.tuples(
        st.just(("schedule", "add", "rds-failover", "--at")),
        DATES | DURATIONS.map(lambda d: "+" + d) | FREE,
    ),
    st.tuples(
        st.just(("schedule", "add", "rds-failover", "--cron")),
        FREE
        | st.sampled_from(["0 6 1 */3 *", "* * * * * *", "99 99 99 99 99", "@quarterly", "@never"]),
    ),
    st.tuples(st.just(("runs", "list", "--limit")), NUMBERS),
    st.tuples(st.just(("runs", "show")), FREE | NUMBERS),
    st.tuples(
        st.just(("runs", "list", "--period")),
        FREE | st.tuples(DATES | FREE, DATES | FREE).map("..".join),
    ),
    st.tuples(st.just(("findings", "show")), NUMBERS | FREE),
    st.tuples(st.just(("plan", "rds-failover", "--mode")), FREE),
    st.tuples(st.just(("plan", "rds-failover", "--env")), FREE),
    st.tuples(st.just(("plan",)), FREE),
    st.tuples(st.just(("validate",)), FREE),
    st.tuples(
        st.just(("evidence", "export", "--out", "o.zip", "--period")),
        FREE | st.integers(-10, 100_000).map(lambda y: f"{y}-Q4"),
    ),
    st.tuples(
        st.just(("evidence", "export", "--out", "o.zip", "--to", "2026-01-01", "--from")), DATES
    ),
    st.tuples(st.just(("runbook", "render", "--check")), FREE),
    st.tuples(st.just(("abort",)), FREE),
)


@FUZZ
@given(command=COMMANDS)
def test_fuzz_cli_arguments(
    workdir: Path, capsys: pytest.CaptureFixture[str], command: tuple[tuple[str, ...], str]
) -> None:
    head, value = command
    res = _invoke(capsys, *head, value)
    if res.code == 2:  # the error names the option, or quotes the value it refuses
        named = head[-1] if head[-1].startswith("--") else None
        quoted = (value.strip(), repr(value.strip()), repr(value))
        one_line = res.err.startswith("drill: error: ") and named is None  # an id argument
        assert (
            (named and named in res.err)
            or any(q in res.err for q in quoted)
            or ("Usage:" in res.err or one_line)
        ), (head, value, res.err)
