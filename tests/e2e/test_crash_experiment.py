"""Crash safety of an experiment run by chaoslib (DESIGN "Crash safety (Contract)").

chaoslib plays an experiment's rollbacks itself; drill records them as one row,
``pending`` before the method starts and ``running`` once chaoslib begins them. The
test hook names the moments inside (orchestrator/engine/experiment.py): each activity
(``step:ID:N:start|end``), the rollbacks' start, each rollback activity, and their end
before it is recorded. drill is killed at each; ``drill recover`` (and, separately, the
next ``drill run``) plays the experiment's rollbacks again and ends the run ``crashed``.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from tests.e2e.defs import experiment, write
from tests.e2e.test_crash_safety import drill, hooked, runs, show

pytestmark = pytest.mark.slow

ROLLBACKS = "rollback:experiment-rollbacks"


def played(marker: Path) -> int:
    done = marker.with_name(marker.name + ".rolled-back")
    return len(done.read_text().splitlines()) if done.exists() else 0


def killed(cwd: Path, point: str) -> tuple[Path, str]:
    marker = cwd / "marker"
    exp = write(cwd, "exp.yaml", experiment(marker))
    res = drill(cwd, "run", str(exp), crash=point)
    hooked(res, point)
    assert res.code == -signal.SIGKILL, res.err
    (entry,) = runs(cwd)
    assert entry["status"] == "running"
    return marker, str(entry["run_id"])


@pytest.mark.parametrize(
    ("point", "before", "in_flight"),
    [
        ("step:exp:3:start", 0, False),  # the method's first action, not begun
        ("step:exp:3:end", 0, False),  # the fault injected and recorded
        (f"{ROLLBACKS}:start", 0, True),  # chaoslib begins the rollbacks
        (f"{ROLLBACKS}:1:end", 1, True),  # the undo ran, the row still running
        (f"{ROLLBACKS}:end", 1, True),  # all done, not yet recorded
    ],
)
def test_kill_during_an_experiment_then_recover(
    workdir: Path, point: str, before: int, in_flight: bool
) -> None:
    marker, run_id = killed(workdir, point)
    assert played(marker) == before
    rec = drill(workdir, "recover")
    assert rec.code == 0, rec.err
    assert ("in flight when drill died" in rec.err) is in_flight, rec.err
    assert not marker.exists() and played(marker) == before + 1, "the rollbacks must be played"
    shown = show(workdir, run_id)
    assert shown["status"] == "crashed"
    undo = [s for s in shown["steps"] if s["name"] == "experiment rollbacks"]  # type: ignore[attr-defined]
    assert [s["status"] for s in undo] == ["succeeded"], undo
    assert drill(workdir, "evidence", "verify").code == 0


def test_next_run_recovers_a_killed_experiment_first(workdir: Path) -> None:
    marker, run_id = killed(workdir, f"{ROLLBACKS}:start")
    other = write(workdir, "other.yaml", experiment(workdir / "other"))
    res = drill(workdir, "run", str(other))
    assert res.code == 0, res.err
    assert f"recovering run {run_id}" in res.err
    assert not marker.exists() and played(marker) == 1
    assert show(workdir, run_id)["status"] == "crashed"


@pytest.mark.parametrize(
    ("point", "sig"),
    [
        ("step:exp:3:end", "int"),  # after the fault, in the method
        (f"{ROLLBACKS}:start", "term"),  # as chaoslib begins the rollbacks
        (f"{ROLLBACKS}:1:start", "int"),  # inside them
    ],
)
def test_stop_during_an_experiment_plays_its_rollbacks_once(
    workdir: Path, point: str, sig: str
) -> None:
    marker = workdir / "marker"
    exp = write(workdir, "exp.yaml", experiment(marker))
    res = drill(workdir, "run", str(exp), "--json", crash=f"{point}={sig}")
    hooked(res, point)
    assert res.code == 3, res.err
    doc = json.loads(res.out)
    assert doc["status"] == "aborted" and f"SIG{sig.upper()}" in doc["error"]
    assert "Traceback" not in res.err
    assert not marker.exists() and played(marker) == 1


def test_recover_json_keeps_what_a_rollback_prints_off_stdout(workdir: Path) -> None:
    """`drill recover --json`: one JSON document on stdout (DESIGN 5), also when the
    rollback it plays is an experiment's python activity that prints."""
    exp = write(
        workdir,
        "talk.yaml",
        """title: a rollback that talks
description: its undo prints on stdout
method:
  - type: probe
    name: look
    provider: {type: python, module: os.path, func: exists, arguments: {path: /}}
rollbacks:
  - type: action
    name: undo-and-say-so
    provider: {type: python, module: builtins, func: print,
               arguments: {sep: "", end: "PRINTED-BY-ROLLBACK\\n"}}
""",
    )
    point = f"{ROLLBACKS}:start"
    res = drill(workdir, "run", str(exp), crash=point)
    hooked(res, point)
    rec = drill(workdir, "recover", "--json")
    assert rec.code == 0, rec.err
    json.loads(rec.out)  # the whole of stdout
    assert "PRINTED-BY-ROLLBACK" in rec.err


def _rollback_rows(doc: dict[str, object]) -> list[dict[str, object]]:
    steps = doc["steps"]
    assert isinstance(steps, list)
    return [s for s in steps if s["phase"] == "rollback" and s["name"] == "remove-marker"]


@pytest.mark.parametrize("sig", ["int", "term"])
def test_a_stopped_experiments_rollback_activities_are_recorded(workdir: Path, sig: str) -> None:
    """A Ctrl-C in the method: drill plays the rollbacks itself (chaoslib never reached
    them) and each rollback activity gets its step row, as when chaoslib plays them."""
    marker = workdir / "marker"
    exp = write(workdir, "exp.yaml", experiment(marker))
    point = "step:exp:3:end"
    res = drill(workdir, "run", str(exp), crash=f"{point}={sig}")
    hooked(res, point)
    assert res.code == 3, res.err
    assert played(marker) == 1
    (entry,) = runs(workdir)
    rows = _rollback_rows(show(workdir, str(entry["run_id"])))
    assert [(r["status"], r["kind"]) for r in rows] == [("succeeded", "action")], rows
    assert rows[0]["ended_at"], rows
    assert drill(workdir, "evidence", "verify").code == 0


def test_a_recovered_experiments_rollback_activities_are_recorded(workdir: Path) -> None:
    """drill killed in the method: `drill recover` plays the rollbacks and records each
    rollback activity as a step row too."""
    marker, run_id = killed(workdir, "step:exp:3:end")
    rec = drill(workdir, "recover")
    assert rec.code == 0, rec.err
    assert played(marker) == 1
    rows = _rollback_rows(show(workdir, run_id))
    assert [(r["status"], r["kind"]) for r in rows] == [("succeeded", "action")], rows
    assert drill(workdir, "evidence", "verify").code == 0


def test_kill_inside_a_rollback_activity_then_recover(workdir: Path) -> None:
    """SIGKILL while chaoslib plays a rollback activity (its row `running`): recovery
    replays the experiment's rollbacks — the activity's own row is no undo of its own
    (playing it as one failed: 'no provider action') — and the run ends `crashed`."""
    from tests.clihelp import spawn
    from tests.e2e.test_stop_feedback import wait_for_file

    marker, here, release = workdir / "marker", workdir / "here", workdir / "release"
    text = experiment(marker).replace(
        "rollbacks:\n",
        f"""rollbacks:
  - type: action
    name: slow-undo
    provider: {{type: python, module: tests.faults, func: hold_until,
               arguments: {{path: "{here}", release: "{release}"}}}}
""",
    )
    exp = write(workdir, "exp.yaml", text)
    proc = spawn(workdir, "run", str(exp))
    try:
        wait_for_file(proc, here)
        proc.kill()
    finally:
        proc.wait()
    (entry,) = runs(workdir)
    run_id = str(entry["run_id"])
    release.touch()
    rec = drill(workdir, "recover")
    assert rec.code == 0, rec.err
    assert "FAILED" not in rec.err, rec.err
    assert not marker.exists() and played(marker) == 1
    shown = show(workdir, run_id)
    assert shown["status"] == "crashed", shown
    steps = shown["steps"]
    assert isinstance(steps, list)
    undo = [s for s in steps if s["name"] == "experiment rollbacks"]
    assert [s["status"] for s in undo] == ["succeeded"], undo
    slow = [s["status"] for s in steps if s["name"] == "slow-undo"]
    assert slow[0] == "failed" and slow[1:] == ["succeeded"], steps
    assert drill(workdir, "evidence", "verify").code == 0


def _targeted(cwd: Path) -> tuple[Path, Path]:
    """An experiment whose fault and rollback act on ``${target}``: the var file
    ``vars.yaml`` says which (``marker``), the experiment's default is ``elsewhere``.
    Killed after the fault; returns (marker, elsewhere)."""
    marker, elsewhere = cwd / "marker", cwd / "elsewhere"
    elsewhere.write_text("a file the run never touched\n")
    write(cwd, "vars.yaml", json.dumps({"configuration": {"target": str(marker)}}))
    faults = {"type": "python", "module": "tests.faults"}
    touch = {**faults, "func": "touch", "arguments": {"path": "${target}"}}
    remove = {**faults, "func": "remove", "arguments": {"path": "${target}"}}
    doc = {
        "title": "a fault on the var file's target",
        "description": "its rollback removes it",
        "configuration": {"target": str(elsewhere)},
        "method": [{"type": "action", "name": "touch", "provider": touch}],
        "rollbacks": [{"type": "action", "name": "remove", "provider": remove}],
    }
    write(cwd, "exp.yaml", json.dumps(doc))
    point = "step:exp:1:end"
    res = drill(cwd, "run", "exp.yaml", "--var-file", "vars.yaml", crash=point)
    hooked(res, point)
    assert res.code == -signal.SIGKILL and marker.exists(), res.err
    (cwd / "drill.yaml").write_text("environments: {}\n")  # a recovery from elsewhere finds it
    return marker, elsewhere


def test_recovery_from_another_directory_reads_the_runs_var_file(workdir: Path) -> None:
    """The --var-file was recorded as given (`vars.yaml`) and re-read by the recovery
    from its own working directory: a `drill --config DIR/drill.yaml recover` from
    elsewhere (cron, the scheduler service) found no such file, chaoslib only logged it,
    and the rollback undid the experiment's default target — a file the run never
    touched — said 'ok' and closed the run `crashed`, the real fault left in place."""
    marker, elsewhere = _targeted(workdir)
    away = workdir / "away"
    away.mkdir()
    rec = drill(away, "--config", str(workdir / "drill.yaml"), "recover")
    assert rec.code == 0, rec.err
    assert not marker.exists() and played(marker) == 1, rec.err
    assert elsewhere.exists() and played(elsewhere) == 0, "the default target was undone"
    assert runs(workdir)[0]["status"] == "crashed"


def test_recovery_whose_var_file_is_gone_plays_nothing(workdir: Path) -> None:
    """Without its var file, the rollbacks would act on the experiment's defaults, not on
    what the run changed: they are not played; the run ends `rollback_failed`."""
    marker, elsewhere = _targeted(workdir)
    (workdir / "vars.yaml").unlink()
    rec = drill(workdir, "recover")
    assert rec.code == 1, rec.err
    assert marker.exists() and elsewhere.exists() and played(elsewhere) == 0, rec.err
    (entry,) = runs(workdir)
    assert entry["status"] == "rollback_failed"
    steps = show(workdir, str(entry["run_id"]))["steps"]
    (failed,) = [s for s in steps if s["status"] == "failed"]  # type: ignore[attr-defined]
    assert "vars.yaml" in failed["error"] and "not played" in failed["error"], failed
