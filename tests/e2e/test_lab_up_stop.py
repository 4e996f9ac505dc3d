"""A stop during `drill lab up` (DESIGN "Crash safety (Contract)": SIGINT, SIGTERM and
SIGHUP — its terminal closed — alike, once or again and again): the half-built lab is
stopped, nothing of it keeps running, and drill says so (exit 3). SIGHUP killed it as
SIGTERM once did.

SIGTERM killed `lab up` outright (exit 143, no word), leaving its PostgreSQL servers
and failover controller running while `drill lab status` said "lab is not running"; a
second Ctrl-C landed in the clean-up of the first and left the servers running too
(exit -2). Here the first stop comes from the test hook as the servers have started;
more follow until drill has finished cleaning up, so each lands wherever it lands.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import threading
import time
from pathlib import Path

import pytest

from tests.clihelp import run, spawn

pytestmark = [pytest.mark.lab, pytest.mark.slow]

HOOK = "DRILL_TEST_CRASH_AT"
CLEANED = "lab: stopped what the unfinished build had started"


def lab_processes(cwd: Path) -> list[str]:
    """Command lines of the processes running on ``cwd``'s lab."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if f"{cwd}/.drill/lab" in cmd:
            found.append(f"{pid}: {cmd}")
    return found


@pytest.mark.parametrize(
    ("first", "then"),
    [("int", signal.SIGINT), ("term", signal.SIGTERM), ("hup", signal.SIGHUP)],
)
def test_stops_during_lab_up_leave_nothing_running(
    workdir: Path, first: str, then: signal.Signals
) -> None:
    from orchestrator import pgbin
    from orchestrator.errors import LabError

    try:
        pgbin.bindir()
    except LabError as exc:
        pytest.skip(f"PostgreSQL server not installed: {exc.message}")
    proc = spawn(workdir, "lab", "up", env={HOOK: f"lab:build:servers={first}"})
    lines: queue.Queue[str | None] = queue.Queue()
    seen: list[str] = []
    assert proc.stderr is not None
    stream = proc.stderr

    def read() -> None:
        for line in stream:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    try:
        ended = False
        end = time.monotonic() + 240  # bounds a hang; no moment is picked
        while not ended and not any(CLEANED in ln for ln in seen):
            assert time.monotonic() < end, "".join(seen)
            try:
                line = lines.get(timeout=0.01)
            except queue.Empty:
                line = ""
            if line is None:
                ended = True
                continue
            seen.append(line)
            if any("drill: test hook:" in ln for ln in seen) and proc.poll() is None:
                proc.send_signal(then)  # again and again, while it cleans up
        proc.wait(timeout=240)
        with contextlib.suppress(queue.Empty):  # a process left behind holds the pipe
            while (line := lines.get(timeout=5)) is not None:
                seen.append(line)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        left = lab_processes(workdir)
        if left:
            run(workdir, "lab", "down", timeout=180)  # never leave a lab behind
    text = "".join(seen)
    assert proc.returncode == 3, text
    assert "Traceback" not in text and CLEANED in text, text
    assert "lab up stopped" in text, text
    assert not left, left
    _no_data_left(workdir)
    status = run(workdir, "lab", "status", "--json")
    assert status.code == 0 and json.loads(status.out)["running"] is False, status


@pytest.mark.parametrize("command", ["up", "reset"])
def test_a_stopped_lab_build_with_json_prints_its_document(workdir: Path, command: str) -> None:
    """`lab up|reset --json` stopped by SIGTERM printed nothing on stdout (exit 3): a
    script parsing it got an empty string. It prints the status document of what is
    left — not running, the build's servers stopped — with what stopped it."""
    from orchestrator import pgbin
    from orchestrator.errors import LabError

    try:
        pgbin.bindir()
    except LabError as exc:
        pytest.skip(f"PostgreSQL server not installed: {exc.message}")
    args = ["lab", command, "--json"] + (["--yes"] if command == "reset" else [])
    try:
        res = run(workdir, *args, timeout=240, env={HOOK: "lab:build:servers=term"})
    finally:
        left = lab_processes(workdir)
        if left:
            run(workdir, "lab", "down", timeout=180)  # never leave a lab behind
    assert res.code == 3, res.err
    assert "drill: test hook: term at lab:build:servers" in res.err, res.err
    assert f"lab {command} stopped (SIGTERM)" in res.err and "Traceback" not in res.err, res.err
    doc = json.loads(res.out)
    assert doc["running"] is False and doc["error"] == f"lab {command} stopped (SIGTERM)", doc
    assert not left, left


def test_a_failed_lab_build_with_json_prints_its_document(workdir: Path) -> None:
    """`lab up --json` whose build failed (exit 1) printed nothing on stdout either."""
    from orchestrator import pgbin
    from orchestrator.errors import LabError

    try:
        pgbin.bindir()
    except LabError as exc:
        pytest.skip(f"PostgreSQL server not installed: {exc.message}")
    try:
        hook = {HOOK: "lab:build:servers=raise"}
        res = run(workdir, "lab", "up", "--json", timeout=240, env=hook)
    finally:
        left = lab_processes(workdir)
        if left:
            run(workdir, "lab", "down", timeout=180)  # never leave a lab behind
    assert res.code == 1 and CLEANED in res.err, res.err
    doc = json.loads(res.out)
    assert doc["running"] is False and "InjectedFault" in doc["error"], doc
    assert not left, left
    _no_data_left(workdir)


def _no_data_left(cwd: Path) -> None:
    """The unfinished build's data is removed with its processes: in /dev/shm it held
    ~100 MB of memory until the next `lab up` or `lab down` there (never, once the
    project's directory was removed); its logs stay, to read why it failed."""
    lab = cwd / ".drill" / "lab"
    assert not (lab / "pg").exists() and not (lab / "state.json").exists()
    assert (lab / "logs").is_dir()


@pytest.mark.parametrize("command", ["down", "reset"])
@pytest.mark.parametrize("stop", ["int", "term"])
def test_a_stop_during_the_teardown_finishes_it_first(
    workdir: Path, command: str, stop: str
) -> None:
    """Ctrl-C during `lab down` (or the teardown of `lab reset`) broke it off with the
    failover controller stopped and every server and helper still running: `lab status`
    said the lab was up, and a drill run on it had no failover. The teardown now ends
    first; then the stop: exit 3, nothing new started (`lab reset` builds no lab)."""
    from orchestrator import pgbin
    from orchestrator.errors import LabError

    try:
        pgbin.bindir()
    except LabError as exc:
        pytest.skip(f"PostgreSQL server not installed: {exc.message}")
    assert run(workdir, "lab", "up", timeout=240).code == 0
    point = "lab:down:controller"
    try:
        res = run(workdir, "lab", command, timeout=240, env={HOOK: f"{point}={stop}"})
    finally:
        left = lab_processes(workdir)
        if left:
            run(workdir, "lab", "down", timeout=180)  # never leave a lab behind
    assert f"drill: test hook: {stop} at {point}" in res.err, res.err
    assert not left, left
    assert res.code == 3, res.err
    said = " ".join(res.err.split())
    assert f"lab {command} stopped (SIG" in said and "the lab is down" in said, said
    assert "Traceback" not in res.err
    _no_data_left(workdir)
    status = run(workdir, "lab", "status", "--json")
    assert status.code == 0 and json.loads(status.out)["running"] is False, status
