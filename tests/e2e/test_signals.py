"""Interrupts, aborts, crashes and locks — with real processes and real signals."""

from __future__ import annotations

import contextlib
import json
import queue
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.clihelp import run, spawn
from tests.e2e.defs import experiment, runbook, write

pytestmark = pytest.mark.slow


def wait_for(path: Path, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > end:
            raise AssertionError(f"{path} never appeared")
        time.sleep(0.05)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_during_runbook_runs_rollbacks(workdir: Path, sig: signal.Signals) -> None:
    marker = workdir / "marker"
    rb = write(workdir, "runbooks/hold.yaml", runbook(marker, wait_s=60))
    proc = spawn(workdir, "run", str(rb), "--json")
    wait_for(marker)
    time.sleep(0.3)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 3, err
    doc = json.loads(out)
    assert doc["status"] == "aborted"
    assert sig.name in (doc["error"] or "")
    assert not marker.exists(), "rollback must remove the fault"
    assert (workdir / "marker.rolled-back").exists()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_during_experiment_runs_rollbacks(workdir: Path, sig: signal.Signals) -> None:
    marker, held = workdir / "marker", workdir / "held"
    exp = write(workdir, "exp.yaml", experiment(marker, held=held))
    proc = spawn(workdir, "run", str(exp), "--json")
    wait_for(held)
    proc.send_signal(sig)
    (workdir / "held.release").touch()  # the action a stop lets end
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 3, err
    assert json.loads(out)["status"] == "aborted"
    assert not marker.exists(), "Chaos Toolkit skips rollbacks on interrupt; drill must not"


@pytest.mark.parametrize("stop", ["SIGINT", "drill abort"])
def test_an_experiment_activity_a_stop_interrupted_says_so(workdir: Path, stop: str) -> None:
    """The activity a stop interrupted was recorded `failed` with no error at all (chaoslib
    hands drill's event handler a run without a status when an activity did not end),
    where a runbook's step says "interrupted: received SIGINT" — and, stopped by `drill
    abort`, "interrupted: received SIGTERM" where its scenario and run said the request."""
    marker, held = workdir / "marker", workdir / "held"
    hold = {
        "type": "action",
        "name": "hold",
        "provider": {
            "type": "python",
            "module": "tests.faults",
            "func": "hold_until",
            "arguments": {"path": str(held), "release": str(workdir / "never")},
        },
    }
    text = experiment(marker).replace("\nrollbacks:\n", f"\n  - {json.dumps(hold)}\nrollbacks:\n")
    exp = write(workdir, "exp.yaml", text)
    proc = spawn(workdir, "run", str(exp), "--json")
    wait_for(held)  # the activity is running
    if stop == "SIGINT":
        proc.send_signal(signal.SIGINT)
    else:
        (listed,) = json.loads(run(workdir, "runs", "list", "--json").out)
        assert run(workdir, "abort", listed["run_id"]).code == 0
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 3, err
    shown = json.loads(run(workdir, "runs", "show", json.loads(out)["run_id"], "--json").out)
    (step,) = [s for s in shown["steps"] if s["name"] == "hold"]
    said = "received SIGINT" if stop == "SIGINT" else "aborted by `drill abort`"
    assert step["status"] == "failed" and step["error"] == f"interrupted: {said}", step
    assert shown["error"] == said, shown["error"]
    assert not marker.exists(), "the rollbacks ran"


def test_second_run_on_same_env_is_refused(workdir: Path) -> None:
    marker = workdir / "marker"
    rb = write(workdir, "runbooks/hold.yaml", runbook(marker, wait_s=60))
    first = spawn(workdir, "run", str(rb), "--json")
    try:
        wait_for(marker)
        second = run(workdir, "run", str(rb), "--json")
        assert second.code == 2
        assert second.out == ""
        assert "environment 'lab' is already in use by run r-" in second.err
        # the running run is not mistaken for a crashed one
        listed = json.loads(run(workdir, "runs", "list", "--json").out)
        assert [r["status"] for r in listed] == ["running"]
        # the hint is a command to copy, with the run's id (it said `drill abort RUN_ID`)
        assert f"`drill abort {listed[0]['run_id']}`" in second.err
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=60)


def test_drill_abort_stops_run_with_rollbacks(workdir: Path) -> None:
    marker = workdir / "marker"
    rb = write(workdir, "runbooks/hold.yaml", runbook(marker, wait_s=60))
    proc = spawn(workdir, "run", str(rb), "--json")
    wait_for(marker)
    listed = json.loads(run(workdir, "runs", "list", "--json").out)
    aborted = run(workdir, "abort", listed[0]["run_id"], env={"DRILL_OPERATOR": "alice"})
    assert aborted.code == 0, aborted.err
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 3, err
    doc = json.loads(out)
    assert doc["status"] == "aborted"
    assert not marker.exists()
    # the evidence says who stopped it and how (it said "received SIGTERM": the signal
    # `drill abort` sends, not the request)
    assert doc["error"] == "aborted by `drill abort`"
    shown = json.loads(run(workdir, "runs", "show", doc["run_id"], "--json").out)
    asked = [e for e in shown["timeline"] if e["kind"] == "run.abort_requested"]
    assert [e["message"] for e in asked] == ["abort requested by alice (`drill abort`)"]


def test_drill_abort_is_what_the_interrupted_step_and_scenario_say(workdir: Path) -> None:
    """The run said "aborted by `drill abort`", but the step it interrupted and its
    scenario said "received SIGTERM" (the signal that carries the request): an auditor
    read two causes of one stop."""
    marker = workdir / "marker"
    rb = write(workdir, "runbooks/hold.yaml", runbook(marker, wait_s=60))
    proc = spawn(workdir, "run", str(rb), "--json")
    wait_for(marker)
    (listed,) = json.loads(run(workdir, "runs", "list", "--json").out)
    assert run(workdir, "abort", listed["run_id"]).code == 0
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 3, err
    shown = json.loads(run(workdir, "runs", "show", listed["run_id"], "--json").out)
    assert shown["error"] == "aborted by `drill abort`", shown["error"]
    (held,) = [s for s in shown["steps"] if s["name"] == "hold the fault"]
    assert held["error"] == "interrupted: aborted by `drill abort`", held
    assert shown["scenario_notes"]["marker-runbook"]["error"] == "aborted by `drill abort`"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_an_experiment_activity_resetting_signals_does_not_disarm_the_stop(
    workdir: Path, sig: signal.Signals
) -> None:
    """chaoslib runs an experiment's python activities in drill's own thread: one that
    set SIGTERM back to its default (a library set up by it) left drill to be killed by
    the next SIGTERM — no rollbacks, the fault in place, the run `running` — and SIGINT
    back to Python's KeyboardInterrupt made the next Ctrl-C chaoslib's interruption, not
    drill's stop. drill's handlers are back once the activity has completed."""
    marker, holding = workdir / "marker", workdir / "holding"
    reset = {"type": "python", "module": "tests.faults", "func": "reset_signals"}
    hold = {"type": "python", "module": "tests.faults", "func": "hold_until"}
    hold["arguments"] = {"path": str(holding), "release": str(workdir / "release")}
    activities = [
        {"type": "action", "name": "set-up-a-library", "provider": reset},
        {"type": "action", "name": "hold", "provider": hold},
    ]
    method = "".join(f"  - {json.dumps(a)}\n" for a in activities)
    text = experiment(marker).replace("\nrollbacks:\n", f"\n{method}rollbacks:\n")
    exp = write(workdir, "exp.yaml", text)
    proc = spawn(workdir, "run", str(exp), "--json")
    wait_for(holding)
    proc.send_signal(sig)
    (workdir / "release").touch()  # the action a stop lets end
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 3, err
    doc = json.loads(out)
    assert doc["status"] == "aborted" and sig.name in (doc["error"] or ""), doc
    assert not marker.exists() and (workdir / "marker.rolled-back").exists(), "rollbacks run"


def _slow_fault(workdir: Path, later_undo: str = "") -> tuple[Path, Path, Path]:
    """A runbook whose fault lands when the test says (``release``), after ``started``;
    its rollback removes the marker, then plays ``later_undo`` (a YAML activity) if
    given. Returns the runbook, ``started`` and ``release``."""
    from tests.e2e.defs import activity

    marker, started, release = workdir / "marker", workdir / "started", workdir / "release"
    slow = activity("touch_when", path=str(marker), started=str(started), release=str(release))
    text = f"""id: slow-fault
title: a fault that lands late
scenario: test
steps:
  - name: inject the fault slowly
    kind: action
    activity: {slow}
rollback:
  - name: remove the marker
    kind: action
    activity: {activity("remove", path=str(marker))}
"""
    if later_undo:
        text += f"""  - name: a later undo, done once the fault is
    kind: action
    activity: {later_undo}
"""
    return write(workdir, "runbooks/slow.yaml", text), started, release


def _stderr_lines(proc: subprocess.Popen[str]) -> tuple[queue.Queue[str], threading.Thread]:
    """The lines of ``proc``'s stderr as they come, read by a thread of their own."""
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stderr is not None
    stream = proc.stderr

    def read() -> None:
        for line in stream:
            lines.put(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    return lines, reader


def test_a_stop_during_a_slow_step_rolls_back_once_the_step_has_ended(workdir: Path) -> None:
    """Ctrl-C while a step's action was still at work (a python activity, a lab
    operation: neither can be interrupted) played the rollbacks at once, beside it: the
    undo ran before the fault had landed, the fault landed after it, and drill said the
    rollbacks were played. The rollbacks now wait for the step (up to its timeout or 15 s;
    a second stop cuts the wait)."""
    from tests.e2e.defs import activity

    marker, undo_here = workdir / "marker", workdir / "undo-here"
    later = activity("hold_until", path=str(undo_here), release=f"{marker}.done")
    rb, started, release = _slow_fault(workdir, later)
    proc = spawn(workdir, "run", str(rb), "--json")
    lines, _reader = _stderr_lines(proc)
    wait_for(started)
    proc.send_signal(signal.SIGINT)
    seen: list[str] = []
    end = time.monotonic() + 60  # bounds a hang; no moment is picked
    # the rollbacks began beside the step (undo-here: the first undo is done) or drill
    # waits for the step: either way the step may now end
    while not undo_here.exists() and not any("waiting for the step" in ln for ln in seen):
        assert time.monotonic() < end and proc.poll() is None, "".join(seen)
        with contextlib.suppress(queue.Empty):
            seen.append(lines.get(timeout=0.05))
    release.write_text("go\n")
    out = proc.communicate(timeout=60)[0]
    assert proc.returncode == 3
    assert json.loads(out)["status"] == "aborted"
    assert not marker.exists(), "the fault landed after its undo"
    assert (workdir / "marker.rolled-back").exists()


def test_a_step_still_running_past_its_timeout_is_said(workdir: Path) -> None:
    """A step whose action outlives its timeout goes on in drill (it cannot be
    interrupted) while the rollbacks play: that is said, and kept with the run."""
    from tests.e2e.defs import activity

    marker, started = workdir / "marker", workdir / "started"
    slow = activity("touch_when", path=str(marker), started=str(started), release="/nonexistent")
    text = f"""id: hung-fault
title: a fault that hangs
scenario: test
steps:
  - name: inject the fault
    kind: action
    timeout: 1s
    activity: {slow}
rollback:
  - name: remove the marker
    kind: action
    activity: {activity("remove", path=str(marker))}
"""
    rb = write(workdir, "runbooks/hung.yaml", text)
    res = run(workdir, "run", str(rb), "--json")
    assert res.code == 1, res.err
    doc = json.loads(res.out)
    assert doc["status"] == "failed" and started.exists()
    said = " ".join(res.err.split())
    assert "is still running (it cannot be interrupted): it may act after the rollbacks" in said
    shown = run(workdir, "runs", "show", doc["run_id"], "--json")
    assert "step.still_running" in shown.out, shown.out


def test_a_second_stop_during_the_wait_for_a_step_says_it_rolls_back_now(
    workdir: Path,
) -> None:
    """A second Ctrl-C while drill waited for the interrupted step said 'still finishing
    the rollbacks (interrupting them would leave …)' while it cut the wait and began
    them: it now says what it does."""
    rb, started, release = _slow_fault(workdir)
    proc = spawn(workdir, "run", str(rb), "--json")
    lines, reader = _stderr_lines(proc)
    wait_for(started)
    proc.send_signal(signal.SIGINT)
    seen: list[str] = []
    end = time.monotonic() + 60  # bounds a hang; no moment is picked
    try:
        while not any("waiting for the step" in ln for ln in seen):
            assert time.monotonic() < end and proc.poll() is None, "".join(seen)
            with contextlib.suppress(queue.Empty):
                seen.append(lines.get(timeout=0.05))
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)  # (its --json document fits the pipe; stderr is the reader's)
    finally:
        release.write_text("go\n")
    reader.join(timeout=30)
    while not lines.empty():
        seen.append(lines.get())
    said = " ".join("".join(seen).split())
    assert proc.returncode == 3, said
    assert "received again: not waiting for the step in progress; rolling back now" in said
    assert "still finishing the rollbacks" not in said
