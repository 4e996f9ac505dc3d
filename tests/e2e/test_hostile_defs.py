"""Hostile and malformed definition files (issue 18, items 3, 5, 7, 9, 13): one clear
located error, exit 2, bounded memory, and every other definition keeps working."""

from __future__ import annotations

import os
import tracemalloc
from pathlib import Path

import pytest

from orchestrator.yamlguard import MAX_DEPTH, MAX_FILE_BYTES
from tests.clihelp import drill
from tests.e2e.defs import write

RUNBOOK = """id: {id}
title: a runbook
steps:
  - name: wait a bit
    kind: wait
    duration: 1s
"""

# nine anchors of nine aliases each: 9**9 strings once expanded, 496 bytes on disk
ALIAS_BOMB = "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 10)
)


def _bounded(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, int]:
    """Run drill in-process; return (exit code, stderr, peak bytes Python allocated)."""
    tracemalloc.start()
    try:
        res = drill(capsys, *args)
        _size, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return res.code, res.err, peak


@pytest.mark.parametrize("kind", ["runbooks", "experiments"])
def test_alias_bomb_is_refused_with_its_line_in_bounded_memory(
    workdir: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    body = "id: bomb\ntitle: bomb\n" + ALIAS_BOMB
    if kind == "experiments":
        body += "method: []\n"
    path = write(workdir, f"{kind}/bomb.yaml", body)
    for args in (("validate", str(path)), ("plan", str(path), "--env", "lab")):
        code, err, peak = _bounded(capsys, *args)
        assert code == 2, err
        assert f"{path}:8: more than 200,000 values once aliases are expanded" in err
        assert peak < 64 * 1024 * 1024  # the expansion would take gigabytes


def test_recursive_alias_is_refused_by_validate_and_run(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(workdir, "experiments/rec.yaml", "title: t\nzz: &a [*a]\nmethod: []\n")
    for args in (("validate", str(path)), ("run", str(path), "--env", "lab")):
        res = drill(capsys, *args)
        assert res.code == 2, res.err
        assert f"{path}:2: alias *a is used inside its own anchor &a" in res.err


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 300, 5000])
def test_deep_nesting_is_a_located_error(
    workdir: Path, capsys: pytest.CaptureFixture[str], depth: int
) -> None:
    path = write(workdir, "runbooks/deep.yaml", "id: deep\nsteps: " + "[" * depth + "]" * depth)
    res = drill(capsys, "validate", str(path))
    assert res.code == 2
    assert f"{path}:2: nested more than {MAX_DEPTH} levels deep" in res.err
    assert "internal error" not in res.err


def test_nesting_at_the_limit_is_fine(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    nested = "[" * (MAX_DEPTH - 3) + "1" + "]" * (MAX_DEPTH - 3)
    path = write(
        workdir,
        "runbooks/ok.yaml",
        RUNBOOK.format(id="ok") + f"description: x\nscenario: {nested}\n",
    )
    res = drill(capsys, "validate", str(path))
    assert "nested more than" not in res.err  # rejected for its type, not its depth
    assert f"{path}:8" in res.err


def test_oversized_file_is_refused(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(
        workdir, "runbooks/big.yaml", RUNBOOK.format(id="big") + "#" * MAX_FILE_BYTES + "\n"
    )
    res = drill(capsys, "validate", str(path))
    assert res.code == 2
    assert f"{path}: file larger than 1 MiB" in res.err


def _hostile_files(runbooks: Path) -> dict[str, str]:
    """Special and broken files next to a good runbook → the message each must give."""
    os.mkfifo(runbooks / "fifo.yaml")
    (runbooks / "zero.yaml").symlink_to("/dev/zero")
    (runbooks / "loop.yaml").symlink_to("loop.yaml")
    (runbooks / "junk.yaml").write_bytes(b"\xff\n")
    (runbooks / "latin1.yaml").write_bytes(b"id: latin1\ntitle: caf\xe9\n")
    (runbooks / "nul.yaml").write_bytes(b"id: nul\ntitle: a\x00b\nsteps: []\n")
    (runbooks / "esc.yaml").write_bytes(b"id: esc\n\ntitle: a\x1b[31mb\n")
    return {
        "fifo": "fifo.yaml: not a regular file (a FIFO)",
        "zero": "zero.yaml: not a regular file (a character device)",
        "loop": "loop.yaml: cannot read file: a symlink loop",
        "junk": "junk.yaml:1: not valid UTF-8 (byte 0xff)",
        "latin1": "latin1.yaml:2: not valid UTF-8 (byte 0xe9)",
        "nul": "nul.yaml:2: control character U+0000 is not allowed",
        "esc": "esc.yaml:3: control character U+001B is not allowed",
    }


def test_special_and_broken_files_break_only_themselves(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = write(workdir, "runbooks/good.yaml", RUNBOOK.format(id="good"))
    expected = _hostile_files(good.parent)
    res = drill(capsys, "validate")
    assert res.code == 2
    for message in expected.values():
        assert message in res.err
    assert "internal error" not in res.err
    for args in (("list", "--json"), ("plan", "good", "--env", "lab"), ("validate", str(good))):
        res = drill(capsys, *args)
        assert res.code == 0, (args, res.err)
    for name, message in expected.items():
        res = drill(capsys, "plan", name, "--env", "lab")
        assert res.code == 2, name
        assert message in res.err


def test_duplicate_ids_are_reported_and_refused(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = write(workdir, "runbooks/a.yaml", RUNBOOK.format(id="dup"))
    second = write(workdir, "runbooks/b.yaml", "id: dup\ntitle: broken\nsteps: 3\n")
    res = drill(capsys, "validate")
    assert res.code == 2
    assert f"{first}:1: runbook id 'dup' is also defined in {second}" in res.err
    assert f"{second}:1: runbook id 'dup' is also defined in {first}" in res.err
    assert f"{second}:3: Input should be a valid list (steps)" in res.err  # checked too
    res = drill(capsys, "validate", str(first.parent))
    assert res.code == 2 and "is also defined in" in res.err
    for args in (("plan", "dup", "--env", "lab"), ("run", "dup", "--env", "lab")):
        res = drill(capsys, *args)
        assert res.code == 2
        assert "refuses to guess" in res.err
    assert not (workdir / ".drill" / "evidence.db").exists() or "started" not in res.err


def test_local_definition_may_shadow_a_bundled_one(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(workdir, "runbooks/mine.yaml", RUNBOOK.format(id="rds-failover"))
    assert drill(capsys, "validate").code == 0
    res = drill(capsys, "plan", "rds-failover", "--env", "lab", "--json")
    assert res.code == 0, res.err


EXPERIMENT = """title: t
description: d
method:
  - type: action
    name: a
    provider: {type: python, module: os, func: getcwd}
"""


@pytest.mark.parametrize(
    ("extra", "verdict"),
    [
        ("null: x\n", 0),  # chaos reads these keys; drill stores them as JSON spells them
        ("1: x\n", 0),
        ("description: !!float x\n", "7: invalid value: could not convert string to float"),
        ("? {a: 1}\n: v\n", "7: a mapping key must be a plain value"),
        ("? [a]\n: v\n", "7: a mapping key must be a plain value"),
    ],
)
def test_validate_and_plan_agree_on_experiments(
    workdir: Path, capsys: pytest.CaptureFixture[str], extra: str, verdict: int | str
) -> None:
    path = write(workdir, "experiments/e.yaml", EXPERIMENT + extra)
    for args in (("validate", str(path)), ("plan", str(path), "--env", "lab", "--json")):
        res = drill(capsys, *args)
        assert "internal error" not in res.err
        if verdict == 0:
            assert res.code == 0, (args, res.err)
        else:
            assert res.code == 2, args
            assert f"{path}:{verdict}" in res.err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("null: x\n", "3: key null is not a string"),
        ("1: x\n", "3: key 1 is not a string"),
        ("title2: !!float x\n", "3: invalid value"),
        ("? {a: 1}\n: v\n", "3: a mapping key must be a plain value"),
    ],
)
def test_validate_and_plan_agree_on_runbooks(
    workdir: Path, capsys: pytest.CaptureFixture[str], extra: str, message: str
) -> None:
    body = RUNBOOK.format(id="r").replace("title: a runbook\n", "title: a runbook\n" + extra, 1)
    path = write(workdir, "runbooks/r.yaml", body)
    for args in (("validate", str(path)), ("plan", str(path), "--env", "lab")):
        res = drill(capsys, *args)
        assert res.code == 2, args
        assert f"{path}:{message}" in res.err


def test_drill_scenario_reference_has_a_line(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        workdir,
        "drills/d.yaml",
        "id: d\ntitle: d\nscenarios:\n  - runbook: rds-failover\n  - runbook: no-such-runbook\n",
    )
    for args in (("validate", str(path)), ("plan", "d", "--env", "lab")):
        res = drill(capsys, *args)
        assert res.code == 2
        assert f"{path}:5: no drill, runbook or experiment with id 'no-such-runbook'" in res.err


def test_configured_paths_in_a_symlink_loop_or_not_directories(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (workdir / "loopdir").symlink_to("loopdir")
    (workdir / "drill.yaml").write_text("paths:\n  runbooks: [loopdir, /dev/null]\n")
    for args in (("list", "--json"), ("validate",)):
        res = drill(capsys, *args)
        assert res.code == 0, res.err  # nothing to read there; the bundled ones remain
