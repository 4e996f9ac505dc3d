"""Bad input names its file:line on the `drill: error:` line itself (exit 2, no traceback).

A single problem used to come as `drill: error: 1 problem(s) in definitions:` with the
place on the next line — a drill.yaml typo was called a definition problem, and a reader
(or a script) of the first line learnt nothing. Several problems keep the list.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.clihelp import drill
from tests.e2e.defs import write


def _first(err: str) -> str:
    return err.splitlines()[0]


@pytest.mark.parametrize(
    ("text", "line", "needle"),
    [
        ("environments:\n  staging: {provider: aws, region: us-east-1\n", 3, "invalid YAML"),
        ("environments:\n  staging: {provider: gcp}\n", 2, "(environments.staging.provider)"),
        ("database: sqlite:///.drill/evidence.db\nbogus_key: 1\n", 2, "unknown field 'bogus_key'"),
    ],
)
def test_one_config_problem_is_one_line(
    workdir: Path, capsys: pytest.CaptureFixture[str], text: str, line: int, needle: str
) -> None:
    cfg = write(workdir, "drill.yaml", text)
    res = drill(capsys, "status", "--json")
    assert (res.code, res.out) == (2, "")
    first = _first(res.err)
    assert first.startswith(f"drill: error: {cfg}:{line}: ") and needle in first, res.err
    assert "problem(s)" not in res.err and "Traceback" not in res.err


def test_one_definition_problem_is_one_line(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rb = write(
        workdir,
        "runbooks/bad.yaml",
        "id: bad\ntitle: Bad\nsteps:\n  - name: x\n    action: db.failovr\n",
    )
    res = drill(capsys, "validate", str(rb))
    assert res.code == 2
    assert _first(res.err).startswith(f"drill: error: {rb}:5: unknown action 'db.failovr'")


def test_a_long_path_stays_whole_in_a_log(workdir: Path) -> None:
    """stderr that is not a terminal (a CI log, a pipe) gets each message unfolded: rich
    folded a path longer than the line mid-way, and the log could not be grepped for it."""
    from tests.clihelp import run

    deep = workdir / ("a-long-directory-name-" * 5)
    state = write(deep, ".drill/lab/state.json", "{}")
    res = run(deep, "lab", "down")
    assert res.code == 0, res.err
    assert f"lab: the lab's state file {state} is damaged (" in res.err.splitlines()[0], res.err
