"""A manual step asked at a terminal (the prompt of a `drill run` started by hand).

Its timeout holds there as it does under `drill ack`: the prompt waited for ever, the
fault in place, whatever the step's timeout said — an operator who walked away left the
environment degraded until someone came back. A Ctrl-D at the prompt (its input ended)
is no internal error of drill: the step waits for `drill ack`, as when nobody can be
prompted at all.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path

import pytest

from tests.clihelp import run
from tests.e2e.defs import activity, write
from tests.e2e.test_hangup import in_terminal, wait_for

pytestmark = pytest.mark.slow


def manual_runbook(marker: Path) -> str:
    return f"""id: manual
title: an operator checks the dashboard
scenario: test
steps:
  - name: inject the fault
    kind: action
    activity: {activity("touch", path=str(marker))}
  - name: operator checks the dashboard
    kind: manual
    instructions: Confirm the alarm fired.
    timeout: 2s
rollback:
  - name: remove the marker
    kind: action
    activity: {activity("remove", path=str(marker))}
"""


def read_until_end(proc: object, master: int, until: bytes | None = None) -> bytes:
    """What the terminal shows, until ``until`` appears or drill ends (at most 120 s: the
    step's timeout is 2 s)."""
    import subprocess

    assert isinstance(proc, subprocess.Popen)
    seen = b""
    give_up = time.monotonic() + 120
    while proc.poll() is None and (until is None or until not in seen):
        assert time.monotonic() < give_up, f"drill still waits: {seen.decode(errors='replace')}"
        with contextlib.suppress(OSError):  # nothing to read yet
            while chunk := os.read(master, 65536):
                seen += chunk
        time.sleep(0.05)
    with contextlib.suppress(OSError):
        seen += os.read(master, 65536)
    return seen


def ended_with_rollbacks(workdir: Path, marker: Path) -> dict[str, object]:
    assert not marker.exists() and (workdir / "marker.rolled-back").exists(), "rollbacks run"
    (doc,) = json.loads(run(workdir, "runs", "list", "--json").out)
    assert doc["status"] == "failed", doc
    shown: dict[str, object] = json.loads(run(workdir, "runs", "show", doc["run_id"], "--json").out)
    return shown


def test_a_manual_step_unanswered_at_the_terminal_ends_at_its_timeout(workdir: Path) -> None:
    marker = workdir / "marker"
    rb = write(workdir, "runbooks/manual.yaml", manual_runbook(marker))
    proc, master = in_terminal(workdir, "run", str(rb))
    try:
        wait_for(marker, proc, master)
        shown = read_until_end(proc, master)
        assert proc.wait(timeout=120) == 1, shown.decode(errors="replace")
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    doc = ended_with_rollbacks(workdir, marker)
    step = {s["name"]: s for s in doc["steps"]}["operator checks the dashboard"]  # type: ignore[attr-defined]
    assert step["status"] == "failed" and "no answer at the prompt" in step["error"], step
    assert [f["kind"] for f in doc["findings"]] == ["step_failed"], doc["findings"]  # type: ignore[attr-defined]


def test_ctrl_d_at_the_prompt_leaves_the_step_to_drill_ack(workdir: Path) -> None:
    marker = workdir / "marker"
    rb = write(workdir, "runbooks/manual.yaml", manual_runbook(marker))
    proc, master = in_terminal(workdir, "run", str(rb))
    try:
        wait_for(marker, proc, master)
        read_until_end(proc, master, until=b"when finished")
        os.write(master, b"\x04")  # Ctrl-D: the terminal's input ends
        shown = read_until_end(proc, master).decode(errors="replace")
        assert proc.wait(timeout=120) == 1, shown
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    assert "drill ack" in shown and "EOFError" not in shown, shown
    doc = ended_with_rollbacks(workdir, marker)
    step = {s["name"]: s for s in doc["steps"]}["operator checks the dashboard"]  # type: ignore[attr-defined]
    assert step["status"] == "failed" and "no acknowledgement" in step["error"], step
    assert [f["kind"] for f in doc["findings"]] == ["step_failed"], doc["findings"]  # type: ignore[attr-defined]


def manual_scenario(rb_id: str, marker: Path, timeout: str) -> str:
    return f"""id: {rb_id}
title: an operator checks {rb_id}
scenario: test
steps:
  - name: inject the fault
    kind: action
    activity: {activity("touch", path=str(marker))}
  - name: operator checks {rb_id}
    kind: manual
    instructions: Confirm the {rb_id} alarm fired.
    timeout: {timeout}
rollback:
  - name: remove the marker
    kind: action
    activity: {activity("remove", path=str(marker))}
"""


def test_the_answer_after_a_timed_out_prompt_goes_to_the_next_prompt(workdir: Path) -> None:
    """A prompt that timed out left its reader thread waiting on the terminal: the
    operator's answer to the next manual step of the run went to that old reader, and the
    step waited on until its own timeout."""
    write(workdir, "runbooks/first.yaml", manual_scenario("first", workdir / "first", "2s"))
    write(workdir, "runbooks/second.yaml", manual_scenario("second", workdir / "second", "60s"))
    write(
        workdir,
        "drills/two.yaml",
        "id: two\ntitle: two manual checks\nstop_policy: continue\n"
        "scenarios:\n  - runbook: first\n  - runbook: second\n",
    )
    proc, master = in_terminal(workdir, "run", "two")
    try:
        wait_for(workdir / "second", proc, master)  # the first prompt timed out
        read_until_end(proc, master, until=b"second alarm fired")
        os.write(master, b"done\n")
        shown = read_until_end(proc, master).decode(errors="replace")
        assert proc.wait(timeout=120) == 1, shown  # the first scenario failed
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    (doc,) = json.loads(run(workdir, "runs", "list", "--json").out)
    shown_doc = json.loads(run(workdir, "runs", "show", doc["run_id"], "--json").out)
    steps = {s["name"]: s for s in shown_doc["steps"]}
    assert "no answer at the prompt" in steps["operator checks first"]["error"], steps
    second = steps["operator checks second"]
    assert second["status"] == "succeeded" and second["output"]["via"] == "prompt", second


def test_drill_ack_ends_a_prompt_waiting_at_the_terminal(workdir: Path) -> None:
    """`drill ack` was not looked for while the prompt waited at a terminal: the step
    waited on until its timeout (a failed step, rollbacks) though the operator had
    acknowledged it."""
    marker = workdir / "marker"
    rb = write(workdir, "runbooks/manual.yaml", manual_scenario("manual", marker, "60s"))
    proc, master = in_terminal(workdir, "run", str(rb))
    try:
        wait_for(marker, proc, master)
        read_until_end(proc, master, until=b"when finished")
        (listed,) = json.loads(run(workdir, "runs", "list", "--json").out)
        acked = run(workdir, "ack", listed["run_id"])
        assert acked.code == 0, acked.err
        shown = read_until_end(proc, master).decode(errors="replace")
        assert proc.wait(timeout=120) == 0, shown
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    doc = json.loads(run(workdir, "runs", "show", listed["run_id"], "--json").out)
    step = {s["name"]: s for s in doc["steps"]}["operator checks manual"]
    assert step["status"] == "succeeded" and step["output"]["via"] == "drill ack", step
    assert doc["status"] == "succeeded", doc["status"]
