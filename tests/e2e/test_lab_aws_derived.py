"""Probe defaults derived from the targets (DESIGN 4) on the AWS-shaped lab.

An environment with the lab's endpoint and Terraform state and no probe named:
drill derives the database probe from ``aws_db_instance.primary`` (its endpoint on
127.0.0.1, username, db_name) and the http probe from ``aws_lb.lab`` and its
listener, and the bundled quarterly drill measures RTO/RPO with those real probes —
following the promoted replica when the global record is moved to it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.clihelp import run
from tests.e2e.conftest import lab_aws_env, lab_status

pytestmark = [pytest.mark.lab, pytest.mark.aws, pytest.mark.slow]


def test_quarterly_dr_with_no_probe_named_measures_with_derived_probes(awslab: Path) -> None:
    # no database or http probe named: both derived. Only the sampling interval is set,
    # the lab's 100 ms (DESIGN 7): with the AWS default of 1 s every stability window
    # is 10 s and this drill takes over a minute (measured in benchmarks/lab_aws_derived.py)
    aws = lab_aws_env(awslab, "derived", probes={"interval_s": 0.1})
    ports = {c["name"]: c["port"] for c in lab_status(awslab)["components"]}
    state = aws["terraform_state"]
    plan = run(awslab, "plan", "quarterly-dr", "--env", "derived", "--json")
    assert plan.code == 0, plan.err
    doc = json.loads(plan.out)
    assert doc["probes"] == {
        "db": f"derived from aws_db_instance.primary in {state}: host=127.0.0.1 "
        f"port={ports['db-endpoint']} dbname=app user=drill, no password in the state "
        "(libpq's PGPASSWORD or ~/.pgpass)",
        # the global record names the primary instance (drill-lab-db.lab-aws.internal)
        "global_db": "derived from aws_route53_record.global_db → aws_db_instance.primary in "
        f"{state}: host=127.0.0.1 port={ports['db-endpoint']} dbname=app user=drill, no "
        "password in the state (libpq's PGPASSWORD or ~/.pgpass)",
        "http": f"derived from aws_lb.lab in {state}: http://127.0.0.1:{ports['lb']}/",
    }
    skipped = [s for sc in doc["scenarios"] for s in sc["steps"] if s.get("skipped")]
    assert skipped == []  # SQL steps run through the derived DSN (no NO_DSN skips)

    res = run(awslab, "run", "quarterly-dr", "--env", "derived", "--yes", "--json", timeout=900)
    assert res.code == 0, res.err
    out = json.loads(res.out)
    assert [s["met"] for s in out["scenarios"]] == [True] * 4, out["scenarios"]
    assert all(s["rto_s"] is not None and s["rpo_s"] is not None for s in out["scenarios"])
    show = run(awslab, "runs", "show", out["run_id"], "--json")
    assert show.code == 0, show.err
    detail = json.loads(show.out)
    rto = {m["scenario"]: m["method"] for m in detail["measurements"] if m["name"] == "rto"}
    assert len(rto) == 4 and all(m.startswith("probes") for m in rto.values()), rto
    assert rto["region-promotion"].startswith("probes: sql@promoted"), rto
    notes = detail["scenario_notes"]
    assert {n["probe_db"] for n in notes.values()} == {doc["probes"]["db"]}
    assert "global_db_followed" in notes["region-promotion"]
    assert not [s for s in detail["steps"] if s["status"] in ("skipped", "failed")]


def test_a_global_record_naming_an_address_beyond_loopback_is_refused(awslab: Path) -> None:
    """The global probe is derived from the record in the state: one that names a
    10.x address (an A record) is refused with the reason before anything connects or
    changes — plan and run alike, exit 2."""
    aws = lab_status(awslab)["aws"]
    state = json.loads(Path(aws["terraform_state"]).read_text())
    for res in state["resources"]:
        if res["type"] == "aws_route53_record":
            res["instances"][0]["attributes"].update(type="A", records=["10.1.2.3"])
    edited = awslab / "record-10.tfstate"
    edited.write_text(json.dumps(state))
    lab_aws_env(awslab, "far", terraform={"state": str(edited)})
    calls = Path(aws["terraform_state"]).with_name("calls.jsonl")
    before = len(calls.read_text().splitlines())
    for argv in (["plan"], ["run", "--yes"]):
        res = run(awslab, argv[0], "region-promotion", *argv[1:], "--env", "far", timeout=120)
        assert res.code == 2, res.err
        assert "drill: error: environments.far:" in res.err
        assert "aws_route53_record.global_db" in res.err and "10.1.2.3" in res.err
        assert "refusing to connect" in res.err and "Traceback" not in res.err
    after = [json.loads(line) for line in calls.read_text().splitlines()[before:]]
    assert [c["operation"] for c in after if c["mutating"]] == []
