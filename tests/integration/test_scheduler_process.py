"""A real `drill scheduler run` process fires an --every 5s schedule of a real experiment.

Test-local project: drill.yaml pointing the evidence DB at a temp SQLite file and a
plain Chaos Toolkit experiment with python probes. Runs are real `drill run` child
processes; the health endpoint is a real HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import itertools
import json
import re
import signal
import urllib.request
from pathlib import Path

import pytest
from sqlmodel import select

from orchestrator.evidence.store import EvidenceStore
from orchestrator.schedule.models import SchedulerInstance
from orchestrator.schedule.records import ScheduleFire
from tests.clihelp import drill, run, spawn
from tests.unit.test_schedule_support import make_project, wait_for

pytestmark = pytest.mark.slow


def test_every_5s_fires_real_runs_and_sigterm_stops_cleanly(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tmp_path = workdir
    make_project(tmp_path, database=f"sqlite:///{tmp_path}/evidence.db")
    added = drill(capsys, "schedule", "add", "tiny", "--env", "lab", "--every", "5s", "--json")
    assert added.code == 0, added.err
    sid = json.loads(added.out)["id"]
    proc = spawn(tmp_path, "scheduler", "run", "--poll", "1", "--health-port", "0")
    try:
        store = EvidenceStore(f"sqlite:///{tmp_path}/evidence.db", migrate=False)

        def started() -> bool:
            with store.session() as s:
                return s.exec(select(SchedulerInstance.id)).first() is not None

        wait_for(started, timeout=60, what="the scheduler to start")

        def launched() -> int:
            return len(
                store.db.query(
                    "SELECT id FROM schedule_fire WHERE schedule_id = ? AND status IN "
                    "('running', 'succeeded', 'failed')",
                    (sid,),
                )
            )

        def scheduled_runs(status: str) -> int:
            return len(
                store.db.query(
                    "SELECT id FROM run WHERE trigger = ? AND status = ?", ("schedule", status)
                )
            )

        # the schedule fired (launching a real `drill run`) twice — a fire due while the
        # previous run of the schedule is still going is skipped and recorded, so on a
        # loaded machine the second launch may be the third fire ...
        try:
            wait_for(lambda: launched() >= 2, timeout=60, what="two launching fires")
        except AssertionError:
            proc.send_signal(signal.SIGTERM)
            raise AssertionError(proc.communicate(timeout=60)[1]) from None
        # ... each at its due time on the 5 s grid (the cadence, read from the fires
        # recorded, not from this machine's speed) ...
        due = sorted(
            store.db.records(ScheduleFire, "schedule_id = ?", (sid,)),
            key=lambda f: f.scheduled_at,
        )
        gaps = [
            (b.scheduled_at - a.scheduled_at).total_seconds() for a, b in itertools.pairwise(due)
        ]
        assert gaps and all(g > 0 and g % 5 == 0 for g in gaps), gaps
        # ... and both runs finished successfully
        wait_for(
            lambda: scheduled_runs("succeeded") >= 2,
            timeout=40,
            what="two scheduled runs succeeded",
        )
        res = drill(capsys, "runs", "list", "--json")
        assert res.code == 0, res.err
        runs = [r for r in json.loads(res.out) if r["trigger"] == "schedule"]
        assert len([r for r in runs if r["status"] == "succeeded"]) >= 2
        assert {r["drill"] for r in runs} == {"tiny"} and {r["env"] for r in runs} == {"lab"}
        status = json.loads(drill(capsys, "scheduler", "status", "--json").out)
        assert status["running"] is True
        health_url = status["instances"][0]["health_url"]
        assert re.match(r"^http://127\.0\.0\.1:\d+/health$", health_url or "")
        with urllib.request.urlopen(health_url, timeout=5) as resp:
            health = json.loads(resp.read())
        assert health["status"] == "ok" and health["jobs"] == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "SIGTERM received" in err and "stopped after" in err
    listed = json.loads(drill(capsys, "runs", "list", "--json").out)
    assert all(r["status"] != "running" for r in listed)  # nothing abandoned
    status = json.loads(drill(capsys, "scheduler", "status", "--json").out)
    assert status["running"] is False and status["instances"][0]["state"] == "stopped"
    fires = [f for f in status["recent_fires"] if f["schedule_id"] == sid]
    ran = {f["run_id"] for f in fires if f["status"] == "succeeded"}
    # every scheduled run was started by a recorded fire; a drill caught by SIGTERM
    # was rolled back (aborted), never left running
    scheduled = [r for r in listed if r["trigger"] == "schedule"]
    assert {r["run_id"] for r in scheduled} <= {f["run_id"] for f in fires}
    assert {r["status"] for r in scheduled} <= {"succeeded", "aborted"}
    shown = json.loads(drill(capsys, "runs", "show", next(iter(ran)), "--json").out)
    assert shown["trigger"] == "schedule"
    verify = drill(capsys, "evidence", "verify")
    assert verify.code == 0, verify.err


SLOW = """\
title: slow
description: a method that waits a minute, and a rollback
steady-state-hypothesis:
  title: the file system answers
  probes:
    - {type: probe, name: tmp-is-a-directory, tolerance: true,
       provider: {type: python, module: os.path, func: isdir, arguments: {s: /tmp}}}
method:
  - {type: action, name: wait-a-minute, pauses: {after: 60},
     provider: {type: python, module: os.path, func: isdir, arguments: {s: /}}}
rollbacks:
  - {type: action, name: undo, provider: {type: python, module: os.path, func: isdir,
     arguments: {s: /}}}
"""


def test_sigterm_during_a_scheduled_run_aborts_it_and_interrupts_the_fire(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A service stopped by its supervisor is not a failed drill: the run is aborted with
    its rollbacks played (as `drill run` on SIGTERM), the fire is ``interrupted``, and
    no "scheduled run failed" finding is filed."""
    make_project(workdir, database=f"sqlite:///{workdir}/evidence.db")
    (workdir / "experiments" / "slow.yaml").write_text(SLOW)
    added = drill(capsys, "schedule", "add", "slow", "--env", "lab", "--at", "+1s", "--json")
    assert added.code == 0, added.err
    sid = json.loads(added.out)["id"]
    proc = spawn(workdir, "scheduler", "run", "--poll", "0.5")
    store = EvidenceStore(f"sqlite:///{workdir}/evidence.db", migrate=False)
    try:
        wait_for(
            # its action recorded, the run sits in the minute's pause after it
            lambda: (
                store.db.query("SELECT id FROM step_run WHERE name = ?", ("wait-a-minute",))
                or store.db.query("SELECT id FROM run WHERE status != ?", ("running",))
            ),
            timeout=60,
            what="the scheduled run to be in its pause",
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    (run,) = json.loads(drill(capsys, "runs", "list", "--json").out)
    shown = json.loads(drill(capsys, "runs", "show", run["run_id"], "--json").out)
    assert (shown["status"], shown["exit_code"], shown["trigger"]) == ("aborted", 3, "schedule")
    rollbacks = [s for s in shown["steps"] if s["phase"] == "rollback"]
    assert rollbacks and all(s["status"] == "succeeded" for s in rollbacks)
    assert all(s["started_at"] and s["ended_at"] for s in rollbacks)  # when they ran
    status = json.loads(drill(capsys, "scheduler", "status", "--json").out)
    (fire,) = [f for f in status["recent_fires"] if f["schedule_id"] == sid]
    assert (fire["status"], fire["run_id"]) == ("interrupted", run["run_id"])
    assert "SIGTERM" in fire["reason"]
    findings = json.loads(drill(capsys, "findings", "list", "--json").out)
    assert [f for f in findings if f["kind"] == "scheduled_run_failed"] == []
    assert shown["findings"] == []


def test_a_health_port_in_use_is_a_clear_usage_error(workdir: Path) -> None:
    """Another process holds the port: exit 2 with what to change, before the service
    does anything (it was "internal error … this is a bug in drill", exit 1, after the
    start-up recovery had run)."""
    import socket

    make_project(workdir, database=f"sqlite:///{workdir}/evidence.db")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        res = run(workdir, "scheduler", "run", "--health-port", str(port))
    assert res.code == 2, res.err
    assert f"--health-port: cannot listen on 127.0.0.1:{port}" in res.err
    assert "bug" not in res.err and "Traceback" not in res.err
    store = EvidenceStore(f"sqlite:///{workdir}/evidence.db")
    with store.session() as s:
        assert s.exec(select(SchedulerInstance.id)).first() is None


def test_health_port_metrics_explain_a_store_migrated_or_altered_under_it(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`drill scheduler run --health-port`'s /metrics on a store whose schema changed
    under it — a newer drill migrated it, or a column was renamed outside drill — said
    'metrics unavailable: OperationalError: no such column: status'. It now says what the
    dashboard says (EvidenceDB.explain): tables changed outside drill (500, verify), or
    a revision this drill does not know (503, open it with the newer drill)."""
    import sqlite3
    import urllib.error

    make_project(workdir, database=f"sqlite:///{workdir}/evidence.db")
    assert drill(capsys, "schedule", "add", "tiny", "--env", "lab", "--every", "1h").code == 0
    proc = spawn(workdir, "scheduler", "run", "--poll", "1", "--health-port", "0")
    conn = sqlite3.connect(workdir / "evidence.db", isolation_level=None)
    try:

        def health_url() -> str | None:
            doc = json.loads(drill(capsys, "scheduler", "status", "--json").out)
            return next((i["health_url"] for i in doc["instances"] if i["health_url"]), None)

        metrics_url = wait_for(health_url, timeout=60, what="the health port").replace(
            "/health", "/metrics"
        )

        def scrape() -> tuple[int, str]:
            try:
                with urllib.request.urlopen(metrics_url, timeout=30) as resp:
                    return resp.status, resp.read().decode()
            except urllib.error.HTTPError as err:
                return err.code, err.read().decode()

        assert scrape()[0] == 200
        conn.execute("ALTER TABLE finding RENAME COLUMN status TO state")
        code, text = scrape()
        assert code == 500 and "OperationalError" not in text, text
        assert "metrics unavailable: the evidence tables were changed outside drill" in text
        assert "no such column: status" in text and "drill evidence verify" in text
        (was,) = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        conn.execute("UPDATE alembic_version SET version_num = '9999_future'")
        code, text = scrape()
        assert code == 503 and "OperationalError" not in text, text
        assert "is at schema revision 9999_future, which this drill does not know" in text
        assert "open it with the (newer) drill that wrote it" in text
        conn.execute("UPDATE alembic_version SET version_num = ?", (was,))
        conn.execute("ALTER TABLE finding RENAME COLUMN state TO status")
        assert scrape()[0] == 200
    finally:
        conn.close()
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
