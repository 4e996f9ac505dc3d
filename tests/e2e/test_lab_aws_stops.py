"""A stop (SIGINT, SIGTERM) during `drill run` on `lab-aws`: rollbacks complete, `aborted`, exit 3.

DESIGN "Crash safety (Contract)": a stop at any moment ends the run `aborted` with its
rollbacks done. The AWS provider's rollbacks wait for RDS (e.g. the rebuilt replica to
become available): a stop that ended the scenario must not cancel those waits — an undo
cut short leaves the environment degraded and the run `rollback_failed`, exit 1.
Moments are picked with the `DRILL_TEST_CRASH_AT` hook, never with sleeps.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.clihelp import run

pytestmark = [pytest.mark.lab, pytest.mark.aws, pytest.mark.slow]


# region-promotion's steps on lab-aws: 1-3 preconditions, 4 region.isolate,
# 5 db.promote_replica, 6 dns.point, 7 the wait for service_restored
@pytest.mark.parametrize(
    "point", ["step:region-promotion:7:start=term", "step:region-promotion:6:end=int"]
)
def test_stop_after_the_promotion_restores_the_replica(awslab: Path, point: str) -> None:
    res = run(
        awslab,
        "run",
        "region-promotion",
        "--env",
        "lab-aws",
        "--json",
        env={"DRILL_TEST_CRASH_AT": point},
        timeout=300,
    )
    assert f"test hook: {point.split('=')[1]} at" in res.err
    doc = json.loads(res.out)
    rollbacks = [
        s
        for s in json.loads(run(awslab, "runs", "show", doc["run_id"], "--json").out)["steps"]
        if s["phase"] == "rollback"
    ]
    assert [s["status"] for s in rollbacks] == ["succeeded"] * 3, rollbacks
    assert (res.code, doc["status"]) == (3, "aborted"), res.err
    assert [s["status"] for s in doc["scenarios"]] == ["aborted"]
    # nothing was left pending, and the next run finds the environment whole
    rec = run(awslab, "recover", "--env", "lab-aws")
    assert rec.code == 0 and "no run awaits recovery" in rec.err, rec.err
    again = run(awslab, "run", "region-promotion", "--env", "lab-aws", "--json", timeout=300)
    assert again.code == 0, again.err
    assert json.loads(again.out)["status"] == "succeeded"


FAILOVER_THEN_WAIT = """id: fo
title: a failover, stopped at once
steps:
  - name: force a failover
    action: db.failover
    args: {target: primary_db, wait: false}
  - name: hold
    kind: wait
    duration: 10m
"""


def test_stop_during_a_failover_leaves_a_multi_az_pair(awslab: Path) -> None:
    """The failover's undo (db.reprotect: RDS re-protects itself) waits until RDS says
    the instance is available and Multi-AZ again; it returned at once, and the next
    drill found the pair still failing over: "system not in steady state", exit 1."""
    (awslab / "runbooks").mkdir(exist_ok=True)
    (awslab / "runbooks" / "fo.yaml").write_text(FAILOVER_THEN_WAIT)
    point = "step:fo:2:start=term"
    res = run(
        awslab,
        "run",
        "fo",
        "--env",
        "lab-aws",
        "--json",
        env={"DRILL_TEST_CRASH_AT": point},
        timeout=300,
    )
    assert "test hook: term at step:fo:2:start" in res.err
    assert (res.code, json.loads(res.out)["status"]) == (3, "aborted"), res.err
    # at once: the steady state of the bundled experiment is a Multi-AZ pair
    again = run(awslab, "run", "multi-az-failover", "--env", "lab-aws", "--json", timeout=300)
    assert (again.code, json.loads(again.out)["status"]) == (0, "succeeded"), again.err


@pytest.mark.parametrize("how", ["kill", "term"])
def test_a_stop_while_the_vault_restores_deletes_the_restored_instance(
    awslab: Path, how: str
) -> None:
    """AWS Backup cannot tag what it restores: drill tags the new instance once the
    restore job is done. Stopped (or killed) while the job ran — on AWS, tens of minutes
    — the undo refused to delete it ('not created by drill (no drill:created-by tag)'):
    the run ended rollback_failed with a restored database left running, on the lab a
    real PostgreSQL server. The instance named for this run (its id is in the name) is
    this run's restore, and is deleted as the tagged one is."""
    from tests.e2e.conftest import aws_client

    point = "aws:db.restore:started"
    res = run(
        awslab,
        "run",
        "backup-restore",
        "--env",
        "lab-aws",
        "--json",
        env={"DRILL_TEST_CRASH_AT": f"{point}={how}"},
        timeout=600,
    )
    assert f"test hook: {how} at {point}" in res.err
    if how == "kill":
        rec = run(awslab, "recover", "--env", "lab-aws", timeout=600)
        assert rec.code == 0, rec.err
        assert "rollback_failed" not in rec.err and ": crashed" in rec.err, rec.err
        run_id = json.loads(run(awslab, "runs", "list", "--json").out)[0]["run_id"]
    else:
        doc = json.loads(res.out)
        assert (res.code, doc["status"]) == (3, "aborted"), res.err
        run_id = doc["run_id"]
    restored = f"drill-{run_id}-restore"
    shown = json.loads(run(awslab, "runs", "show", run_id, "--json").out)
    undo = [s for s in shown["steps"] if s["action"] == "db.delete_restored"]
    assert [(s["status"], s["output"]["deleted"]) for s in undo] == [("succeeded", restored)]
    assert restored not in [
        d["DBInstanceIdentifier"]
        for d in aws_client(awslab, "rds").describe_db_instances()["DBInstances"]
    ]
