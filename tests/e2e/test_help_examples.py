"""`drill COMMAND --help` examples are commands a user can copy: never rewrapped.

Click rewraps a help paragraph to the terminal width, which cut long examples in the
middle of a command (`--var` at the end of one line, its value on the next) and moved
each `# comment` onto a line of its own. Example blocks are marked verbatim (``\\b``);
a command longer than a line continues with a shell backslash.
"""

from __future__ import annotations

import re

import pytest

from tests.clihelp import drill


def _examples(text: str) -> list[str]:
    block = re.split(r"Examples?:", text, maxsplit=1)[1]
    block = block.split("\nArguments:", 1)[0].split("\nOptions:", 1)[0]
    return [line for line in block.splitlines() if line.strip()]


@pytest.mark.parametrize(
    "command",
    [
        ["run"],
        ["schedule", "add"],
        ["runbook", "render"],
        ["evidence", "export"],
        ["evidence", "verify"],
        ["gameday", "create"],
        ["validate"],
        ["lab", "up"],
    ],
)
def test_examples_are_whole_commands(
    capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    res = drill(capsys, *command, "--help")
    assert res.code == 0
    lines = _examples(res.out)
    assert lines
    continued = False
    for line in lines:
        assert line.strip().startswith("drill ") or continued, line
        assert len(line) <= 80, line  # fits an 80-column terminal
        continued = line.split("#")[0].rstrip().endswith("\\")
    assert not continued


def test_run_examples_keep_their_comments(capsys: pytest.CaptureFixture[str]) -> None:
    lines = _examples(drill(capsys, "run", "--help").out)
    assert any(
        line.strip().startswith("drill run quarterly-dr ")
        and line.endswith("# the four DR scenarios (lab)")
        for line in lines
    )
