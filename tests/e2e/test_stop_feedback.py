"""What an operator sees when a stop cannot take effect at once (DESIGN "Crash safety").

A second Ctrl-C while rollbacks play does not interrupt them — that would leave the
environment half-restored — and it is not met with silence either: drill says that it
is still finishing the rollbacks. The first stop comes from the test hook; the rollback
holds until the test releases it (tests.faults.hold_until), so no sleep picks a moment.
"""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.clihelp import spawn
from tests.e2e.defs import activity, write
from tests.e2e.test_crash_safety import HOOK, drill, runs, show

pytestmark = pytest.mark.slow


def held_rollback(cwd: Path, then_remove: bool = False) -> Path:
    marker, here, release = cwd / "marker", cwd / "here", cwd / "release"
    remove = (
        f"""  - name: remove the marker
    kind: action
    activity: {activity("remove", path=str(marker))}
"""
        if then_remove
        else ""
    )
    return write(
        cwd,
        "runbooks/held.yaml",
        f"""id: held
title: a rollback that takes its time
scenario: test
steps:
  - name: inject the fault
    kind: action
    activity: {activity("touch", path=str(marker))}
rollback:
  - name: slow undo
    kind: action
    activity: {activity("hold_until", path=str(here), release=str(release))}
{remove}""",
    )


class Stderr:
    """A process's stderr, read by a thread: the test waits for a line with a bound, so a
    drill that never says it cannot hang the test (it holds until the release)."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stderr is not None
        self.proc = proc
        self.seen: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        stream = proc.stderr

        def read() -> None:
            for line in stream:
                self._lines.put(line)
            self._lines.put(None)

        threading.Thread(target=read, daemon=True).start()

    def wait_for(self, text: str, end: float) -> None:
        while not any(text in ln for ln in self.seen):
            try:
                line = self._lines.get(timeout=max(0.0, end - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"drill never said {text!r}: {self.text}") from None
            assert line is not None, f"drill ended without saying {text!r}: {self.text}"
            self.seen.append(line)

    def finish(self) -> str:
        """Everything, once the process has ended."""
        self.proc.wait(timeout=120)
        while (line := self._lines.get(timeout=60)) is not None:
            self.seen.append(line)
        return self.text

    @property
    def text(self) -> str:
        return "".join(self.seen)


def wait_for_file(proc: subprocess.Popen[str], path: Path) -> None:
    end = time.monotonic() + 120  # bounds a hang; no moment is picked
    while not path.exists():
        assert proc.poll() is None and time.monotonic() < end, f"{path.name} never appeared"
        time.sleep(0.02)


@contextmanager
def holding(cwd: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[Stderr]:
    """`drill ARGS…` with its held rollback playing (``here`` exists) while the body runs;
    then the rollback is released and drill waited for — killed if the body failed."""
    proc = spawn(cwd, *args, env=env)
    err = Stderr(proc)
    try:
        wait_for_file(proc, cwd / "here")
        yield err
        (cwd / "release").touch()
        err.finish()
    finally:
        if proc.poll() is None:
            proc.kill()  # never leave a drill behind, even when the test fails
            proc.wait()


def killed_held(cwd: Path, then_remove: bool = False) -> str:
    """A run killed after its fault: its held rollback awaits recovery. Its id."""
    rb = held_rollback(cwd, then_remove)
    killed = drill(cwd, "run", str(rb), crash="step:held:1:end")
    assert killed.code == -signal.SIGKILL, killed.err
    (entry,) = runs(cwd)
    return str(entry["run_id"])


def test_second_ctrl_c_during_rollbacks_says_they_finish_first(workdir: Path) -> None:
    rb = held_rollback(workdir)
    with holding(workdir, "run", str(rb), env={HOOK: "step:held:1:end=int"}) as err:
        err.proc.send_signal(signal.SIGINT)
        err.wait_for("received again", time.monotonic() + 120)
    text = err.text
    assert err.proc.returncode == 3, text
    assert "still finishing the rollbacks" in text and "Traceback" not in text, text
    words = " ".join(text.split())  # how it ended, in words (rich wraps at 80 columns)
    assert words.endswith(
        "aborted (received SIGINT): nothing new was started and the rollbacks were played"
    ), text
    (entry,) = runs(workdir)
    doc = show(workdir, str(entry["run_id"]))
    assert doc["status"] == "aborted", json.dumps(doc)[:2000]
    undo = [s for s in doc["steps"] if s["name"] == "slow undo"]  # type: ignore[attr-defined]
    assert [s["status"] for s in undo] == ["succeeded"]


def test_stop_during_recovery_says_the_rollback_finishes(workdir: Path) -> None:
    """The first signal of a recovery (shielded throughout) is explained at once too, and
    `drill recover` ends as stopped (exit 3) even though its last rollback finished."""
    run_id = killed_held(workdir)
    with holding(workdir, "recover") as err:
        err.proc.send_signal(signal.SIGTERM)
        err.wait_for("SIGTERM received", time.monotonic() + 120)
    assert err.proc.returncode == 3, err.text
    assert "nothing new starts" in err.text and "Traceback" not in err.text, err.text
    assert show(workdir, run_id)["status"] == "crashed", "its only rollback finished"


def test_drill_abort_during_a_recovery_stops_it_not_a_stranger(workdir: Path) -> None:
    """`drill abort` of a run being recovered signals the recovery (it holds the lock),
    not the dead drill's recorded pid, which may be another process's by now; the
    recovery finishes the rollback in progress and starts no other."""
    run_id = killed_held(workdir, then_remove=True)
    with holding(workdir, "recover") as err:  # the first of its two rollbacks plays
        aborted = drill(workdir, "abort", run_id)
        assert aborted.code == 0, aborted.err
        assert f"pid {err.proc.pid}" in aborted.err and "recovery" in aborted.err, aborted.err
        err.wait_for("SIGTERM received", time.monotonic() + 120)
    assert err.proc.returncode == 3, err.text
    assert (workdir / "marker").exists(), "the second rollback must not start"
    assert show(workdir, run_id)["status"] == "running"
    again = drill(workdir, "recover")
    assert again.code == 0, again.err
    assert not (workdir / "marker").exists() and show(workdir, run_id)["status"] == "crashed"


def test_a_second_recovery_says_the_first_one_has_it(workdir: Path) -> None:
    """`drill recover` while another recovery plays the rollbacks: it names that one and
    does not claim that nothing awaits recovery."""
    killed_held(workdir)
    with holding(workdir, "recover") as err:
        second = drill(workdir, "recover")
    assert second.code == 0, second.err
    assert f"being recovered by pid {err.proc.pid}" in second.err, second.err
    assert "no run awaits recovery" not in second.err, second.err
    assert err.proc.returncode == 0, err.text


def test_a_second_recovery_json_lists_the_run_the_first_one_has(workdir: Path) -> None:
    """`drill recover --json` while another recovery plays the rollbacks printed
    {"recovered": []} — to a script, nothing awaited recovery. The run it could not take
    is listed as busy (another process holds its environment)."""
    run_id = killed_held(workdir)
    with holding(workdir, "recover"):
        second = drill(workdir, "recover", "--json")
    assert second.code == 0, second.err
    doc = json.loads(second.out)
    assert doc == {
        "recovered": [],
        "pending": [],
        "busy": [{"run_id": run_id, "env": "lab", "status": "running"}],
    }, doc
    assert show(workdir, run_id)["status"] == "crashed", "the first recovery closed it"


@pytest.mark.parametrize("last", [True, False])
def test_a_stopped_recovery_prints_its_json_document(workdir: Path, last: bool) -> None:
    """`drill recover --json` stopped by a signal (exit 3) printed nothing on stdout (DESIGN
    5: one JSON document). It says what it closed, what still awaits recovery, and why.
    ``last``: the stop comes during the run's last rollback (it finishes: the run is
    closed); else during the first of two (the other stays pending)."""
    run_id = killed_held(workdir, then_remove=not last)
    proc = spawn(workdir, "recover", "--json")
    err = Stderr(proc)
    try:
        wait_for_file(proc, workdir / "here")
        proc.send_signal(signal.SIGTERM)
        err.wait_for("SIGTERM received", time.monotonic() + 120)
        (workdir / "release").touch()
        assert proc.stdout is not None
        out = proc.stdout.read()
        err.finish()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 3, err.text
    doc = json.loads(out)
    assert doc["stopped"] is True and "stopped" in doc["error"], doc
    if last:
        assert doc["recovered"] == [{"run_id": run_id, "env": "lab", "status": "crashed"}]
        assert doc["pending"] == []
    else:
        assert doc["recovered"] == []
        assert doc["pending"] == [{"run_id": run_id, "env": "lab", "status": "running"}]
        again = drill(workdir, "recover", "--json")
        assert again.code == 0, again.err
        assert json.loads(again.out)["recovered"][0]["status"] == "crashed"


SHELL_FAULT = """title: a fault a shell starts
description: the action's shell runs a command that lands the fault once released
method:
  - type: action
    name: the-fault
    provider:
      type: process
      path: sh
      arguments: ["-c", "touch here; while [ ! -e release ]; do sleep 0.02; done; touch fault"]
rollbacks:
  - type: action
    name: undo
    provider: {type: process, path: sh, arguments: ["-c", "rm -f fault; echo undone > undo"]}
"""


@pytest.mark.parametrize("second", [False, True])
def test_a_stop_during_an_experiments_action_waits_for_it(workdir: Path, second: bool) -> None:
    """A stop during an experiment's action was raised into it: chaoslib's process
    provider killed the shell, not the command it was running, and the undo played at
    once while that command ran on — drill said 'the rollbacks were played', and the
    fault landed after its undo. The action now ends first (at most SETTLE_GRACE_S), as a
    runbook's step does; a second stop rolls back at once."""
    write(workdir, "shell-fault.yaml", SHELL_FAULT)
    proc = spawn(workdir, "run", "shell-fault.yaml", "--json")
    err = Stderr(proc)
    try:
        wait_for_file(proc, workdir / "here")
        proc.send_signal(signal.SIGTERM)
        err.wait_for("waiting for the step in progress to end", time.monotonic() + 60)
        if second:
            proc.send_signal(signal.SIGTERM)
        else:
            (workdir / "release").touch()
        err.finish()
    finally:
        (workdir / "release").touch()  # the shell a cut wait left behind ends too
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 3, err.text
    assert (workdir / "undo").exists(), err.text
    if not second:
        assert not (workdir / "fault").exists(), "the undo played after the fault landed"
        (entry,) = runs(workdir)
        steps = show(workdir, str(entry["run_id"]))["steps"]
        status = {s["name"]: s["status"] for s in steps}  # type: ignore[index]
        assert status["the-fault"] == "succeeded" and status["undo"] == "succeeded", steps
