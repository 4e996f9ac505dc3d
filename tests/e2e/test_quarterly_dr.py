"""`drill run quarterly-dr --env lab` end to end, through the CLI, on a real lab.

One lab for the module (brought up once, as `drill run` would); the quarterly drill
runs once and several tests read its evidence. Nothing here asserts how long things
took: only that the measurements exist, are consistent with each other and with the
evidence, and that objectives are judged.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.clihelp import Result, run

pytestmark = [pytest.mark.lab, pytest.mark.slow]
SCENARIOS = ["az-loss", "rds-failover", "region-promotion", "backup-restore"]


@pytest.fixture(scope="module")
def labdir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    from orchestrator import pgbin
    from orchestrator.errors import LabError

    try:
        pgbin.bindir()
    except LabError as exc:
        pytest.skip(f"PostgreSQL server not installed: {exc.message}")
    cwd = tmp_path_factory.mktemp("quarterly")
    up = run(cwd, "lab", "up", timeout=180)
    assert up.code == 0, up.err
    yield cwd
    run(cwd, "lab", "down", timeout=180)


def drill_json(cwd: Path, *args: str, code: int | None = 0) -> tuple[Result, dict[str, Any]]:
    res = run(cwd, *args, "--json", timeout=600)
    doc = json.loads(res.out) if res.out.strip() else {}
    if code is not None and res.code != code:
        detail = ""
        if doc.get("run_id"):  # say why: the failed steps and findings of that run
            shown = json.loads(run(cwd, "runs", "show", doc["run_id"], "--json").out)
            detail = json.dumps({"scenarios": shown["scenarios"], "findings": shown["findings"],
                                 "failed": [s for s in shown["steps"]
                                            if s["status"] != "succeeded"]}, indent=1)
        pytest.fail(f"exit {res.code}, expected {code}\n{detail}\n{res.err[-3000:]}")
    return res, doc


@pytest.fixture(scope="module")
def quarterly(labdir: Path) -> dict[str, Any]:
    _res, doc = drill_json(labdir, "run", "quarterly-dr", "--env", "lab")
    return doc


@pytest.fixture(scope="module")
def shown(labdir: Path, quarterly: dict[str, Any]) -> dict[str, Any]:
    _res, doc = drill_json(labdir, "runs", "show", quarterly["run_id"])
    return doc


def ts(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def test_quarterly_drill_meets_every_objective(quarterly: dict[str, Any]) -> None:
    assert quarterly["status"] == "succeeded" and quarterly["drill"] == "quarterly-dr"
    assert [s["id"] for s in quarterly["scenarios"]] == SCENARIOS
    for sc in quarterly["scenarios"]:
        assert sc["met"] is True and sc["status"] == "succeeded", sc
        assert sc["rto_s"] is not None and sc["rpo_s"] is not None, sc
        assert sc["lost_writes"] is not None
        assert sc["rto_s"] <= sc["objectives"]["rto_s"]
        assert sc["rpo_s"] <= sc["objectives"]["rpo_s"]
        # RTO is exactly what the two instants say
        assert sc["rto_s"] == pytest.approx(
            ts(sc["service_restored_at"]) - ts(sc["fault_injected_at"]), abs=1e-3)
    by_id = {s["id"]: s for s in quarterly["scenarios"]}
    # synchronous standby: failover and AZ loss lose nothing acknowledged
    assert by_id["rds-failover"]["lost_writes"] == 0 and by_id["az-loss"]["lost_writes"] == 0


def test_runs_show_returns_every_measurement(quarterly: dict[str, Any],
                                             shown: dict[str, Any]) -> None:
    assert {k: shown[k] for k in quarterly} == quarterly
    ms: dict[tuple[str, str], dict[str, Any]] = {
        (m["scenario"], m["name"]): m for m in shown["measurements"]}
    for sc in quarterly["scenarios"]:
        for name in ("rto", "rpo", "lost_writes", "outage"):
            m = ms[(sc["id"], name)]
            assert m["method"] and m["interval_s"] == 0.1, m
        rto = ms[(sc["id"], "rto")]
        assert rto["value"] == pytest.approx(sc["rto_s"]) and rto["error_bound_s"] == 0.1
        assert rto["objective"] == sc["objectives"]["rto_s"] and rto["met"] is True
        assert ms[(sc["id"], "lost_writes")]["value"] == sc["lost_writes"]
        assert ms[(sc["id"], "rpo")]["details"]["acked"] > 0  # the heartbeat really wrote
    # the probes that decide RTO per scenario kind
    assert set(ms[("az-loss", "rto")]["details"]["probes"]) == {"sql@db", "http@app"}
    assert set(ms[("region-promotion", "rto")]["details"]["probes"]) == {"sql@global_db"}
    assert set(ms[("backup-restore", "rto")]["details"]["probes"]) == {"dataset@restored"}
    assert not shown["findings"]


def test_backup_restore_rpo_is_from_the_disaster_and_data_verified(
        quarterly: dict[str, Any], shown: dict[str, Any]) -> None:
    sc = next(s for s in quarterly["scenarios"] if s["id"] == "backup-restore")
    rpo = next(m for m in shown["measurements"]
               if m["scenario"] == "backup-restore" and m["name"] == "rpo")
    assert rpo["details"]["reference"] == "disaster"
    assert ts(rpo["details"]["disaster_at"]) == pytest.approx(ts(sc["fault_injected_at"]),
                                                              abs=1e-3)
    assert rpo["details"]["survivor"] == "restored instance"
    steps = [s for s in shown["steps"] if s["scenario"] == "backup-restore"]
    drop = next(s for s in steps if s["action"] == "data.drop_table")
    assert drop["status"] == "succeeded" and drop["output"]["dropped"] is True
    before = next(s for s in steps if s["phase"] == "precondition"
                  and s["action"] == "data.verify")
    after = next(s for s in steps if s["phase"] == "verification")
    assert after["status"] == "succeeded" and after["args"]["target"] == "restored"
    assert (after["output"]["rows"], after["output"]["checksum"]) == (
        before["output"]["rows"], before["output"]["checksum"])
    restore = next(s for s in steps if s["action"] == "db.restore")
    # restored to the disaster point, not to "latest"
    assert ts(restore["output"]["restored_to"]) == pytest.approx(ts(sc["fault_injected_at"]),
                                                                 abs=1e-3)


def test_probe_series_are_stored(labdir: Path, quarterly: dict[str, Any]) -> None:
    import sqlalchemy as sa

    from orchestrator.measure.ledger import decode_ledger
    from orchestrator.measure.samples import decode_series

    engine = sa.create_engine(f"sqlite:///{labdir / '.drill' / 'evidence.db'}")
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT s.scenario_id, p.probe, p.encoding, p.samples, p.data FROM probe_series p "
            "JOIN scenario_run s ON s.id = p.scenario_run_id WHERE p.run_id = :r"),
            {"r": quarterly["run_id"]}).fetchall()
    engine.dispose()
    probes = {(r[0], r[1]) for r in rows}
    assert ("rds-failover", "sql@db") in probes and ("az-loss", "http@app") in probes
    for _scenario, probe, encoding, samples, data in rows:
        if probe == "heartbeat-ledger":
            _writer, acks, _unknown = decode_ledger(data)
            assert len(acks) == samples
        else:
            assert encoding == "zlib+json" and len(decode_series(data)) == samples
            assert len(data) < 300 + samples * 8  # compact: a few bytes per sample


def test_an_impossible_objective_fails_with_a_finding(labdir: Path) -> None:
    drill_file = labdir / "impossible.yaml"
    drill_file.write_text(
        "id: impossible\ntitle: RTO of one millisecond\n"
        "scenarios:\n  - runbook: rds-failover\n    objectives: {rto: 1ms}\n")
    res, doc = drill_json(labdir, "run", str(drill_file), "--env", "lab", code=1)
    (sc,) = doc["scenarios"]
    assert doc["status"] == "failed" and sc["met"] is False
    assert sc["rto_s"] is not None and sc["rto_s"] > 0.001
    _res, detail = drill_json(labdir, "runs", "show", doc["run_id"])
    (finding,) = detail["findings"]
    assert finding["kind"] == "objective_missed" and finding["scenario"] == "rds-failover"
    assert "RTO" in finding["title"] and finding["corrective_action"]
    assert res.out.count("\n{") == 0  # exactly one JSON document on stdout

