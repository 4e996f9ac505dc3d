"""`--dry` on a protected environment (DESIGN 10, 13): confirmation is asked for exactly
when something that can change the environment still runs.

Found as a user: `drill run EXPERIMENT --env PROTECTED --dry actions` asked for --yes,
though chaoslib then runs no action and no rollback action. What chaoslib's dry modes
skip (chaoslib/activity.py, execute_activity): `actions` and `activities` skip every
action, method and rollbacks alike; `probes` and `pause` skip none. Two things still run
under any dry mode, and the tests below show them running: an action with a `dry` key
of its own (it replaces the run's) and controls (code around every activity).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.clihelp import drill
from tests.e2e.defs import experiment, write

PROTECTED = "environments:\n  prod-lab: {provider: lab, protected: true}\n"
COUNTER = "counter:\n  provider: {type: python, module: tests.corpus.controls.counter}\n"


def _setup(workdir: Path, own_dry: bool = False) -> tuple[Path, Path]:
    """drill.yaml with a protected environment; the marker experiment (its action leaves
    ``marker``, its rollback action ``marker.rolled-back``), ``own_dry``: its action
    carries `dry: probes` of its own. A control file that writes ``controls.log``."""
    write(workdir, "drill.yaml", PROTECTED)
    marker = workdir / "marker"
    doc = experiment(marker).replace(
        "description:", f'configuration:\n  workdir: "{workdir}"\ndescription:', 1
    )
    if own_dry:
        doc = doc.replace("    name: inject-marker\n", "    name: inject-marker\n    dry: probes\n")
    write(workdir, "controls.yaml", COUNTER)
    return write(workdir, "exp.yaml", doc), marker


def test_dry_actions_needs_no_yes_and_changes_nothing(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    exp, marker = _setup(workdir)
    res = drill(capsys, "run", str(exp), "--env", "prod-lab", "--dry", "actions", "--json")
    assert res.code == 0, res.err
    doc = json.loads(res.out)
    assert doc["status"] == "succeeded"
    # no action ran, not even the rollback's
    assert not marker.exists() and not (workdir / "marker.rolled-back").exists()
    shown = json.loads(drill(capsys, "runs", "show", doc["run_id"], "--json").out)
    assert shown["approvals"] == []  # nobody was asked, nothing to approve


@pytest.mark.parametrize(
    ("args", "own_dry", "why"),
    [
        ([], False, "action 'inject-marker' runs"),
        (["--dry", "probes"], False, "--dry probes does not skip actions"),
        (["--dry", "pause"], False, "--dry pause does not skip actions"),
        (["--dry", "actions"], True, "its own `dry` key replaces --dry actions"),
        (["--dry", "activities", "--control-file", "controls.yaml"], False, "controls"),
    ],
)
def test_what_can_still_change_a_protected_env_needs_yes(
    workdir: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    own_dry: bool,
    why: str,
) -> None:
    exp, marker = _setup(workdir, own_dry)
    res = drill(capsys, "run", str(exp), "--env", "prod-lab", *args, "--json")
    assert res.code == 2, res.err
    assert "is protected" in res.err and why in res.err and "--yes" in res.err
    assert res.out == ""
    assert not marker.exists() and not (workdir / "controls.log").exists()
    assert json.loads(drill(capsys, "runs", "list", "--json").out) == []


def test_an_action_with_its_own_dry_key_and_controls_do_run_in_dry_mode(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Why the two cases above need --yes: with it, they change the environment."""
    exp, marker = _setup(workdir, own_dry=True)
    res = drill(
        capsys,
        "run",
        str(exp),
        "--env",
        "prod-lab",
        "--dry",
        "activities",
        "--control-file",
        "controls.yaml",
        "--yes",
    )
    assert res.code == 0, res.err
    assert marker.exists()  # the action with its own `dry` ran
    assert not (workdir / "marker.rolled-back").exists()  # the rollback's was skipped
    assert "before-activity:inject-marker" in (workdir / "controls.log").read_text()
