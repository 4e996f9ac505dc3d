"""Multi-AZ failover against the real lab: forced, and by a hand-made crash."""

from __future__ import annotations

import json
import os
import signal

import psycopg
import pytest

from tests.integration.lab.conftest import LabHandle, wait_until

pytestmark = pytest.mark.lab


def _port_of(dsn: str) -> int:
    with psycopg.connect(dsn, autocommit=True, connect_timeout=3) as conn:
        row = conn.execute("SELECT inet_server_port()").fetchone()
        assert row is not None
        return int(row[0])


def _write_rows(dsn: str, table: str, n: int) -> list[int]:
    acked = []
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE IF NOT EXISTS {table} (id int PRIMARY KEY)")
        for i in range(n):
            conn.execute(f"INSERT INTO {table} VALUES (%s)", (i,))
            acked.append(i)  # autocommit: the row is acknowledged once execute returns
    return acked


def _write_through(dsn: str) -> int:
    with psycopg.connect(dsn, autocommit=True, connect_timeout=3) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS after_failover (id serial, at timestamptz DEFAULT now())"
        )
        row = conn.execute("INSERT INTO after_failover DEFAULT VALUES RETURNING id").fetchone()
        assert row is not None
        return int(row[0])


def test_status_document_has_the_contract_shape(lab: LabHandle) -> None:
    doc = lab.status()
    assert doc["running"] is True
    assert set(doc["endpoints"]) >= {"db", "global_db", "app"}
    assert "host=127.0.0.1" in doc["endpoints"]["db"]
    assert doc["endpoints"]["app"].startswith("http://127.0.0.1:")
    names = {c["name"]: c for c in doc["components"]}
    assert names["use1-az1"]["role"] == "primary" and names["use1-az1"]["kind"] == "postgres"
    assert names["use1-az2"]["role"] == "standby"
    assert names["usw2"]["role"] == "replica"
    assert names["controller"]["kind"] == "controller"
    for c in doc["components"]:
        assert set(c) >= {"name", "kind", "role", "host", "port", "state", "pid"}
        assert c["host"] == "127.0.0.1" and c["state"] == "up" and c["pid"]
    json.dumps(doc)


def test_plan_names_the_lab_operation_and_changes_nothing(lab: LabHandle) -> None:
    before = lab.status()
    calls = lab.provider.plan("db.failover", {"target": "primary_db"}, "live")
    assert any("SIGKILL" in c.operation for c in calls)
    pid = next(c["pid"] for c in before["components"] if c["name"] == "use1-az1")
    assert any(f"pid {pid}" in c.target for c in calls)
    assert lab.status()["components"] == before["components"]


def test_forced_failover_loses_no_acknowledged_row_and_writes_resume(lab: LabHandle) -> None:
    db = lab.status()["endpoints"]["db"]
    assert lab.call("db.multi_az")["ok"] is True
    acked = _write_rows(db, "before_failover", 300)
    out = lab.call("db.failover", target="primary_db")
    assert out["old_primary"] == "use1-az1" and out["new_primary"] == "use1-az2"
    # the same DSN, not reconfigured: the endpoint now reaches the promoted standby
    assert _write_through(db) >= 1
    with psycopg.connect(db, autocommit=True) as conn:
        rows = {r[0] for r in conn.execute("SELECT id FROM before_failover")}
        sync = conn.execute("SHOW synchronous_standby_names").fetchone()
    assert rows == set(acked)
    assert sync is not None and sync[0] == ""  # the trap is cleared on the promoted server
    assert _port_of(db) == lab.state().comp("use1-az2").port
    assert lab.call("data.verify", target="db")["ok"] is True
    assert lab.call("db.writable", target="db")["ok"] is True
    states = {c["name"]: c for c in lab.status()["components"]}
    assert states["use1-az1"]["state"] == "down" and states["use1-az2"]["role"] == "primary"
    assert lab.call("db.multi_az")["ok"] is False  # single-AZ until re-protected


def test_reprotect_rebuilds_a_synchronous_standby(lab: LabHandle) -> None:
    out = lab.call("db.reprotect")
    assert out["standby"] == "use1-az1"
    assert lab.call("db.multi_az")["ok"] is True
    assert lab.call("db.replication_lag", target="dr_replica", max_lag_s=30)["ok"] is True


def test_primary_killed_by_hand_is_detected_and_failed_over(lab: LabHandle) -> None:
    st = lab.state()
    old = st.comp(st.primary)
    db = lab.status()["endpoints"]["db"]
    acked = _write_rows(db, "before_kill", 100)
    os.kill(old.pid, signal.SIGKILL)  # not through drill: the controller must notice alone
    wait_until(lambda: lab.state().primary != old.name, 30, "controller failover")
    new = lab.state().primary
    assert new != old.name
    wait_until(lambda: _write_through(db), 30, "writes through the endpoint")
    with psycopg.connect(db, autocommit=True) as conn:
        rows = {r[0] for r in conn.execute("SELECT id FROM before_kill")}
    assert rows == set(acked)
    events = [
        json.loads(line)["event"]
        for line in (lab.root / "ground-truth.jsonl").read_text().splitlines()
    ]
    assert events.count("primary_death_detected") >= 2
    assert events.count("endpoint_repointed") >= 2
    lab.call("db.reprotect")
    assert lab.call("db.multi_az")["ok"] is True


def test_lost_standby_does_not_block_the_primary(lab: LabHandle) -> None:
    st = lab.state()
    standby = st.comp(st.standby)
    os.killpg(standby.pid, signal.SIGSTOP)
    try:
        wait_until(lambda: lab.state().standby is None, 30, "controller to drop the standby")
        assert lab.call("db.writable", target="db")["ok"] is True
    finally:
        os.killpg(standby.pid, signal.SIGCONT)
    lab.call("db.reprotect")
    assert lab.call("db.multi_az")["ok"] is True


def test_a_dead_controller_is_refused_then_restarted_by_prepare(lab: LabHandle) -> None:
    from orchestrator.errors import LabError

    ctl = lab.state().comp("controller")
    os.kill(ctl.pid, signal.SIGKILL)
    wait_until(lambda: lab.status()["components"][-1]["state"] == "down", 10, "controller down")
    with pytest.raises(LabError, match="controller is not running"):
        lab.call("db.failover")
    lab.provider.prepare(lambda _m: None)  # `drill run` does this first: repairs helpers
    states = {c["name"]: c for c in lab.status()["components"]}
    assert states["controller"]["state"] == "up" and states["controller"]["pid"] != ctl.pid
    assert lab.call("db.multi_az")["ok"] is True
