"""An exception that is not drill's own (DESIGN "Crash safety (Contract)"), as a user sees
it: a python activity of a runbook raising ValueError / KeyError, its message holding a
DSN password and text that looks like terminal markup ("[/x]").

Expected: the step fails, the rollbacks run, the run ends ``failed`` (exit 1) with an
``internal_error`` finding (and the step's ``step_failed``), the secret appears nowhere,
and the message is printed as it is — it once broke the terminal output (rich markup)
and left the step ``running`` in the evidence. An experiment's failed activity prints
its exception's last line, not a cut-off list of traceback lines.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tests.clihelp import run
from tests.e2e.defs import activity, experiment, write

pytestmark = pytest.mark.slow

SECRET = "Pw9ZtQ4xLm2V"
MESSAGE = f"cannot reach postgresql://app:{SECRET}@127.0.0.1:1/app; unexpected tag [/x] [high]"


def raising_runbook(marker: Path, kind: str) -> str:
    return f"""id: raising
title: a python activity raises
scenario: test
steps:
  - name: inject the fault
    kind: action
    activity: {activity("touch", path=str(marker))}
  - name: explode
    kind: action
    activity: {activity("raise_error", kind=kind, message=MESSAGE)}
rollback:
  - name: remove the marker
    kind: action
    activity: {activity("remove", path=str(marker))}
"""


@pytest.mark.parametrize("kind", ["ValueError", "KeyError"])
def test_python_activity_exception_is_an_internal_error(workdir: Path, kind: str) -> None:
    marker = workdir / "marker"
    rb = write(workdir, "runbooks/raising.yaml", raising_runbook(marker, kind))
    res = run(workdir, "run", str(rb))  # what a terminal shows (stderr), not --json
    assert res.code == 1, res.err
    (doc,) = json.loads(run(workdir, "runs", "list", "--json").out)
    assert doc["status"] == "failed"
    assert not marker.exists() and (workdir / "marker.rolled-back").exists(), "rollbacks run"
    assert "Traceback" not in res.err and "MarkupError" not in res.err, res.err
    assert "[/x]" in res.err, "the message is printed as it is"
    shown = json.loads(run(workdir, "runs", "show", doc["run_id"], "--json").out)
    steps = {s["name"]: s for s in shown["steps"]}
    assert steps["explode"]["status"] == "failed"
    assert kind in steps["explode"]["error"] and "[/x]" in steps["explode"]["error"]
    kinds = sorted(f["kind"] for f in shown["findings"])
    assert kinds == ["internal_error", "step_failed"], kinds
    text = run(workdir, "runs", "show", doc["run_id"])
    assert text.code == 0 and "[high]" in text.out and "[medium]" in text.out, text.out
    for blob in (res.out, res.err, text.out, text.err):
        assert SECRET not in blob
    db = sqlite3.connect(workdir / ".drill" / "evidence.db")
    try:
        dump = "\n".join(db.iterdump())
    finally:
        db.close()
    assert SECRET not in dump


def test_failed_experiment_activity_prints_its_exception(workdir: Path) -> None:
    marker = workdir / "marker"
    exp = write(workdir, "exp.yaml", experiment(marker, fail=True))
    res = run(workdir, "run", str(exp))
    assert res.code == 0, res.err  # chaos: a failed method activity still completes
    (line,) = [ln for ln in res.err.splitlines() if " break " in ln]
    assert line.rstrip().endswith("RuntimeError: planned"), res.err
    assert "Traceback" not in res.err


def misbehaving_runbook(marker: Path, where: str, what: str, activity_json: str) -> str:
    """A runbook that injects a fault (``marker``) and undoes it, with one more step
    (``where="step"``) or first rollback (``"rollback"``) running ``activity_json``, a
    library misbehaving (``what`` names it in the step's name)."""
    extra = f"  - name: a library {what}\n    kind: action\n    activity: {activity_json}\n"
    undo = extra.replace(f"a library {what}", f"a library {what} while undoing")
    return f"""id: misbehaving
title: a python activity that misbehaves
scenario: test
steps:
  - name: inject the fault
    kind: action
    activity: {activity("touch", path=str(marker))}
{extra if where == "step" else ""}rollback:
{undo if where == "rollback" else ""}  - name: remove the marker
    kind: action
    activity: {activity("remove", path=str(marker))}
"""


def exiting_runbook(marker: Path, where: str) -> str:
    """:func:`misbehaving_runbook` calling ``sys.exit()`` — a library's way to fail
    (argparse on bad arguments, a CLI's main)."""
    return misbehaving_runbook(marker, where, "exits", activity_of("sys", "exit"))


def activity_of(module: str, func: str) -> str:
    provider = {"type": "python", "module": module, "func": func}
    return json.dumps({"type": "action", "name": func, "provider": provider})


def test_a_step_calling_sys_exit_is_a_failed_step_not_the_end_of_drill(workdir: Path) -> None:
    """sys.exit() in a python activity ended drill: exit 0 (as if every objective was
    met), no --json document, the run left `running`, its rollbacks unplayed and the
    fault left in place."""
    marker = workdir / "marker"
    rb = write(workdir, "runbooks/exiting.yaml", exiting_runbook(marker, "step"))
    res = run(workdir, "run", str(rb), "--json")
    assert res.code == 1, res.err
    doc = json.loads(res.out)
    assert doc["status"] == "failed"
    assert not marker.exists() and (workdir / "marker.rolled-back").exists(), "rollbacks run"
    assert "Traceback" not in res.err, res.err
    shown = json.loads(run(workdir, "runs", "show", doc["run_id"], "--json").out)
    steps = {s["name"]: s for s in shown["steps"]}
    assert steps["a library exits"]["status"] == "failed"
    assert "SystemExit: the activity called sys.exit(None)" in steps["a library exits"]["error"]
    assert sorted(f["kind"] for f in shown["findings"]) == ["internal_error", "step_failed"]
    assert run(workdir, "recover").err.strip().endswith("no run awaits recovery"), "closed"


def test_a_rollback_calling_sys_exit_fails_that_rollback_and_the_others_run(
    workdir: Path,
) -> None:
    marker = workdir / "marker"
    rb = write(workdir, "runbooks/exiting.yaml", exiting_runbook(marker, "rollback"))
    res = run(workdir, "run", str(rb), "--json")
    assert res.code == 1, res.err
    doc = json.loads(res.out)
    assert doc["status"] == "rollback_failed"
    assert not marker.exists() and (workdir / "marker.rolled-back").exists(), "the next undo ran"
    assert "Traceback" not in res.err
    shown = json.loads(run(workdir, "runs", "show", doc["run_id"], "--json").out)
    undos = {s["name"]: s for s in shown["steps"] if s["phase"] == "rollback"}
    assert undos["a library exits while undoing"]["status"] == "failed"
    assert "SystemExit" in undos["a library exits while undoing"]["error"]
    assert undos["remove the marker"]["status"] == "succeeded"
    assert "rollback_failed" in {f["kind"] for f in shown["findings"]}


def base_runbook(marker: Path, kind: str, where: str) -> str:
    """:func:`misbehaving_runbook` raising ``kind``, an exception that is not an
    ``Exception`` (tests.faults.raise_base)."""
    raising = activity("raise_base", kind=kind, message="left by a library")
    return misbehaving_runbook(marker, where, "raises", raising)


@pytest.mark.parametrize("kind", ["GeneratorExit", "KeyboardInterrupt", "LibraryStop"])
def test_a_step_raising_a_base_exception_is_a_failed_step(workdir: Path, kind: str) -> None:
    """A python activity raising an exception that is not an ``Exception`` (GeneratorExit,
    a KeyboardInterrupt it raised itself, a library's own BaseException) ended drill with
    a traceback: no --json document, the run left `running`, its rollbacks unplayed and
    the fault in place (a KeyboardInterrupt: 'drill: interrupted', exit 3)."""
    marker = workdir / "marker"
    rb = write(workdir, "runbooks/base.yaml", base_runbook(marker, kind, "step"))
    res = run(workdir, "run", str(rb), "--json")
    assert res.code == 1, res.err
    doc = json.loads(res.out)
    assert doc["status"] == "failed" and kind in doc["error"], doc
    assert not marker.exists() and (workdir / "marker.rolled-back").exists(), "rollbacks run"
    assert "Traceback" not in res.err, res.err
    shown = json.loads(run(workdir, "runs", "show", doc["run_id"], "--json").out)
    steps = {s["name"]: s for s in shown["steps"]}
    raised = steps["a library raises"]
    assert raised["status"] == "failed" and f"{kind}: left by a library" in raised["error"]
    assert sorted(f["kind"] for f in shown["findings"]) == ["internal_error", "step_failed"]
    assert run(workdir, "recover").err.strip().endswith("no run awaits recovery"), "closed"


def test_a_rollback_raising_a_base_exception_fails_it_and_the_others_run(workdir: Path) -> None:
    marker = workdir / "marker"
    rb = write(workdir, "runbooks/base.yaml", base_runbook(marker, "LibraryStop", "rollback"))
    res = run(workdir, "run", str(rb), "--json")
    assert res.code == 1, res.err
    doc = json.loads(res.out)
    assert doc["status"] == "rollback_failed"
    assert not marker.exists() and (workdir / "marker.rolled-back").exists(), "the next undo ran"
    assert "Traceback" not in res.err, res.err
    shown = json.loads(run(workdir, "runs", "show", doc["run_id"], "--json").out)
    undos = {s["name"]: s for s in shown["steps"] if s["phase"] == "rollback"}
    assert "LibraryStop" in undos["a library raises while undoing"]["error"]
    assert undos["remove the marker"]["status"] == "succeeded"


@pytest.mark.parametrize("where", ["method", "rollbacks", "recovery"])
def test_an_experiment_activity_raising_a_base_exception_fails_the_run(
    workdir: Path, where: str
) -> None:
    """chaoslib catches ``Exception`` only: a GeneratorExit from a method activity, or
    from a rollback activity, went through it and ended drill with a traceback, the run
    left `running` (the method's: its rollbacks unplayed, the fault in place)."""
    marker = workdir / "marker"
    provider = {"type": "python", "module": "tests.faults", "func": "raise_base"}
    provider["arguments"] = {"kind": "GeneratorExit", "message": "left by a library"}
    raising = "  - " + json.dumps({"type": "action", "name": "raises", "provider": provider})
    text = experiment(marker)
    if where == "method":
        text = text.replace("\nrollbacks:\n", f"\n{raising}\nrollbacks:\n")
    else:  # after the marker's removal, the last rollback (recovery's too)
        text = text.rstrip("\n") + f"\n{raising}\n"
    exp = write(workdir, "exp.yaml", text)
    if where == "recovery":  # drill killed after the fault: `drill recover` plays them
        point = "step:exp:3:end"
        killed = run(workdir, "run", str(exp), env={"DRILL_TEST_CRASH_AT": point})
        assert killed.code == -9 and f" at {point}" in killed.err, killed.err
        (orphan,) = json.loads(run(workdir, "runs", "list", "--json").out)
        res = run(workdir, "recover", "--json")
        assert res.code == 1 and "Traceback" not in res.err, res.err
        assert json.loads(res.out)["recovered"], res.out
        assert not marker.exists() and (workdir / "marker.rolled-back").exists()
        shown = json.loads(run(workdir, "runs", "show", orphan["run_id"], "--json").out)
        assert shown["status"] == "rollback_failed", shown
        failed = [s for s in shown["steps"] if s["status"] == "failed"]
        assert any("GeneratorExit: left by a library" in (s["error"] or "") for s in failed)
        assert run(workdir, "recover").err.strip().endswith("no run awaits recovery")
        return
    res = run(workdir, "run", str(exp), "--json")
    assert res.code == 1, res.err
    assert "Traceback" not in res.err, res.err
    doc = json.loads(res.out)
    assert not marker.exists() and (workdir / "marker.rolled-back").exists(), "rollbacks run"
    shown = json.loads(run(workdir, "runs", "show", doc["run_id"], "--json").out)
    if where == "method":
        assert doc["status"] == "failed", doc
        (finding,) = shown["findings"]
        assert "GeneratorExit: left by a library" in finding["title"], finding
    else:
        assert doc["status"] == "rollback_failed", doc
        assert "rollback_failed" in {f["kind"] for f in shown["findings"]}
    assert run(workdir, "recover").err.strip().endswith("no run awaits recovery"), "closed"


def test_an_error_naming_a_file_that_is_not_utf8_is_recorded_as_it_is(workdir: Path) -> None:
    """A python activity failing on a file whose name is not UTF-8, named in its message as
    ``os.listdir`` gives it (a lone surrogate): the evidence database could not store the
    step's error, so the step stayed `running` in a run that had ended, and the run's error
    named drill's own UnicodeEncodeError instead of the activity's ValueError."""
    marker = workdir / "marker"
    rb = write(
        workdir,
        "runbooks/undecodable.yaml",
        f"""id: undecodable
title: a python activity fails on a file name that is not UTF-8
scenario: test
steps:
  - name: inject the fault
    kind: action
    activity: {activity("touch", path=str(marker))}
  - name: read the report
    kind: action
    activity: {activity("reject_undecodable", directory=str(workdir))}
rollback:
  - name: remove the marker
    kind: action
    activity: {activity("remove", path=str(marker))}
""",
    )
    res = run(workdir, "run", str(rb), "--json")
    assert res.code == 1, res.err
    assert "Traceback" not in res.err and "UnicodeEncodeError" not in res.err, res.err
    doc = json.loads(res.out)
    assert doc["status"] == "failed" and "ValueError" in doc["error"], doc
    assert not marker.exists() and (workdir / "marker.rolled-back").exists(), "rollbacks run"
    shown = json.loads(run(workdir, "runs", "show", doc["run_id"], "--json").out)
    step = {s["name"]: s for s in shown["steps"]}["read the report"]
    assert step["status"] == "failed", step
    assert "ValueError: unexpected file" in step["error"] and "report-" in step["error"], step
    assert sorted(f["kind"] for f in shown["findings"]) == ["internal_error", "step_failed"]
    assert run(workdir, "evidence", "verify").code == 0


def _depth(value: object) -> tuple[int, object]:
    """How many mappings deep ``value`` goes under ``a``, and what is at the bottom."""
    levels = 0
    while isinstance(value, dict):
        value, levels = value["a"], levels + 1
    return levels, value


def test_an_output_nested_too_deep_is_recorded_as_such(workdir: Path) -> None:
    """A python activity returning a value nested 5,000 deep left its step `running` in a
    run that had ended, and the run failed on drill's own encoder ("internal error:
    RecursionError … while encoding a JSON object"). The step succeeds; its output is
    kept to a depth, with a marker saying what was not recorded and why."""
    from orchestrator.engine.recorder import NESTED_TOO_DEEP, RECORDED_DEPTH

    rb = write(
        workdir,
        "runbooks/deep.yaml",
        f"""id: deep
title: a python activity returns a deeply nested value
scenario: test
steps:
  - name: read the tree
    kind: action
    activity: {activity("nested", levels=5000)}
""",
    )
    res = run(workdir, "run", str(rb), "--json")
    assert res.code == 0, res.err
    assert "RecursionError" not in res.err, res.err
    doc = json.loads(res.out)
    assert doc["status"] == "succeeded" and doc["error"] is None, doc
    shown = json.loads(run(workdir, "runs", "show", doc["run_id"], "--json").out)
    (step,) = shown["steps"]
    assert step["status"] == "succeeded", step
    assert _depth(step["output"]) == (RECORDED_DEPTH, NESTED_TOO_DEEP), step["output"]
    assert shown["findings"] == []
    assert run(workdir, "evidence", "verify").code == 0


def test_an_experiments_output_nested_too_deep_ends_its_step(workdir: Path) -> None:
    """The same value from an experiment's probe: chaoslib aborts the experiment on it
    (its own log line takes the value's repr, as under `chaos run`), but the probe's step
    ended (it stayed `running`), its output and the chaos journal are recorded, and no
    error of drill's own encoder is the run's."""
    from orchestrator.engine.recorder import NESTED_TOO_DEEP, RECORDED_DEPTH

    provider = "{type: python, module: tests.faults, func: nested, arguments: {levels: 5000}}"
    exp = write(
        workdir,
        "experiments/deep.yaml",
        f"""title: deep output
description: a probe returning a deeply nested value
method:
  - type: probe
    name: read the tree
    provider: {provider}
""",
    )
    res = run(workdir, "run", str(exp), "--json", "--journal-path", "journal.json")
    assert res.code == 1, res.err
    doc = json.loads(res.out)
    assert "internal error" not in (doc["error"] or ""), doc
    shown = json.loads(run(workdir, "runs", "show", doc["run_id"], "--json").out)
    (step,) = shown["steps"]
    assert step["status"] == "succeeded", step
    assert _depth(step["output"]) == (RECORDED_DEPTH, NESTED_TOO_DEEP), step["output"]
    assert [f["kind"] for f in shown["findings"]] != ["internal_error"], shown["findings"]
    journal = json.loads((workdir / "journal.json").read_text())
    assert _depth(journal["run"][0]["output"])[1] == NESTED_TOO_DEEP
    assert run(workdir, "evidence", "verify").code == 0
