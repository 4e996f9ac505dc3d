"""`drill run quarterly-dr --env lab` end to end, through the CLI, on a real lab.

One lab for the module (brought up once, as `drill run` would); the quarterly drill
runs once and several tests read its evidence. Nothing here asserts how long things
took: only that the measurements exist, are consistent with each other and with the
evidence, and that objectives are judged.
"""

from __future__ import annotations

import json
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.clihelp import Result, run

pytestmark = [pytest.mark.lab, pytest.mark.slow]
SCENARIOS = ["az-loss", "rds-failover", "region-promotion", "backup-restore"]

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


def drill_json(cwd: Path, *args: str, code: int | None = 0) -> tuple[Result, dict[str, Any]]:
    res = run(cwd, *args, "--json", timeout=600)
    doc = json.loads(res.out) if res.out.strip() else {}
    if code is not None and res.code != code:
        detail = ""
        if doc.get("run_id"):  # say why: the failed steps and findings of that run
            shown = json.loads(run(cwd, "runs", "show", doc["run_id"], "--json").out)
            detail = json.dumps(
                {
                    "scenarios": shown["scenarios"],
                    "findings": shown["findings"],
                    "failed": [s for s in shown["steps"] if s["status"] != "succeeded"],
                },
                indent=1,
            )
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
            ts(sc["service_restored_at"]) - ts(sc["fault_injected_at"]), abs=1e-3
        )
    by_id = {s["id"]: s for s in quarterly["scenarios"]}
    # synchronous standby: failover and AZ loss lose nothing acknowledged
    assert by_id["rds-failover"]["lost_writes"] == 0 and by_id["az-loss"]["lost_writes"] == 0


def test_runs_show_returns_every_measurement(
    quarterly: dict[str, Any], shown: dict[str, Any]
) -> None:
    assert {k: shown[k] for k in quarterly} == quarterly
    ms: dict[tuple[str, str], dict[str, Any]] = {
        (m["scenario"], m["name"]): m for m in shown["measurements"]
    }
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
    # the failover says which server took over (the step does not wait for it: the
    # evidence said new_primary null for every successful failover)
    failover = shown["scenario_notes"]["rds-failover"]["failover"]
    assert failover["old_primary"] and failover["new_primary"], failover
    assert failover["new_primary"] != failover["old_primary"]


def test_runs_show_gives_measurements_as_the_reports_do(
    labdir: Path, quarterly: dict[str, Any]
) -> None:
    """`runs show` printed 'rto 0.863409 s' where every report says 0.863s, and
    'lost_writes 0.0 rows' for a count of rows."""
    text = run(labdir, "runs", "show", quarterly["run_id"]).out
    lines = [" ".join(line.split()) for line in text.split("Measurements")[1].splitlines()]
    for sc in quarterly["scenarios"]:
        assert any(line.startswith(f"{sc['id']} rto {sc['rto_s']:.3f} s ±0.1s") for line in lines)
        assert any(
            line.startswith(f"{sc['id']} lost_writes {sc['lost_writes']} rows") for line in lines
        ), lines


def test_export_shows_the_drill_satisfies_soc2_a13_and_pci_12102(
    labdir: Path, quarterly: dict[str, Any], tmp_path: Path
) -> None:
    """Before any other run in this module: the period holds the quarterly drill only."""
    import zipfile

    day = quarterly["started_at"][:10]
    _res, doc = drill_json(
        labdir,
        "evidence",
        "export",
        "--from",
        day,
        "--to",
        day,
        "--env",
        "lab",
        "--framework",
        "soc2",
        "--framework",
        "pci",
        "--out",
        str(tmp_path / "q.zip"),
    )
    assert doc["controls"]["soc2:A1.3"] is True and doc["controls"]["pci:12.10.2"] is True
    with zipfile.ZipFile(tmp_path / "q.zip") as zf:
        journal = json.loads(zf.read(f"journals/{quarterly['run_id']}.json"))
        controls = json.loads(zf.read("controls/soc2.json"))["results"]
    assert journal["events"] and journal["status"] == "succeeded"
    # each measurement and its verdict, once (a verdict with a reason read "(objectives
    # not judged (the scenario was aborted …))", brackets within brackets)
    (a13,) = [c for c in controls if c["control_id"] == "A1.3"]
    for kind, name in (("rto_measured", "RTO"), ("rpo_measured", "RPO")):
        items = [i["description"] for i in a13["evidence"][kind]]
        assert len(items) == len(SCENARIOS), items
        for sc, said in zip(quarterly["scenarios"], items, strict=True):
            assert said.startswith(f"{sc['id']} (quarterly-dr on lab, ") and f": {name} " in said
            assert said.endswith("; objectives met") and "(objectives" not in said, said


def test_backup_restore_rpo_is_from_the_disaster_and_data_verified(
    quarterly: dict[str, Any], shown: dict[str, Any]
) -> None:
    sc = next(s for s in quarterly["scenarios"] if s["id"] == "backup-restore")
    rpo = next(
        m for m in shown["measurements"] if m["scenario"] == "backup-restore" and m["name"] == "rpo"
    )
    assert rpo["details"]["reference"] == "disaster"
    assert ts(rpo["details"]["disaster_at"]) == pytest.approx(ts(sc["fault_injected_at"]), abs=1e-3)
    assert rpo["details"]["survivor"] == "restored instance"
    steps = [s for s in shown["steps"] if s["scenario"] == "backup-restore"]
    drop = next(s for s in steps if s["action"] == "data.drop_table")
    assert drop["status"] == "succeeded" and drop["output"]["dropped"] is True
    before = next(s for s in steps if s["phase"] == "precondition" and s["action"] == "data.verify")
    after = next(s for s in steps if s["phase"] == "verification")
    assert after["status"] == "succeeded" and after["args"]["target"] == "restored"
    assert (after["output"]["rows"], after["output"]["checksum"]) == (
        before["output"]["rows"],
        before["output"]["checksum"],
    )
    restore = next(s for s in steps if s["action"] == "db.restore")
    # restored to the disaster point, not to "latest"
    assert ts(restore["output"]["restored_to"]) == pytest.approx(
        ts(sc["fault_injected_at"]), abs=1e-3
    )


def test_probe_series_are_stored(labdir: Path, quarterly: dict[str, Any]) -> None:
    import sqlalchemy as sa

    from orchestrator.measure.ledger import decode_ledger
    from orchestrator.measure.samples import decode_series

    engine = sa.create_engine(f"sqlite:///{labdir / '.drill' / 'evidence.db'}")
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT s.scenario_id, p.probe, p.encoding, p.samples, p.data FROM probe_series p "
                "JOIN scenario_run s ON s.id = p.scenario_run_id WHERE p.run_id = :r"
            ),
            {"r": quarterly["run_id"]},
        ).fetchall()
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
        "scenarios:\n  - runbook: rds-failover\n    objectives: {rto: 1ms}\n"
    )
    res, doc = drill_json(labdir, "run", str(drill_file), "--env", "lab", code=1)
    (sc,) = doc["scenarios"]
    assert doc["status"] == "failed" and sc["met"] is False
    assert sc["rto_s"] is not None and sc["rto_s"] > 0.001
    _res, detail = drill_json(labdir, "runs", "show", doc["run_id"])
    (finding,) = detail["findings"]
    assert finding["kind"] == "objective_missed" and finding["scenario"] == "rds-failover"
    assert "RTO" in finding["title"] and finding["corrective_action"]
    assert res.out.count("\n{") == 0  # exactly one JSON document on stdout


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


def test_lost_writes_equal_the_ledger_rows_missing_on_the_promoted_replica(labdir: Path) -> None:
    """Region promotion under write load with a throttled region link (runs last: it
    leaves usw2 promoted, to read what survived there).

    A test-local copy of the runbook throttles the cross-region link first, so the
    replica falls behind while the heartbeat writer and an extra write load keep
    committing in us-east-1. The test reads the promoted replica *itself* and compares
    it with the heartbeat ledger stored as evidence.
    """
    import psycopg
    import sqlalchemy as sa

    from orchestrator.measure.compute import data_loss
    from orchestrator.measure.ledger import HEARTBEAT_TABLE, decode_ledger

    status = json.loads(run(labdir, "lab", "status", "--json").out)
    usw2 = next(c for c in status["components"] if c["name"] == "usw2")
    usw2_dsn = f"host=127.0.0.1 port={usw2['port']} dbname=app user=drill"
    (labdir / "throttled.yaml").write_text(RUNBOOK)
    stop = threading.Event()
    loader = threading.Thread(
        target=write_load, args=(status["endpoints"]["global_db"], stop), daemon=True
    )
    loader.start()
    try:
        res = run(labdir, "run", "throttled.yaml", "--env", "lab", "--json", timeout=600)
    finally:
        stop.set()
    assert res.code == 0, res.err[-3000:]
    doc = json.loads(res.out)
    (sc,) = doc["scenarios"]

    engine = sa.create_engine(f"sqlite:///{labdir / '.drill' / 'evidence.db'}")
    with engine.connect() as conn:
        ledger_blob = conn.execute(
            sa.text(
                "SELECT data FROM probe_series WHERE probe = 'heartbeat-ledger' AND run_id = :r"
            ),
            {"r": doc["run_id"]},
        ).scalar_one()
    engine.dispose()
    writer, acks, _unknown = decode_ledger(ledger_blob)
    with psycopg.connect(usw2_dsn, autocommit=True) as conn:
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone() == (False,)  # promoted
        surviving = {
            r[0]
            for r in conn.execute(f"SELECT seq FROM {HEARTBEAT_TABLE} WHERE writer = %s", (writer,))
        }
    missing = {a.seq for a in acks} - surviving
    assert missing, "the throttled link should have left acknowledged writes behind"
    assert sc["lost_writes"] == len(missing)
    independent = data_loss(acks, surviving)
    assert sc["rpo_s"] == pytest.approx(independent.rpo_s, abs=1e-5)
    assert 0 < sc["rpo_s"] <= 60 and sc["met"] is True


def test_every_lab_operation_made_is_in_the_plan(
    labdir: Path, quarterly: dict[str, Any], shown: dict[str, Any]
) -> None:
    """The lab's plan cannot drift from execution: each mutating action's recorded
    operations (``lab_operations``) are listed by `drill plan` for that action, and the
    provider itself found nothing unplanned."""
    _res, plan_doc = drill_json(labdir, "plan", "quarterly-dr", "--env", "lab")
    planned: dict[str, set[str]] = {}
    for sc in plan_doc["scenarios"]:
        for st in sc["steps"]:
            for entry in (st, st.get("rollback") or {}):
                if entry.get("action"):
                    planned.setdefault(entry["action"], set()).update(
                        e for c in entry.get("calls", []) for e in c.get("effects", [])
                    )
    steps = shown["steps"]
    assert not [s for s in steps if (s.get("output") or {}).get("unplanned_calls")]
    recorded = {
        s["action"]: s["output"]["lab_operations"]
        for s in steps
        if (s.get("output") or {}).get("lab_operations")
    }
    # the check really ran: the drill's faults and repairs were recorded
    assert {"db.failover", "az.isolate", "data.drop_table", "db.restore"} <= set(recorded)
    assert "process:SIGKILL" in recorded["db.failover"]
    for action, made in recorded.items():
        assert set(made) <= planned.get(action, set()), action


def _controls(bundle: Path) -> dict[str, dict[str, Any]]:
    """Every control of every framework in a bundle: ``framework:id`` → its result."""
    import zipfile

    with zipfile.ZipFile(bundle) as zf:
        return {
            f"{r['framework']}:{r['control_id']}": r
            for name in zf.namelist()
            if name.startswith("controls/")
            for r in json.loads(zf.read(name))["results"]
        }


def test_a_successful_quarterly_drill_satisfies_every_control_and_verifies_without_drill(
    labdir: Path, quarterly: dict[str, Any], tmp_path: Path
) -> None:
    """Its bundle (every framework) satisfies SOC 2, ISO 27001, PCI DSS, HIPAA and NIST
    controls with nothing missing; unpacked, VERIFY.md's three commands pass with nothing
    of drill on the PATH (an isolated, venv-free python)."""
    import shutil
    import subprocess
    import zipfile

    bundle = tmp_path / "run.zip"
    _res, doc = drill_json(
        labdir, "evidence", "export", "--run", quarterly["run_id"], "--out", str(bundle)
    )
    controls = _controls(bundle)
    assert len(controls) == 11 and all(doc["controls"].values()), doc["controls"]
    assert {k: c["missing"] for k, c in controls.items() if c["missing"]} == {}
    with zipfile.ZipFile(bundle) as zf:
        zf.extractall(tmp_path / "b")
    python = next(p for p in ("/usr/bin/python3", "/bin/python3") if Path(p).exists())
    if shutil.which("openssl", path="/usr/bin:/bin") is None:
        pytest.skip("openssl is not installed")
    signed = ["-in", "SHA256SUMS", "-sigfile", "SHA256SUMS.sig"]
    for command in (
        ["sha256sum", "-c", "SHA256SUMS"],
        ["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", "signer.pub.pem", "-rawin", *signed],
        [python, "-I", "-S", "journal/verify_chain.py"],
    ):
        done = subprocess.run(
            command, cwd=tmp_path / "b", env={"PATH": "/usr/bin:/bin"}, capture_output=True
        )
        assert done.returncode == 0, (command, done.stdout, done.stderr)


def test_an_experiment_that_fails_over_is_failover_evidence(
    labdir: Path, quarterly: dict[str, Any], tmp_path: Path
) -> None:
    """The bundled multi-az-failover experiment forces a real failover through drill's
    Chaos Toolkit extension (`orchestrator.chaos.db.failover`, the action `db.failover`):
    SOC 2 CC7.5, ISO A.5.29/A.8.14 and NIST CP-10 count it as a failover exercised (they
    said nothing showed one)."""
    _res, doc = drill_json(labdir, "run", "multi-az-failover", "--env", "lab")
    bundle = tmp_path / "exp.zip"
    drill_json(labdir, "evidence", "export", "--run", doc["run_id"], "--out", str(bundle))
    controls = _controls(bundle)
    for key in ("soc2:CC7.5", "iso27001:A.5.29", "iso27001:A.8.14", "nist:CP-10"):
        refs = controls[key]["evidence"]["failover_tested"]
        assert [r["ref"] for r in refs] == [f"run:{doc['run_id']}/scenario:multi-az-failover"], key
        assert not any(m.startswith("failover_tested") for m in controls[key]["missing"]), key
