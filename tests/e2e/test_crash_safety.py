"""Crash safety (DESIGN "Crash safety (Contract)") with real processes, no lab needed.

drill stops itself at a named point through its test hook (``DRILL_TEST_CRASH_AT``,
orchestrator/testhooks.py): SIGKILL, SIGINT, SIGTERM or an exception that is not
drill's own. The fault is a marker file a python activity leaves behind and its
rollback removes (appending one line to ``marker.rolled-back`` per play), so each test
sees on disk whether, and how often, a rollback really ran. The moment is picked by the
hook, never by a sleep. The lab-wide suite (quarterly-dr) is test_crash_lab.py.
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.clihelp import Result, run, spawn
from tests.e2e.defs import activity, runbook, write

pytestmark = pytest.mark.slow

HOOK = "DRILL_TEST_CRASH_AT"


def drill(cwd: Path, *args: str, crash: str | None = None, timeout: float = 120) -> Result:
    return run(cwd, *args, timeout=timeout, env={HOOK: crash} if crash else None)


def hooked(result: Result, point: str) -> None:
    """The hook really fired at ``point`` (a test whose point is never reached fails)."""
    assert "drill: test hook: " in result.err and f" at {point}" in result.err, result.err


def runs(cwd: Path) -> list[dict[str, object]]:
    listed = drill(cwd, "runs", "list", "--json")
    assert listed.code == 0, listed.err
    docs: list[dict[str, object]] = json.loads(listed.out)
    return docs


def show(cwd: Path, run_id: str) -> dict[str, object]:
    shown = drill(cwd, "runs", "show", run_id, "--json")
    assert shown.code == 0, shown.err
    doc: dict[str, object] = json.loads(shown.out)
    return doc


def plays(marker: Path) -> int:
    done = marker.with_name(marker.name + ".rolled-back")
    return len(done.read_text().splitlines()) if done.exists() else 0


def two_scenarios(cwd: Path) -> tuple[Path, Path]:
    """A drill of two marker runbooks; returns the two markers."""
    first, second = cwd / "first", cwd / "second"
    write(cwd, "runbooks/first.yaml", runbook(first, rb_id="first"))
    write(cwd, "runbooks/second.yaml", runbook(second, rb_id="second"))
    write(
        cwd,
        "drills/two.yaml",
        "id: two\ntitle: two scenarios\nstop_policy: continue\n"
        "scenarios:\n  - runbook: first\n  - runbook: second\n",
    )
    return first, second


def killed_run(cwd: Path, marker: Path, point: str = "step:marker-runbook:1:end") -> str:
    rb = write(cwd, "runbooks/hold.yaml", runbook(marker))
    res = drill(cwd, "run", str(rb), "--json", crash=point)
    assert res.code == -signal.SIGKILL, res.err
    hooked(res, point)
    (entry,) = runs(cwd)
    assert entry["status"] == "running"
    return str(entry["run_id"])


def _quarter() -> str:
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    return f"{now.year}-Q{(now.month - 1) // 3 + 1}"


def test_serve_warns_once_when_it_starts(workdir: Path) -> None:
    """`drill serve` is a read command too: the warning comes before it serves."""
    marker = workdir / "marker"
    run_id = killed_run(workdir, marker)
    proc = spawn(workdir, "serve", "--port", "0")
    assert proc.stderr is not None
    try:
        lines = []
        while not lines or "drill dashboard on" not in lines[-1]:
            line = proc.stderr.readline()
            assert line, "".join(lines)
            lines.append(line)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
    warnings = [ln for ln in lines if "awaits recovery" in ln]
    assert len(warnings) == 1 and run_id in warnings[0], lines
    assert marker.exists() and plays(marker) == 0


def test_read_commands_warn_and_never_play_rollbacks(workdir: Path) -> None:
    marker = workdir / "marker"
    run_id = killed_run(workdir, marker)
    assert marker.exists()
    rb = str(workdir / "runbooks" / "hold.yaml")
    for args in (
        ["runs", "list"],
        ["runs", "show", run_id],
        ["status"],
        ["findings", "list"],
        ["evidence", "verify"],
        ["evidence", "export", "--period", _quarter(), "--out", "e.zip"],
        ["evidence", "verify", "e.zip"],  # the bundle, not the store: still a warning
        ["report", run_id, "--html", "--out", "r.html"],
        ["list"],
        ["validate", rb],
        ["plan", rb],
        ["lab", "status"],
    ):
        res = drill(workdir, *args)
        assert res.code == 0, (args, res.err)
        warnings = [ln for ln in res.err.splitlines() if "awaits recovery" in ln]
        assert len(warnings) == 1 and run_id in warnings[0], (args, res.err)
        assert marker.exists() and plays(marker) == 0, f"{args} played a rollback"
    assert runs(workdir)[0]["status"] == "running"

    rec = drill(workdir, "recover")
    assert rec.code == 0, rec.err
    assert not marker.exists() and plays(marker) == 1
    doc = show(workdir, run_id)
    assert doc["status"] == "crashed"
    assert any(f["kind"] == "run_crashed" for f in doc["findings"])  # type: ignore[attr-defined]
    again = drill(workdir, "recover")
    assert again.code == 0 and "no run awaits recovery" in again.err
    assert "awaits recovery" not in drill(workdir, "runs", "list").err


def test_a_crashed_run_keeps_when_its_fault_was_injected(workdir: Path) -> None:
    """Killed with its fault in place, then recovered: the run's timeline held
    mark.fault_injected, but its scenario said fault_injected_at null — its report and
    bundle 'Fault injected: —' of a fault a rollback later undid — because the scenario's
    row took the mark only when the scenario ended, which a killed drill never reaches."""
    marker = workdir / "marker"
    rb = write(
        workdir,
        "runbooks/marked.yaml",
        "id: marked\ntitle: a marked fault\nscenario: marked\nsteps:\n"
        "  - name: inject the fault\n    kind: action\n    mark: fault_injected\n"
        f"    activity: {activity('touch', path=str(marker))}\n"
        "rollback:\n  - name: remove the marker\n    kind: action\n"
        f"    activity: {activity('remove', path=str(marker))}\n",
    )
    point = "step:marked:1:end"
    res = drill(workdir, "run", str(rb), crash=point)
    assert res.code == -signal.SIGKILL, res.err
    hooked(res, point)
    assert marker.exists()
    (entry,) = runs(workdir)
    assert drill(workdir, "recover").code == 0 and not marker.exists()
    doc = show(workdir, str(entry["run_id"]))
    (mark,) = [e for e in doc["timeline"] if e["kind"] == "mark.fault_injected"]  # type: ignore[attr-defined]
    (scenario,) = doc["scenarios"]  # type: ignore[misc]
    assert doc["status"] == "crashed" and scenario["met"] is None, doc
    assert scenario["fault_injected_at"] == mark["at"], (scenario, mark)


def test_rollback_in_flight_is_replayed(workdir: Path) -> None:
    """Killed after the undo started (row `running`): recovery plays it again."""
    marker = workdir / "marker"
    rb = write(workdir, "runbooks/hold.yaml", runbook(marker))
    point = "rollback:activity:end"  # the undo ran, drill died before recording it
    res = drill(workdir, "run", str(rb), crash=point)
    assert res.code == -signal.SIGKILL
    hooked(res, point)
    assert plays(marker) == 1
    (entry,) = runs(workdir)
    undo = [
        s
        for s in show(workdir, str(entry["run_id"]))["steps"]  # type: ignore[attr-defined]
        if s["phase"] == "rollback"
    ]
    assert [s["status"] for s in undo] == ["running"]

    rec = drill(workdir, "recover", "--env", "lab")
    assert rec.code == 0, rec.err
    assert "in flight" in rec.err
    assert plays(marker) == 2, "the in-flight rollback must be replayed"
    doc = show(workdir, str(entry["run_id"]))
    assert doc["status"] == "crashed"
    assert [s["status"] for s in doc["steps"] if s["phase"] == "rollback"] == [  # type: ignore[attr-defined]
        "succeeded"
    ]


def test_failing_rollback_during_recovery_is_rollback_failed(workdir: Path) -> None:
    marker = workdir / "marker"
    run_id = killed_run(workdir, marker)
    res = drill(workdir, "recover", crash="rollback:activity:start=raise")
    hooked(res, "rollback:activity:start")
    assert res.code == 1, res.err
    doc = show(workdir, run_id)
    assert doc["status"] == "rollback_failed"
    kinds = {(f["kind"], f["severity"]) for f in doc["findings"]}  # type: ignore[attr-defined]
    assert ("rollback_failed", "critical") in kinds


def test_next_run_recovers_its_environment_first(workdir: Path) -> None:
    marker = workdir / "marker"
    run_id = killed_run(workdir, marker)
    rb = workdir / "runbooks" / "hold.yaml"
    res = drill(workdir, "run", str(rb), "--json")
    assert res.code == 0, res.err
    assert f"recovering run {run_id}" in res.err
    assert json.loads(res.out)["status"] == "succeeded"
    assert show(workdir, run_id)["status"] == "crashed"
    assert plays(marker) == 2  # the orphan's undo, then the new run's own


@pytest.mark.parametrize("sig", ["kill", "int"])
def test_stop_during_recovery(workdir: Path, sig: str) -> None:
    marker = workdir / "marker"
    run_id = killed_run(workdir, marker)
    point = "recovery:start" if sig == "int" else "rollback:activity:start"
    res = drill(workdir, "recover", crash=f"{point}={sig}")
    hooked(res, point)
    if sig == "int":  # nothing new starts: the rollback stays pending, exit 3
        assert res.code == 3, res.err
        assert "drill recover" in res.err
        assert marker.exists()
        # it said "the rollback in progress finished", of a rollback that never started
        assert "before its first rollback, none was played" in res.err, res.err
    else:
        assert res.code == -signal.SIGKILL
    assert show(workdir, run_id)["status"] == "running"
    rec = drill(workdir, "recover")
    assert rec.code == 0, rec.err
    assert not marker.exists() and show(workdir, run_id)["status"] == "crashed"


def test_internal_error_is_a_failed_step_with_rollbacks(workdir: Path) -> None:
    marker = workdir / "marker"
    rb = write(workdir, "runbooks/hold.yaml", runbook(marker, wait_s=1))
    point = "step:marker-runbook:2:start"
    res = drill(workdir, "run", str(rb), "--json", crash=f"{point}=raise")
    hooked(res, point)
    assert res.code == 1, res.err
    doc = json.loads(res.out)
    assert doc["status"] == "failed"
    assert "internal error: InjectedFault" in (doc["error"] or "")
    assert not marker.exists() and plays(marker) == 1, "rollbacks must run"
    shown = show(workdir, doc["run_id"])
    assert [f["kind"] for f in shown["findings"]] == ["internal_error"]  # type: ignore[attr-defined]
    assert "awaits recovery" not in drill(workdir, "runs", "list").err


@pytest.mark.parametrize("sig", ["int", "term"])
def test_stop_during_rollbacks_starts_nothing_new(workdir: Path, sig: str) -> None:
    first, second = two_scenarios(workdir)
    point = "rollback:activity:start"
    res = drill(workdir, "run", "two", "--json", crash=f"{point}={sig}")
    hooked(res, point)
    assert res.code == 3, res.err
    doc = json.loads(res.out)
    assert doc["status"] == "aborted"
    assert f"SIG{sig.upper()}" in (doc["error"] or "")
    assert plays(first) == 1 and not first.exists(), "the rollback in progress completes"
    assert not second.exists() and plays(second) == 0, "the next scenario must not start"
    assert [s["id"] for s in doc["scenarios"]] == ["first"]


def test_recovery_in_progress_refuses_a_run_with_the_right_reason(workdir: Path) -> None:
    marker, here, release = workdir / "marker", workdir / "here", workdir / "release"
    undo = (
        f"{{type: action, name: hold, provider: {{type: python, module: tests.faults, "
        f'func: hold_until, arguments: {{path: "{here}", release: "{release}"}}}}}}'
    )
    text = runbook(marker).rsplit("rollback:", 1)[0] + (
        f"rollback:\n  - name: slow undo\n    kind: action\n    activity: {undo}\n"
    )
    rb = write(workdir, "runbooks/hold.yaml", text)
    res = drill(workdir, "run", str(rb), crash="step:marker-runbook:1:end")
    assert res.code == -signal.SIGKILL
    recovering = spawn(workdir, "recover")
    try:
        while not here.exists():  # polling for the hold, not picking a moment
            assert recovering.poll() is None, recovering.communicate()
            time.sleep(0.02)
        refused = drill(workdir, "run", str(rb))
        assert refused.code == 2
        assert "is being recovered by pid" in refused.err and "(pid None)" not in refused.err
        assert "drill abort" not in refused.err
        # a second recovery leaves it to the first, and says so once: it read
        # "environment 'lab': environment 'lab' is being recovered by …"
        other = drill(workdir, "recover")
        assert other.code == 0 and plays(marker) == 0, other.err
        said = " ".join(other.err.split())
        assert "environment 'lab' is being recovered by pid" in said, said
        assert said.count("environment 'lab'") == 1, said
    finally:
        release.write_text("go\n")
        recovering.communicate(timeout=60)
    assert recovering.returncode == 0


def test_scheduler_service_recovers_on_start(workdir: Path) -> None:
    marker = workdir / "marker"
    run_id = killed_run(workdir, marker)
    service = spawn(workdir, "scheduler", "run", "--poll", "0.2")
    try:
        end = time.monotonic() + 120  # bounds a hang; no moment is picked
        while marker.exists():
            assert service.poll() is None, service.communicate()
            assert time.monotonic() < end, "the service never recovered the orphaned run"
            time.sleep(0.05)
    finally:
        service.send_signal(signal.SIGTERM)
        try:
            _out, err = service.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            service.kill()  # never leave a scheduler behind, even when the test fails
            service.communicate()
            raise
    assert f"recovered run {run_id}" in err, err
    assert show(workdir, run_id)["status"] == "crashed"


def test_lab_up_is_refused_while_a_run_holds_the_lab(workdir: Path) -> None:
    """`lab up` repairs what it finds wrong: during a drill, that would undo its faults."""
    marker, here, release = workdir / "marker", workdir / "here", workdir / "release"
    hold = (
        f"{{type: action, name: hold, provider: {{type: python, module: tests.faults, "
        f'func: hold_until, arguments: {{path: "{here}", release: "{release}"}}}}}}'
    )
    text = runbook(marker).replace(
        "rollback:",
        f"""  - name: hold
    kind: action
    activity: {hold}
rollback:""",
        1,
    )
    rb = write(workdir, "runbooks/hold.yaml", text)
    running = spawn(workdir, "run", str(rb))
    try:
        while not here.exists():  # polling for the hold, not picking a moment
            assert running.poll() is None, running.communicate()
            time.sleep(0.02)
        for cmd in ("up", "reset", "down"):  # each would pull the lab from under the run
            res = drill(workdir, "lab", cmd)
            assert res.code == 2 and "is already in use by run r-" in res.err, (cmd, res.err)
    finally:
        release.write_text("go\n")
        running.communicate(timeout=60)
    assert running.returncode == 0


SHARED_LAB = "environments:\n  lab: {provider: lab}\n  lab-b: {provider: lab}\n"


def test_environments_on_one_lab_share_the_run_lock(workdir: Path) -> None:
    """`lab`, `lab-aws` (and any `provider: lab`) drive one lab: one drill at a time.

    Each environment had its own lock: a run on lab-aws started while one ran on lab,
    and both injected faults into the same PostgreSQL servers."""
    write(workdir, "drill.yaml", SHARED_LAB)
    marker, here, release = workdir / "marker", workdir / "here", workdir / "release"
    hold = (
        f"{{type: action, name: hold, provider: {{type: python, module: tests.faults, "
        f'func: hold_until, arguments: {{path: "{here}", release: "{release}"}}}}}}'
    )
    text = runbook(marker).replace(
        "rollback:", f"  - name: hold\n    kind: action\n    activity: {hold}\nrollback:", 1
    )
    rb = write(workdir, "runbooks/hold.yaml", text)
    other = write(workdir, "runbooks/other.yaml", runbook(workdir / "other", rb_id="other"))
    running = spawn(workdir, "run", str(rb), "--env", "lab")
    try:
        while not here.exists():  # polling for the hold, not picking a moment
            assert running.poll() is None, running.communicate()
            time.sleep(0.02)
        refused = drill(workdir, "run", str(other), "--env", "lab-b", "--json")
        assert (refused.code, refused.out) == (2, ""), refused.err
        assert "is already in use by run r-" in refused.err
        assert "on 'lab', the same lab" in refused.err
    finally:
        release.write_text("go\n")
        running.communicate(timeout=60)
    assert running.returncode == 0


def test_a_run_recovers_what_a_dead_run_left_on_the_same_lab(workdir: Path) -> None:
    write(workdir, "drill.yaml", SHARED_LAB)
    marker = workdir / "marker"
    run_id = killed_run(workdir, marker)  # on `lab`
    other = write(workdir, "runbooks/other.yaml", runbook(workdir / "other", rb_id="other"))
    res = drill(workdir, "run", str(other), "--env", "lab-b", "--json")
    assert res.code == 0, res.err
    assert f"recovering run {run_id} on lab" in res.err
    assert not marker.exists() and plays(marker) == 1
    assert show(workdir, run_id)["status"] == "crashed"


def test_abort_of_a_dead_run_signals_nobody_and_says_recover(workdir: Path) -> None:
    """The dead drill's pid may belong to another process by now: no SIGTERM to it."""
    marker = workdir / "marker"
    run_id = killed_run(workdir, marker)
    res = drill(workdir, "abort", run_id)
    assert res.code == 0, res.err
    assert "sent SIGTERM" not in res.err and "rollbacks will run" not in res.err, res.err
    assert f"abort recorded for {run_id}: its drill process is gone" in res.err
    assert plays(marker) == 0  # recovery, not abort, plays the undo
    rec = drill(workdir, "recover")
    assert rec.code == 0 and plays(marker) == 1, rec.err


@pytest.mark.parametrize("how", ["recover", "run"])
def test_a_rollback_closing_stdout_and_stderr_does_not_end_the_recovery(
    workdir: Path, how: str
) -> None:
    """A rollback activity that closed file descriptors 1 and 2 (a library that
    daemonizes) made every later write of drill fail (EBADF): `drill recover` died
    after it — no document, the run left awaiting recovery, the next rollback unplayed —
    and `drill run` ended exit 1. They are reopened on /dev/null after each activity."""
    from tests.e2e.defs import activity

    marker = workdir / "marker"
    closer = activity("close_std")
    text = runbook(marker).replace(
        "rollback:\n",
        f"rollback:\n  - name: a library daemonizes\n    kind: action\n    activity: {closer}\n",
        1,
    )
    rb = write(workdir, "runbooks/hold.yaml", text)
    if how == "run":
        res = drill(workdir, "run", str(rb))
        assert res.code == 0, res.err
    else:
        res = drill(workdir, "run", str(rb), crash="step:marker-runbook:1:end")
        assert res.code == -signal.SIGKILL, res.err
        res = drill(workdir, "recover", "--json")
        assert res.code == 0, res.err
        (entry,) = json.loads(res.out)["recovered"]
        assert entry["status"] == "crashed"
    assert not marker.exists() and plays(marker) == 1, "the next rollback ran"
    assert "awaits recovery" not in drill(workdir, "runs", "list").err


@pytest.mark.parametrize("kind", ["runbook", "experiment"])
def test_an_activity_replacing_sys_stdout_does_not_silence_drill(workdir: Path, kind: str) -> None:
    """A python activity that replaced sys.stdout and sys.stderr (a library silencing
    its output) had drill print the rest of the run there: the rollbacks' progress and
    the summary table were gone."""
    from tests.e2e.defs import activity, experiment

    marker = workdir / "marker"
    silence = activity("silence")
    if kind == "runbook":
        text = runbook(marker).replace(
            "rollback:\n",
            f"  - name: a library silences itself\n    kind: action\n    activity: {silence}\n"
            "rollback:\n",
            1,
        )
        target = write(workdir, "runbooks/quiet.yaml", text)
    else:
        text = experiment(marker).replace("\nrollbacks:\n", f"\n  - {silence}\nrollbacks:\n")
        target = write(workdir, "exp.yaml", text)
    res = drill(workdir, "run", str(target))
    assert res.code == 0, res.err
    assert not marker.exists() and plays(marker) == 1
    assert "succeeded" in res.out, "the summary table"
    assert "rollback" in res.err and "remove" in res.err, res.err


def test_a_copy_of_drill_an_activity_forked_does_not_run_on(workdir: Path) -> None:
    """An experiment's activity that forked without exec (chaoslib runs it in drill's
    own thread) left a second drill running the rest of the experiment: its rollbacks
    played twice, two documents on stdout, the run's end recorded twice."""
    from tests.e2e.defs import activity, experiment

    marker = workdir / "marker"
    text = experiment(marker).replace("\nrollbacks:\n", f"\n  - {activity('fork')}\nrollbacks:\n")
    exp = write(workdir, "exp.yaml", text)
    res = drill(workdir, "run", str(exp), "--json")
    assert res.code == 0, res.err
    assert json.loads(res.out)["status"] == "succeeded", "one document"
    assert not marker.exists() and plays(marker) == 1, "rollbacks played once"
    assert "could not be recorded" not in res.err, res.err


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_a_worker_an_activity_left_running_does_not_hold_the_dead_runs_lock(
    workdir: Path, store: str, request: pytest.FixtureRequest
) -> None:
    """A step's python activity started a background worker (multiprocessing, forked
    without exec) and drill was then killed: the worker shared the run lock's open file,
    so the run never awaited recovery while it lived — read commands said nothing, `drill
    recover` "nothing recovered: what is still running is a live drill's", `drill run`
    "already in use by run …", and `drill abort` "its process is gone; `drill recover`
    plays its rollbacks": the fault stayed with no way to undo it."""
    import os

    from tests.e2e.defs import activity

    if store == "postgres":  # the lock is the session's: the worker shared its socket
        write(workdir, "drill.yaml", f"database: {request.getfixturevalue('pg_dsn')}\n")
    marker, pidfile = workdir / "marker", workdir / "worker.pid"
    text = runbook(marker, wait_s=60).replace(
        "  - name: hold the fault\n",
        f"  - name: start a load generator\n    kind: action\n"
        f"    activity: {activity('start_worker', pidfile=str(pidfile))}\n"
        "  - name: hold the fault\n",
    )
    rb = write(workdir, "runbooks/hold.yaml", text)
    point = "step:marker-runbook:3:start"
    try:
        res = drill(workdir, "run", str(rb), crash=point)
        assert res.code == -signal.SIGKILL, res.err
        hooked(res, point)
        worker = int(pidfile.read_text())
        os.kill(worker, 0)  # the worker lives on
        (entry,) = runs(workdir)
        assert "awaits recovery" in drill(workdir, "runs", "list").err
        rec = drill(workdir, "recover")
        assert rec.code == 0, rec.err
        assert not marker.exists() and plays(marker) == 1, rec.err
        assert show(workdir, str(entry["run_id"]))["status"] == "crashed"
    finally:
        if pidfile.exists():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pidfile.read_text()), signal.SIGKILL)


def test_recovery_from_another_directory_undoes_what_the_run_changed(workdir: Path) -> None:
    """A rollback whose python activity names a relative path (`path: marker`) was played
    by a `drill --config DIR/drill.yaml recover` from elsewhere (cron, the scheduler
    service) in that other directory: it removed a file of the same name there, said
    'ok', and left the run's own fault in place. The undo now runs in the directory the
    run ran in, as it would have in the run itself."""
    write(workdir, "drill.yaml", "environments: {lab: {provider: lab}}\n")
    rb = write(workdir, "runbooks/rel.yaml", runbook(Path("marker"), rb_id="rel"))
    res = drill(workdir, "run", str(rb), crash="step:rel:1:end")
    assert res.code == -signal.SIGKILL, res.err
    marker = workdir / "marker"
    assert marker.exists()
    away = workdir / "away"
    away.mkdir()
    decoy = away / "marker"
    decoy.write_text("not the run's\n")
    rec = drill(away, "--config", str(workdir / "drill.yaml"), "recover")
    assert rec.code == 0, rec.err
    assert decoy.exists() and plays(decoy) == 0, "the undo acted on the recovering directory"
    assert not marker.exists() and plays(marker) == 1, rec.err
    assert runs(workdir)[0]["status"] == "crashed"


def test_recovery_whose_run_directory_is_gone_plays_nothing(workdir: Path) -> None:
    """Its relative paths would resolve in the recovering directory: not played, said,
    the run `rollback_failed` (as a var file that is gone, test_crash_experiment.py)."""
    run_dir = workdir / "run"
    run_dir.mkdir()
    write(workdir, "drill.yaml", "environments: {lab: {provider: lab}}\n")
    rb = write(workdir, "runbooks/rel.yaml", runbook(Path("marker"), rb_id="rel"))
    cfg = str(workdir / "drill.yaml")
    res = drill(run_dir, "--config", cfg, "run", str(rb), crash="step:rel:1:end")
    assert res.code == -signal.SIGKILL, res.err
    (run_dir / "marker").unlink()
    run_dir.rmdir()
    decoy = workdir / "marker"
    decoy.write_text("not the run's\n")
    rec = drill(workdir, "--config", cfg, "recover")
    assert rec.code == 1, rec.err
    assert decoy.exists() and plays(decoy) == 0, rec.err
    assert "not played" in rec.err and str(run_dir) in rec.err, rec.err
    assert runs(workdir)[0]["status"] == "rollback_failed"
