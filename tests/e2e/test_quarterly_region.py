"""Region promotion under write load with a throttled region link: lost writes, exactly.

A test-local copy of the region-promotion runbook throttles the cross-region link
first, so the us-west-2 replica falls behind while the heartbeat writer and an extra
write load keep committing in us-east-1. After the run, the test reads the promoted
replica *itself* and compares it with the heartbeat ledger stored as evidence: the
reported ``lost_writes`` must be exactly the acknowledged rows that are missing.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.clihelp import run

pytestmark = [pytest.mark.lab, pytest.mark.slow]

RUNBOOK = """\
id: region-promotion-throttled
title: Region promotion under write load with a throttled link
scenario: region-promotion
objectives: {rto: 15m, rpo: 60s}
preconditions:
  - {kind: probe, action: db.writable, args: {target: global_db}, retries: 2}
steps:
  - name: throttle the region link
    action: link.latency
    args: {latency_ms: 1500, bandwidth_kbps: 64}
  - name: let the replica fall behind
    kind: wait
    duration: 2s
  - {name: lose us-east-1, action: region.isolate, mark: fault_injected, rollback: false}
  - {action: db.promote_replica, args: {target: dr_replica}, rollback: false}
  - {action: dns.point, args: {record: dns_record, to: dr_replica}, rollback: false}
  - {kind: wait, until: service_restored, timeout: 2m}
rollback:  # usw2 stays promoted so the test can read what survived there
  - {action: region.restore}
  - {action: dns.point, args: {record: dns_record, to: primary_db}}
"""


@pytest.fixture(scope="module")
def labdir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    from orchestrator import pgbin
    from orchestrator.errors import LabError

    try:
        pgbin.bindir()
    except LabError as exc:
        pytest.skip(f"PostgreSQL server not installed: {exc.message}")
    cwd = tmp_path_factory.mktemp("region")
    up = run(cwd, "lab", "up", timeout=180)
    assert up.code == 0, up.err
    yield cwd
    run(cwd, "lab", "down", timeout=180)


def write_load(dsn: str, stop: threading.Event) -> None:
    """Bulky commits through the global endpoint until stopped (errors: region lost)."""
    import psycopg

    while not stop.is_set():
        try:
            with psycopg.connect(dsn, autocommit=True, connect_timeout=2) as conn:
                conn.execute("CREATE TABLE IF NOT EXISTS load_test (id serial, pad text)")
                while not stop.is_set():
                    conn.execute("INSERT INTO load_test (pad) VALUES (repeat('x', 2000))")
        except psycopg.Error:
            stop.wait(0.1)


def test_lost_writes_equal_the_ledger_rows_missing_on_the_promoted_replica(
        labdir: Path) -> None:
    import psycopg
    import sqlalchemy as sa

    from orchestrator.measure.compute import data_loss
    from orchestrator.measure.ledger import HEARTBEAT_TABLE, decode_ledger

    status = json.loads(run(labdir, "lab", "status", "--json").out)
    usw2 = next(c for c in status["components"] if c["name"] == "usw2")
    usw2_dsn = f"host=127.0.0.1 port={usw2['port']} dbname=app user=drill"
    (labdir / "throttled.yaml").write_text(RUNBOOK)
    stop = threading.Event()
    loader = threading.Thread(target=write_load, args=(status["endpoints"]["global_db"], stop),
                              daemon=True)
    loader.start()
    try:
        res = run(labdir, "run", "throttled.yaml", "--env", "lab", "--json", timeout=600)
    finally:
        stop.set()
    assert res.code == 0, res.err[-3000:]
    (sc,) = json.loads(res.out)["scenarios"]

    engine = sa.create_engine(f"sqlite:///{labdir / '.drill' / 'evidence.db'}")
    with engine.connect() as conn:
        ledger_blob = conn.execute(sa.text(
            "SELECT data FROM probe_series WHERE probe = 'heartbeat-ledger'")).scalar_one()
    engine.dispose()
    writer, acks, _unknown = decode_ledger(ledger_blob)
    with psycopg.connect(usw2_dsn, autocommit=True) as conn:
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone() == (False,)  # promoted
        surviving = {r[0] for r in conn.execute(
            f"SELECT seq FROM {HEARTBEAT_TABLE} WHERE writer = %s", (writer,))}
    missing = {a.seq for a in acks} - surviving
    assert missing, "the throttled link should have left acknowledged writes behind"
    assert sc["lost_writes"] == len(missing)
    independent = data_loss(acks, surviving)
    assert sc["rpo_s"] == pytest.approx(independent.rpo_s, abs=1e-5)
    assert 0 < sc["rpo_s"] <= 60 and sc["met"] is True
