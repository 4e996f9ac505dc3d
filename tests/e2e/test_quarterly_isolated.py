"""Isolated mode and the `az: primary` alias, end to end through the CLI on a real lab.

One lab for the module. The isolated quarterly drill runs first on the fresh lab,
under a write load through the production database endpoint; then a live failover
moves the primary to use1-az2 and az-loss must follow it there. Nothing here asserts
how long things took.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.clihelp import run
from tests.e2e.test_quarterly_dr import drill_json

pytestmark = [pytest.mark.lab, pytest.mark.slow]


def lab_status(cwd: Path) -> dict[str, Any]:
    res = run(cwd, "lab", "status", "--json")
    assert res.code == 0, res.err
    return dict(json.loads(res.out))


def production_view(cwd: Path) -> dict[str, Any]:
    """Who serves production, from the lab's state *and* from the proxies themselves."""
    from orchestrator.providers.lab import proxy
    from orchestrator.providers.lab.state import lab_dir, load

    status = lab_status(cwd)
    st = load(lab_dir(cwd / ".drill"))
    assert st is not None
    comps = {c["name"]: c for c in status["components"]}
    forwards = {
        name: proxy.control(st.comp(name).control_port or 0)["target"]
        for name in ("db-endpoint", "global-endpoint")
    }
    return {
        "primary": status["primary"],
        "global_target": status["global_target"],
        "endpoints": status["endpoints"],
        "isolated": status["isolated"],
        "forwards": forwards,
        "primary_port": comps[status["primary"]]["port"],
        "db_endpoint_port": comps["db-endpoint"]["port"],
        "roles": {n: c["role"] for n, c in comps.items()},
    }


class WriteLoad:
    """Commits numbered rows through an endpoint until stopped; remembers every ack."""

    def __init__(self, dsn: str) -> None:
        self.dsn, self.acked, self.errors = dsn, [], []  # type: list[int], list[str]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psycopg

        n = 0
        while not self.stop.is_set():
            try:
                with psycopg.connect(self.dsn, autocommit=True, connect_timeout=5) as conn:
                    conn.execute("CREATE TABLE IF NOT EXISTS isolated_load (n int primary key)")
                    while not self.stop.is_set():
                        conn.execute("INSERT INTO isolated_load (n) VALUES (%s)", (n + 1,))
                        n += 1
                        self.acked.append(n)
                        self.stop.wait(0.01)
            except psycopg.Error as exc:
                self.errors.append(str(exc))
                self.stop.wait(0.1)

    def __enter__(self) -> WriteLoad:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(10)


def ground_truth(cwd: Path) -> list[dict[str, Any]]:
    path = cwd / ".drill" / "lab" / "ground-truth.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def isolated(labdir: Path) -> dict[str, Any]:
    before = production_view(labdir)
    truth_before = len(ground_truth(labdir))
    with WriteLoad(before["endpoints"]["db"]) as load:
        _res, doc = drill_json(labdir, "run", "quarterly-dr", "--env", "lab", "--mode", "isolated")
    _res, shown = drill_json(labdir, "runs", "show", doc["run_id"])
    return {
        "doc": doc,
        "shown": shown,
        "before": before,
        "after": production_view(labdir),
        "load": load,
        "truth": ground_truth(labdir)[truth_before:],
    }


def test_isolated_quarterly_measures_the_clone_scenarios(isolated: dict[str, Any]) -> None:
    doc = isolated["doc"]
    assert doc["status"] == "succeeded" and doc["mode"] == "isolated"
    by_id = {s["id"]: s for s in doc["scenarios"]}
    for sid in ("az-loss", "rds-failover"):
        assert "live-only scenario" in by_id[sid]["skipped"]
        assert by_id[sid]["rto_s"] is None and by_id[sid]["met"] is None
    for sid in ("region-promotion", "backup-restore"):
        sc = by_id[sid]
        assert "skipped" not in sc and sc["status"] == "succeeded" and sc["met"] is True, sc
        assert sc["rto_s"] is not None and sc["rpo_s"] is not None, sc
        assert sc["lost_writes"] is not None and sc["fault_injected_at"], sc
    ms = {(m["scenario"], m["name"]): m for m in isolated["shown"]["measurements"]}
    # RTO of the promotion is the clone's recovery, not production's (which never failed)
    assert set(ms[("region-promotion", "rto")]["details"]["probes"]) == {"sql@clone"}
    rpo = ms[("region-promotion", "rpo")]["details"]
    assert rpo["survivor"] == "promoted clone" and rpo["reference"] == "disaster"
    assert rpo["acked"] > 0
    assert set(ms[("backup-restore", "rto")]["details"]["probes"]) == {"dataset@restored"}
    assert ms[("backup-restore", "rpo")]["details"]["reference"] == "disaster"
    skips = [e for e in isolated["shown"]["timeline"] if e["kind"] == "scenario.skip"]
    assert {e["scenario"] for e in skips} == {"az-loss", "rds-failover"}
    assert all("live-only scenario" in e["message"] for e in skips)  # in the evidence too


def test_isolated_mode_runs_no_production_fault(isolated: dict[str, Any]) -> None:
    steps = isolated["shown"]["steps"]
    actions = {s["action"] for s in steps if s["status"] == "succeeded"}
    assert not actions & {
        "region.isolate",
        "dns.point",
        "data.drop_table",
        "az.isolate",
        "db.failover",
        "region.restore",
    }
    promote = next(s for s in steps if s["action"] == "db.promote_replica")
    assert promote["output"]["isolated"] is True
    assert promote["output"]["instance"].startswith("usw2-clone-")
    # the clone's operations are what the isolated plan says; nothing unplanned anywhere
    assert "postgres:pg_basebackup" in promote["output"]["lab_operations"]
    assert not [s for s in steps if (s.get("output") or {}).get("unplanned_calls")]
    marks = [s for s in steps if s["name"].startswith("mark the ")]
    assert {s["scenario"] for s in marks} == {"region-promotion", "backup-restore"}
    # the lab's own log of what it did: no fault, no repointing, no promotion of usw2
    events = {e["event"] for e in isolated["truth"]}
    assert not events & {"fault_injected", "dns_repointed", "promotion_done"}, events


def test_production_untouched_and_kept_every_write(isolated: dict[str, Any]) -> None:
    import psycopg

    before, after = isolated["before"], isolated["after"]
    for key in ("primary", "global_target", "endpoints", "isolated", "forwards"):
        assert after[key] == before[key], key
    assert after["forwards"] == {
        "db-endpoint": before["primary_port"],
        "global-endpoint": before["db_endpoint_port"],
    }
    # usw2 is still production's replica; the clone and restored instance are gone
    assert after["roles"]["usw2"] == "replica"
    assert not [n for n, r in after["roles"].items() if r in ("clone", "restored")]
    load = isolated["load"]
    assert load.acked and not load.errors
    with psycopg.connect(after["endpoints"]["db"], autocommit=True) as conn:
        present = {r[0] for r in conn.execute("SELECT n FROM isolated_load")}
        assert conn.execute("SELECT count(*) FROM drill_dataset").fetchone()[0] > 0
    assert set(load.acked) <= present


def test_az_loss_follows_the_primary_after_a_failover(
    labdir: Path, isolated: dict[str, Any]
) -> None:
    assert production_view(labdir)["primary"] == "use1-az1"
    drill_json(labdir, "run", "rds-failover", "--env", "lab")
    assert production_view(labdir)["primary"] == "use1-az2"
    _res, doc = drill_json(labdir, "run", "az-loss", "--env", "lab")
    _res, shown = drill_json(labdir, "runs", "show", doc["run_id"])
    iso = next(s for s in shown["steps"] if s["action"] == "az.isolate")
    assert iso["args"]["az"] == "primary"
    assert iso["output"]["az"] == "use1-az2" and iso["output"]["requested"] == "primary"
    assert set(iso["output"]["stopped"]) == {"use1-az2", "app-use1-az2"}
    undo = next(s for s in shown["steps"] if s["action"] == "az.restore")
    assert undo["phase"] == "rollback" and undo["status"] == "succeeded"
    assert undo["args"]["az"] == "use1-az2"  # the resolved AZ, via rollback_args
    truth = [e for e in ground_truth(labdir) if e["event"] == "fault_injected"]
    assert truth[-1]["action"] == "az.isolate" and truth[-1]["az"] == "use1-az2"
    after = production_view(labdir)
    assert after["primary"] == "use1-az1" and after["isolated"] == []
