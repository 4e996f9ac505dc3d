"""The probe observer against a real PostgreSQL server that really goes away.

A server of our own (not the shared session one: we stop and freeze it) on
127.0.0.1. Assertions are about what must logically hold (no success before the
server is back, every lost row counted), never about how long things took.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from orchestrator import pgbin
from orchestrator.measure.ledger import HEARTBEAT_TABLE, decode_ledger
from orchestrator.measure.observer import ProbeObserver, ProbeTargets, build_observer
from orchestrator.measure.samples import decode_series

pytestmark = [pytest.mark.lab]


@pytest.fixture(scope="module")
def server() -> Iterator[object]:
    from orchestrator.errors import LabError

    try:
        pgbin.bindir()
    except LabError as exc:
        pytest.skip(f"PostgreSQL server not installed: {exc.message}")
    from tests.pgserver import PgServer

    srv = PgServer().start()
    yield srv
    srv.stop()


def libpq(srv: object) -> str:
    from tests.pgserver import PgServer

    assert isinstance(srv, PgServer)
    return srv.create_database().replace("postgresql+psycopg://", "postgresql://")


def pg_ctl(srv: object, *args: str) -> None:
    from tests.pgserver import PgServer

    assert isinstance(srv, PgServer)
    opts = (
        f"-p {srv.port} -c listen_addresses=127.0.0.1 -k {srv.dir / 'sock'} "
        "-c fsync=off -c max_connections=200"
    )
    pgbin.run(
        [
            pgbin.tool("pg_ctl"),
            "-D",
            str(srv.data),
            "-w",
            "-t",
            "60",
            "-l",
            str(srv.dir / "log"),
            "-o",
            opts,
            *args,
        ]
    )


def wait_for(cond: object, timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached")


def now() -> datetime:
    return datetime.now(UTC)


def test_outage_and_restoration_of_a_stopped_server(server: object) -> None:
    dsn = libpq(server)
    obs = build_observer(ProbeTargets(db=dsn, global_db=None, app=None), "rds-failover", "r-it")
    assert isinstance(obs, ProbeObserver)
    obs.start()
    wait_for(lambda: len(obs.ledger) >= 5)
    obs.mark("fault_injected", now())
    pg_ctl(server, "-m", "immediate", "stop")
    stopped = time.time()
    wait_for(lambda: any(not s.ok for lp in obs.loops for s in lp.samples() if s.start > stopped))
    restart_issued = time.time()
    pg_ctl(server, "start")
    restored = obs.wait_until("service_restored", 60, lambda: False)
    result = obs.stop()

    assert restored.timestamp() > restart_issued  # no success can precede the restart
    assert result.service_restored_at == restored
    fault = obs.marks["fault_injected"]
    assert result.rto_s == pytest.approx(restored.timestamp() - fault, abs=1e-5)
    by_name = {m.name: m for m in result.measurements}
    assert by_name["rto"].error_bound_s == 0.1 and by_name["rto"].interval_s == 0.1
    outage = by_name["outage"]
    assert outage.value is not None and 0 < outage.value <= result.rto_s
    first_failure = datetime.fromisoformat(outage.details["first_failure_at"]).timestamp()
    assert fault <= first_failure < restart_issued
    # an immediate stop after synchronous commits loses nothing that was acknowledged
    assert result.lost_writes == 0 and result.rpo_s == 0
    series = {s.probe: s for s in result.series}
    assert {"sql@db", "tcp@db", "heartbeat-ledger"} <= set(series)
    samples = decode_series(series["sql@db"].data)
    assert len(samples) == series["sql@db"].samples
    assert any(not s.ok for s in samples) and samples[-1].ok


def test_a_frozen_server_never_stalls_the_probes(server: object) -> None:
    """SIGSTOP the postmaster: connects hang; probes must keep ticking and fail on time."""
    dsn = libpq(server)
    obs = build_observer(ProbeTargets(db=dsn, global_db=None, app=None), "rds-failover", "r-it")
    assert isinstance(obs, ProbeObserver)
    obs.start()
    wait_for(lambda: len(obs.ledger) >= 3)
    pid = int((server.data / "postmaster.pid").read_text().split()[0])  # type: ignore[attr-defined]
    obs.mark("fault_injected", now())
    os.kill(pid, signal.SIGSTOP)
    frozen = time.time()
    try:
        sql = next(lp for lp in obs.loops if lp.name == "sql@db")
        wait_for(lambda: sum(1 for s in sql.samples() if s.start > frozen and not s.ok) >= 5)
    finally:
        os.kill(pid, signal.SIGCONT)
    thawed = time.time()
    restored = obs.wait_until("service_restored", 60, lambda: False)
    result = obs.stop()
    hung = [s for s in sql.samples() if frozen < s.start < thawed and not s.ok]
    assert hung and all(s.latency_s <= obs.deadline_s + 1e-6 for s in hung)
    assert any("no answer within" in (s.error or "") for s in hung)
    # ticks kept coming while attempts hung: more attempts than a serial prober could make
    started_while_frozen = [s for s in sql.samples() if frozen < s.start < thawed]
    assert len(started_while_frozen) > (thawed - frozen) / obs.deadline_s + 1
    # a request queued just before the thaw may be answered fast: within one interval
    assert restored.timestamp() > thawed - obs.interval_s and result.lost_writes == 0


def test_lost_acknowledged_writes_are_counted_exactly(server: object) -> None:
    """Rows the ledger says were acknowledged but are gone are lost writes; RPO from them."""
    import psycopg

    dsn = libpq(server)
    obs = build_observer(ProbeTargets(db=dsn, global_db=None, app=None), "az-loss", "r-it")
    assert isinstance(obs, ProbeObserver)
    obs.start()
    wait_for(lambda: len(obs.ledger) >= 12)
    obs.mark("fault_injected", now())
    result_time = time.time()
    wait_for(lambda: any(a.acked_at > result_time for a in obs.ledger.acks()))
    # simulate acknowledged commits that did not survive: remove rows 4..7 and 10
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            f"DELETE FROM {HEARTBEAT_TABLE} WHERE writer = %s AND seq IN (4,5,6,7,10)",
            (obs.ledger.writer,),
        )
    result = obs.stop()
    acks = {a.seq: a for a in obs.ledger.acks()}
    assert result.lost_writes == 5
    # the newest lost ack - the newest surviving one before it: seq 10's - seq 9's, unless
    # the probe's overlapping attempts (a slow one on a busy machine) were acked out of order
    gone = {4, 5, 6, 7, 10}
    newest_lost = max(acks[seq].acked_at for seq in gone)
    kept = [a.acked_at for a in acks.values() if a.seq not in gone]
    expected_rpo = newest_lost - max(t for t in kept if t < newest_lost)
    assert result.rpo_s == pytest.approx(expected_rpo, abs=1e-5)
    lost = next(m for m in result.measurements if m.name == "lost_writes")
    assert lost.details["lost_seqs"] == [4, 5, 6, 7, 10]
    ledger_series = next(s for s in result.series if s.probe == "heartbeat-ledger")
    writer, stored, _unknown = decode_ledger(ledger_series.data)
    assert writer == obs.ledger.writer and len(stored) == len(acks)
    # no app endpoint given: az-loss is judged on the SQL probe alone
    assert [lp.name for lp in obs.loops if lp.service] == ["sql@db"]


def test_region_promotion_without_a_global_endpoint_probes_the_db_endpoint() -> None:
    obs = build_observer(
        ProbeTargets(
            db="host=127.0.0.1 port=1 dbname=app", global_db=None, app=None, interval_s=1.0
        ),
        "region-promotion",
        "r-x",
    )
    assert isinstance(obs, ProbeObserver)
    assert [lp.name for lp in obs.loops if lp.service] == ["sql@global_db"]
    assert obs.loops[0].probe.target == "host=127.0.0.1 port=1 dbname=app"  # type: ignore[attr-defined]
    assert obs.interval_s == 1.0 and obs.stability_s == 10.0


def test_nothing_to_probe_falls_back_to_marks() -> None:
    from orchestrator.measure.base import MarksObserver

    obs = build_observer(ProbeTargets(db=None, global_db=None, app=None), "az-loss", "r-x")
    assert isinstance(obs, MarksObserver)
