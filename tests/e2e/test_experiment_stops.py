"""An experiment that stops itself is a failure; only a signal is an abort (DESIGN 13).

chaoslib ends a journal `aborted` when an activity raises an error it did not expect,
and `interrupted` when a control or probe raises InterruptExecution. drill read both
as a stop by an operator: exit 3, "nothing new was started and the rollbacks were
played", no finding and no word of the error. DESIGN 13 maps `aborted`/`interrupted`
*by a signal* to aborted (exit 3); DESIGN 5 keeps exit 3 for a signal or `drill abort`.
A signal chaoslib handles itself (SIGUSR1, which `chaoslib.exit.exit_gracefully`
sends) stays an abort.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.clihelp import run

ROLLBACK = """
rollbacks:
  - type: action
    name: note-the-rollback
    provider: {type: process, path: sh, arguments: ["-c", "echo rolled >> rollbacks.log"]}
"""

BROKEN = (
    """title: an activity chaoslib cannot run
description: a bool where the process provider wants its arguments
configuration:
  flag: "set by --var"
method:
  - type: action
    name: touch-the-flag
    provider: {type: process, path: touch, arguments: "${flag}"}
"""
    + ROLLBACK
)

INTERRUPTED = (
    """title: a safeguard control stops it
description: the control raises InterruptExecution before the fault
controls:
  - name: safeguard
    provider: {type: python, module: stopper}
method:
  - type: action
    name: the-fault
    provider: {type: process, path: touch, arguments: fault-ran}
"""
    + ROLLBACK
)

STOPPER = """
from chaoslib.exceptions import InterruptExecution


def before_activity_control(context, **kwargs):
    raise InterruptExecution("safeguard: error budget exhausted")
"""

LEAVES = (
    """title: leaves through chaoslib's exit helper (SIGUSR1)
description: a signal, sent by the experiment to itself
method:
  - type: action
    name: leave
    provider: {type: python, module: chaoslib.exit, func: exit_gracefully}
  - type: action
    name: never
    provider: {type: process, path: touch, arguments: never-ran}
"""
    + ROLLBACK
)


def _run(workdir: Path, name: str, text: str, *extra: str) -> tuple[int, dict, dict]:
    (workdir / f"{name}.yaml").write_text(text)
    (workdir / "stopper.py").write_text(STOPPER)
    env = {"PYTHONPATH": f"{workdir}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    journal = workdir / f"{name}-journal.json"
    args = ("run", f"{name}.yaml", "--json", "--journal-path", str(journal), *extra)
    res = run(workdir, *args, env=env)
    assert res.code in (0, 1, 3), res.err
    shown = run(workdir, "runs", "show", json.loads(res.out)["run_id"], "--json")
    return res.code, json.loads(shown.out), json.loads(journal.read_text())


def test_an_activity_error_chaoslib_aborts_on_is_a_failure(workdir: Path) -> None:
    code, shown, journal = _run(workdir, "broken", BROKEN, "--var", "flag:bool=true")
    assert journal["status"] == "aborted"  # chaos's journal, unchanged
    assert (code, shown["status"]) == (1, "failed")
    titles = [f["title"] for f in shown["findings"]]
    assert titles == ["broken: experiment aborted: TypeError: 'bool' object is not iterable"]
    assert (workdir / "rollbacks.log").read_text() == "rolled\n"  # drill's default: always


def test_a_control_that_interrupts_is_a_failure(workdir: Path) -> None:
    code, shown, journal = _run(workdir, "guarded", INTERRUPTED)
    assert journal["status"] == "interrupted"
    assert (code, shown["status"]) == (1, "failed")
    titles = [f["title"] for f in shown["findings"]]
    assert titles == ["guarded: experiment interrupted: safeguard: error budget exhausted"]
    assert not (workdir / "fault-ran").exists()


def test_a_signal_chaoslib_handles_is_still_an_abort(workdir: Path) -> None:
    code, shown, journal = _run(workdir, "leaves", LEAVES)
    assert journal["status"] == "interrupted"
    assert (code, shown["status"]) == (3, "aborted")
    assert not (workdir / "never-ran").exists()
    assert (workdir / "rollbacks.log").read_text() == "rolled\n"


@pytest.mark.parametrize("strategy", ["default", "never"])
def test_the_rollback_strategy_still_reads_chaoss_status(workdir: Path, strategy: str) -> None:
    """`default` plays no rollback after an interruption, as chaos: the verdict changed,
    the journal did not."""
    code, _shown, journal = _run(workdir, "guarded", INTERRUPTED, "--rollback-strategy", strategy)
    assert (code, journal["rollbacks"]) == (1, [])
    assert not (workdir / "rollbacks.log").exists()


@pytest.mark.parametrize(
    ("strategy", "why"),
    [
        ("default", "rollback strategy 'default': none after a failed or interrupted run"),
        ("never", "rollback strategy 'never')"),
    ],
)
def test_a_stop_whose_strategy_plays_no_rollback_does_not_say_they_were_played(
    workdir: Path, strategy: str, why: str
) -> None:
    """A stopped experiment's last line said "nothing new was started and the rollbacks
    were played" whatever its rollback strategy: under `default` (chaos's: none after
    an interruption) or `never`, nothing was undone and the operator was told it was."""
    (workdir / "leaves.yaml").write_text(LEAVES)
    res = run(workdir, "run", "leaves.yaml", "--rollback-strategy", strategy)
    assert res.code == 3, res.err
    assert not (workdir / "rollbacks.log").exists()
    words = " ".join(res.err.split())  # rich wraps at 80 columns
    assert "the rollbacks were played" not in words, res.err
    assert f"nothing new was started and the rollbacks were not played (leaves: {why}" in words


UNCHECKABLE = (
    """title: a tolerance chaoslib cannot check
description: a regex tolerance on a probe that returns a number
method:
  - type: probe
    name: count-the-files
    provider: {type: process, path: "true"}
steady-state-hypothesis:
  title: the count is a number
  probes:
    - type: probe
      name: count-is-numeric
      tolerance: {type: regex, pattern: "^[0-9]+$"}
      provider: {type: python, module: json, func: loads, arguments: {s: "2"}}
"""
    + ROLLBACK
)


def test_chaoslib_raising_outside_an_activity_says_why(workdir: Path) -> None:
    """chaoslib's regex tolerance on an int raises TypeError in the middle of the
    hypothesis (`chaos run` ends there with a traceback and no journal). drill's finding
    said "experiment failed: see journal", and the journal said only "failed", with no
    end: the cause was nowhere."""
    code, shown, journal = _run(workdir, "uncheckable", UNCHECKABLE)
    assert (code, shown["status"]) == (1, "failed")
    titles = [f["title"] for f in shown["findings"]]
    assert titles == [
        "uncheckable: experiment failed: chaoslib raised TypeError: expected string or "
        "bytes-like object, got 'int' (after the activity count-is-numeric)"
    ]
    assert journal["status"] == "failed"
    assert {"start", "end", "duration"} <= set(journal)
    assert (workdir / "rollbacks.log").read_text() == "rolled\n"  # drill's default: always
