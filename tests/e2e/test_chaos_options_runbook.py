"""Chaos Toolkit's options on a runbook or a drill without experiments: refused, exit 2.

`drill run rds-failover --dry actions` used to run the real failover: the options of
`chaos run` (DESIGN 13) only reach experiment scenarios, and a runbook silently ignored
them. Nothing may start — not even the lab.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.clihelp import drill


@pytest.mark.parametrize(
    "options",
    [
        ["--dry", "actions"],
        ["--var", "db_instance=prod-db"],
        ["--rollback-strategy", "never"],
        ["--journal-path", "journal.json"],
        ["--fail-fast"],
    ],
)
@pytest.mark.parametrize("target", ["rds-failover", "quarterly-dr"])
def test_experiment_options_on_runbooks_are_usage_errors(
    workdir: Path, capsys: pytest.CaptureFixture[str], target: str, options: list[str]
) -> None:
    res = drill(capsys, "run", target, "--env", "lab", *options, "--json")
    assert (res.code, res.out) == (2, ""), res.err
    first = res.err.splitlines()[0]
    assert first.startswith(f"drill: error: {options[0]}") and "experiment" in first, res.err
    assert not (workdir / ".drill" / "lab").exists()  # nothing started
    assert not (workdir / "journal.json").exists()


def test_a_schedule_of_a_runbook_refuses_them_too(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["schedule", "add", "rds-failover", "--env", "lab", "--every", "1h"]
    res = drill(capsys, *args, "--var", "x=1")
    assert res.code == 2 and res.err.startswith("drill: error: --var"), res.err
    assert drill(capsys, "schedule", "list", "--json").out.strip() == "[]"


def test_an_experiment_sharing_the_runbooks_id_is_named_by_its_file(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`region-promotion` is a bundled runbook and a bundled experiment; the id runs the
    runbook, so `--dry actions` meant for the experiment was refused with no way out
    named. The hint names the experiment's file, and that file takes the options."""
    import shlex

    res = drill(capsys, "run", "region-promotion", "--dry", "actions")
    assert res.code == 2
    hint = res.err.splitlines()[1]
    assert "the experiment region-promotion has the same id" in hint, res.err
    path = shlex.split(hint.split("`")[1])[2]
    assert path.endswith("experiments/region-promotion.yaml") and Path(path).is_file()
    shown = drill(capsys, "plan", path, "--json")
    assert shown.code == 0 and '"kind": "experiment"' in shown.out
