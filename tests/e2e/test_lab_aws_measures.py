"""What drill measures and records on `lab-aws`, read as an auditor and an AWS engineer
would: the numbers against what the restore and the failover really did, and the API's
account of the resources after each scenario."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.clihelp import run
from tests.e2e.conftest import aws_client, lab_status

pytestmark = [pytest.mark.lab, pytest.mark.aws, pytest.mark.slow]


def _ts(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def _run(awslab: Path, target: str) -> dict[str, Any]:
    res = run(awslab, "run", target, "--env", "lab-aws", "--json", timeout=600)
    assert res.code == 0, res.err
    shown = run(awslab, "runs", "show", json.loads(res.out)["run_id"], "--json")
    assert shown.code == 0, shown.err
    doc: dict[str, Any] = json.loads(shown.out)
    return doc


def test_backup_restore_rpo_comes_from_the_continuous_recovery_point(awslab: Path) -> None:
    """The vault holds a continuous recovery point (AWS Backup's PITR of RDS: the lab's
    WAL archive): the restore goes to just before the disaster, so the RPO is what the
    heartbeats lost, not the age of the newest scheduled backup. It was that age (up to
    backup_interval_s, 15 min; more when a scheduled backup failed during an earlier
    scenario) against the runbook's 15 min objective: a quarterly-dr on a lab up for a
    while met or missed it by the clock."""
    shown = _run(awslab, "backup-restore")
    rpo = next(m for m in shown["measurements"] if m["name"] == "rpo")
    restore = next(s for s in shown["steps"] if s["action"] == "db.restore")
    point = restore["output"]["recovery_point"]
    assert ":recovery-point:continuous:" in point, restore["output"]
    listed = aws_client(awslab, "backup").list_recovery_points_by_backup_vault(
        BackupVaultName="drill-lab-vault"
    )["RecoveryPoints"]
    assert point in [p["RecoveryPointArn"] for p in listed]
    disaster = _ts(rpo["details"]["disaster_at"])
    restored_to = _ts(restore["output"]["restored_to"])
    assert restored_to == pytest.approx(disaster - 1, abs=1e-3)  # drill's margin: 1 s
    if rpo["details"]["surviving"]:  # the heartbeats written up to then came back
        newest_surviving = _ts(rpo["details"]["newest_surviving_at"])
        assert newest_surviving <= restored_to
        assert rpo["value"] == pytest.approx(disaster - newest_surviving, abs=1e-3)
    else:  # the scenario's first heartbeat came within that last second
        assert rpo["value"] == pytest.approx(disaster - restored_to, abs=1e-3), rpo
    assert shown["scenarios"][0]["met"] is True
    notes = shown["scenario_notes"]["backup-restore"]
    assert notes["restored_to"] == restore["output"]["restored_to"]
    # the rollback deleted the restored instance: gone, and RDS's events say so (they
    # said it was created, never that it was deleted)
    rds = aws_client(awslab, "rds")
    name = restore["output"]["new_instance"]
    assert name not in [
        d["DBInstanceIdentifier"] for d in rds.describe_db_instances()["DBInstances"]
    ]
    events = rds.describe_events(SourceIdentifier=name, SourceType="db-instance", Duration=60)
    said = [e["Message"] for e in events["Events"]]
    assert said[0] == "DB instance created" and said[-1] == "DB instance deleted", said
    # lab-aws exists without configuration: its probes are the lab's endpoints, which
    # the evidence said came from "probes.db in drill.yaml" (there is no drill.yaml)
    assert not (awslab / "drill.yaml").exists()
    assert notes["probe_db"].startswith("the lab's database endpoint"), notes
    assert notes["probe_http"].startswith("the lab's load balancer"), notes
    plan = run(awslab, "plan", "backup-restore", "--env", "lab-aws", "--json")
    assert plan.code == 0, plan.err
    probes = json.loads(plan.out)["probes"]
    assert probes["global_db"].startswith("the lab's global endpoint"), probes
    assert "drill.yaml" not in json.dumps(probes).replace("has no drill.yaml entry", "")


def test_the_rebuilt_replica_is_described_as_a_single_az_replica(awslab: Path) -> None:
    """After region-promotion's rollback re-created the replica, DescribeDBInstances
    gave it the primary's secondary AZ (us-east-1…) — a Single-AZ instance in us-west-2
    has none."""
    _run(awslab, "region-promotion")
    dr = aws_client(awslab, "rds", "us-west-2").describe_db_instances(
        DBInstanceIdentifier="drill-lab-dr"
    )["DBInstances"][0]
    assert dr["DBInstanceStatus"] == "available"
    assert dr["ReadReplicaSourceDBInstanceIdentifier"].endswith(":db:drill-lab-db")
    assert (dr["AvailabilityZone"], dr["MultiAZ"]) == ("us-west-2a", False)
    assert "SecondaryAvailabilityZone" not in dr, dr.get("SecondaryAvailabilityZone")
    primary = aws_client(awslab, "rds").describe_db_instances(DBInstanceIdentifier="drill-lab-db")
    assert primary["DBInstances"][0]["SecondaryAvailabilityZone"].startswith("us-east-1")


def _isolate_calls(awslab: Path) -> list[dict[str, Any]]:
    res = run(awslab, "plan", "az-loss", "--env", "lab-aws", "--json")
    assert res.code == 0, res.err
    steps = json.loads(res.out)["scenarios"][0]["steps"]
    calls: list[dict[str, Any]] = next(s for s in steps if s["action"] == "az.isolate")["calls"]
    return calls


def test_after_a_failover_the_plan_does_not_name_the_standbys_az(awslab: Path) -> None:
    """The Terraform state keeps the AZ the primary was created in; after a failover the
    plan of az-loss said it would cut that AZ (drill:scope=az:us-east-1b, its subnets)
    while the run cut the AZ RDS reported then (us-east-1c)."""
    rds = aws_client(awslab, "rds")
    stated = next(
        r["instances"][0]["attributes"]["availability_zone"]
        for r in json.loads(Path(lab_status(awslab)["aws"]["terraform_state"]).read_text())[
            "resources"
        ]
        if r["type"] == "aws_db_instance" and r["name"] == "primary"
    )
    now = rds.describe_db_instances(DBInstanceIdentifier="drill-lab-db")["DBInstances"][0]
    if now["AvailabilityZone"] == stated:  # move the primary away from the state's AZ
        _run(awslab, "rds-failover")
        now = rds.describe_db_instances(DBInstanceIdentifier="drill-lab-db")["DBInstances"][0]
    assert now["AvailabilityZone"] != stated
    calls = _isolate_calls(awslab)
    assert (calls[0]["operation"], calls[0]["mutating"]) == ("DescribeDBInstances", False)
    shown = json.dumps([c["arguments"] for c in calls])
    assert f"drill:scope=az:{stated}" not in shown
    assert f"when the step runs ({stated} in the Terraform state)" in shown
    shown_run = _run(awslab, "az-loss")
    cut = next(s for s in shown_run["steps"] if s["action"] == "az.isolate")["output"]["az"]
    assert cut == now["AvailabilityZone"]  # the AZ RDS reported, which the plan never denied


def test_the_failover_note_says_which_instance_moved_between_which_azs(awslab: Path) -> None:
    """The run's evidence of rds-failover on AWS said failover: {old_primary: null,
    new_primary: null} (the lab's keys, which the AWS action does not return)."""
    rds = aws_client(awslab, "rds")
    before = rds.describe_db_instances(DBInstanceIdentifier="drill-lab-db")["DBInstances"][0]
    shown = _run(awslab, "rds-failover")
    after = rds.describe_db_instances(DBInstanceIdentifier="drill-lab-db")["DBInstances"][0]
    assert after["AvailabilityZone"] != before["AvailabilityZone"]
    assert shown["scenario_notes"]["rds-failover"]["failover"] == {
        "instance": "drill-lab-db",
        "az_before": before["AvailabilityZone"],
        "az_after": after["AvailabilityZone"],
        "moved": True,
    }


def test_a_new_cross_region_replica_is_a_single_az_instance_in_us_west_2(awslab: Path) -> None:
    """CreateDBInstanceReadReplica in us-west-2 of the primary (what isolated mode's
    region-promotion makes): the new instance was described in AZ us-east-1c, Multi-AZ,
    with a us-east-1 secondary AZ — its source's, copied."""
    import time

    rds = aws_client(awslab, "rds", "us-west-2")
    primary = aws_client(awslab, "rds").describe_db_instances(DBInstanceIdentifier="drill-lab-db")
    rds.create_db_instance_read_replica(
        DBInstanceIdentifier="outside-dr-copy",
        SourceDBInstanceIdentifier=primary["DBInstances"][0]["DBInstanceArn"],
        SourceRegion="us-east-1",
        DBInstanceClass="db.t4g.medium",
    )
    deadline = time.monotonic() + 180
    while True:
        db = rds.describe_db_instances(DBInstanceIdentifier="outside-dr-copy")["DBInstances"][0]
        if db["DBInstanceStatus"] == "available":
            break
        assert time.monotonic() < deadline, db["DBInstanceStatus"]
        time.sleep(0.2)
    try:
        assert (db["AvailabilityZone"], db["MultiAZ"]) == ("us-west-2a", False)
        assert "SecondaryAvailabilityZone" not in db, db.get("SecondaryAvailabilityZone")
        assert db["Endpoint"]["Address"] == "127.0.0.1"
    finally:
        rds.delete_db_instance(DBInstanceIdentifier="outside-dr-copy", SkipFinalSnapshot=True)
    names = {c["name"] for c in lab_status(awslab)["components"]}
    deadline = time.monotonic() + 120
    while "outside-dr-copy" in names:  # its lab server goes with it
        assert time.monotonic() < deadline, names
        time.sleep(0.2)
        names = {c["name"] for c in lab_status(awslab)["components"]}
    left = rds.describe_db_instances()["DBInstances"]
    assert [d["DBInstanceIdentifier"] for d in left] == ["drill-lab-dr"]


def test_inventory_says_where_rds_has_the_primary_now(awslab: Path) -> None:
    """After a failover `drill inventory` showed the primary in the AZ of the Terraform
    state (the standby's now) and nothing else."""
    rds = aws_client(awslab, "rds")
    res = run(awslab, "inventory", "--env", "lab-aws", "--json")
    stated = json.loads(res.out)["roles"]["primary_db"]["az"]
    now = rds.describe_db_instances(DBInstanceIdentifier="drill-lab-db")["DBInstances"][0]
    if now["AvailabilityZone"] == stated:
        _run(awslab, "rds-failover")
        now = rds.describe_db_instances(DBInstanceIdentifier="drill-lab-db")["DBInstances"][0]
    res = run(awslab, "inventory", "--env", "lab-aws", "--json")
    assert res.code == 0, res.err
    primary = json.loads(res.out)["roles"]["primary_db"]
    assert primary["az"] == stated != now["AvailabilityZone"]
    assert primary["az_now"] == now["AvailabilityZone"]
    assert primary["secondary_az_now"] == now["SecondaryAvailabilityZone"] == stated
    text = run(awslab, "inventory", "--env", "lab-aws")
    assert f"{now['AvailabilityZone']} now (state: {stated})" in " ".join(text.out.split())


def test_a_lab_whose_aws_api_died_says_so(awslab: Path) -> None:
    """The API process killed behind drill's back: `--env lab-aws` said the lab 'does
    not run here' while `drill lab status` showed it running; it names the API that is
    gone, and `drill lab up --aws` brings it back (last in this module: it restarts
    the API)."""
    import os
    import signal
    import time

    api = next(c for c in lab_status(awslab)["components"] if c["name"] == "aws-api")
    os.kill(api["pid"], signal.SIGKILL)
    deadline = time.monotonic() + 30
    while lab_status(awslab)["aws"] is not None:  # until the lab sees it gone
        assert time.monotonic() < deadline
    res = run(awslab, "plan", "rds-failover", "--env", "lab-aws")
    assert res.code == 2
    assert "does not run here" not in res.err
    assert f"its AWS API (aws-api, pid {api['pid']}) does not" in " ".join(res.err.split())
    assert "drill lab up --aws" in res.err and "Traceback" not in res.err
    up = run(awslab, "lab", "up", "--aws", timeout=240)
    assert up.code == 0, up.err
    assert run(awslab, "plan", "rds-failover", "--env", "lab-aws").code == 0


def test_recovery_without_the_aws_api_keeps_the_run_for_a_lab_repair(awslab: Path) -> None:
    """drill died with an AZ of lab-aws cut, then the lab's AWS API died too: `drill
    recover` failed each rollback ('no provider to run the rollback with') and closed
    the run rollback_failed, the AZ still cut. It now changes nothing and says how to
    get out: `drill lab up --aws --force` restarts the API and repairs the lab in place
    of the rollbacks, recorded as not played."""
    import os
    import signal
    import time

    killed = run(
        awslab,
        "run",
        "az-loss",
        "--env",
        "lab-aws",
        env={"DRILL_TEST_CRASH_AT": "step:az-loss:6:end=kill"},
        timeout=300,
    )
    assert killed.code == -signal.SIGKILL or killed.code == 137, killed.err
    run_id = json.loads(run(awslab, "runs", "list", "--json").out)[0]["run_id"]
    api = next(c for c in lab_status(awslab)["components"] if c["name"] == "aws-api")
    os.kill(api["pid"], signal.SIGKILL)
    deadline = time.monotonic() + 30
    while lab_status(awslab)["aws"] is not None:
        assert time.monotonic() < deadline
    res = run(awslab, "recover", "--env", "lab-aws")
    assert res.code == 2, res.err
    said = " ".join(res.err.split())
    assert f"run {run_id} awaits recovery on lab-aws, and its rollbacks cannot be played" in said
    assert "drill lab up --aws --force" in said and "Traceback" not in said
    shown = json.loads(run(awslab, "runs", "show", run_id, "--json").out)
    assert shown["status"] == "running"  # still awaiting recovery: nothing was played
    up = run(awslab, "lab", "up", "--aws", "--force", timeout=300)
    assert up.code == 0, up.err
    shown = json.loads(run(awslab, "runs", "show", run_id, "--json").out)
    assert shown["status"] == "crashed", shown["status"]
    assert all(s["status"] == "cancelled" for s in shown["steps"] if s["phase"] == "rollback"), (
        shown["steps"]
    )
    assert "rollback_failed" not in {f["kind"] for f in shown["findings"]}
    status = lab_status(awslab)
    assert all(c["state"] == "up" for c in status["components"]), status["components"]
    ec2 = aws_client(awslab, "ec2")
    assert not [
        a
        for a in ec2.describe_network_acls()["NetworkAcls"]
        if any(t["Key"] == "drill:scope" for t in a.get("Tags", []))
    ]
    db = aws_client(awslab, "rds").describe_db_instances(DBInstanceIdentifier="drill-lab-db")
    assert db["DBInstances"][0]["DBInstanceStatus"] == "available"


def test_the_plan_says_what_the_run_does_to_the_database(awslab: Path) -> None:
    """`drill plan` listed data.verify as 'SELECT / INSERT drill_probe' (it reads the
    dataset and writes nothing), data.drop_table as 'DROP / CREATE TABLE' (it only
    drops), and the restored instance's DeleteDBInstance without the
    DeleteAutomatedBackups=True the run sends."""
    plan = run(awslab, "plan", "backup-restore", "--env", "lab-aws", "--json")
    assert plan.code == 0, plan.err
    steps = json.loads(plan.out)["scenarios"][0]["steps"]
    sql = {
        (st["phase"], st["action"]): st["calls"][0]["operation"]
        for st in steps
        if st.get("action", "").startswith(("data.", "db.writable"))
    }
    verify = sql[("precondition", "data.verify")]
    assert "drill_dataset" in verify and "INSERT" not in verify, verify
    assert sql[("verification", "data.verify")] == verify
    assert sql[("step", "data.drop_table")] == "DROP TABLE drill_dataset"
    (restore,) = [st for st in steps if st.get("action") == "db.restore"]
    assert "CREATE TABLE drill_dataset" in next(
        st["rollback"]["calls"][0]["operation"]
        for st in steps
        if st.get("action") == "data.drop_table"
    )
    (planned,) = [c for c in restore["rollback"]["calls"] if c["operation"] == "DeleteDBInstance"]
    shown = _run(awslab, "backup-restore")
    (undo,) = [s for s in shown["steps"] if s["action"] == "db.delete_restored"]
    (sent,) = [c for c in undo["output"]["api_calls"] if c["operation"] == "DeleteDBInstance"]
    assert set(planned["arguments"]) == set(sent["params"]), (planned, sent)
    # the instance the run deletes is the one its restore named, which the plan said
    # as `new_instance=None` and `<restored instance>`
    assert restore["rollback"]["args"] == {}, restore["rollback"]
    name = planned["arguments"]["DBInstanceIdentifier"]
    assert sent["params"]["DBInstanceIdentifier"] == name.replace("<run-id>", shown["run_id"])
    assert {k: v for k, v in planned["arguments"].items() if isinstance(v, bool)} == {
        k: v for k, v in sent["params"].items() if isinstance(v, bool)
    }
    # and the restore job's: the role AWS Backup assumes and the resource type
    (planned,) = [c for c in restore["calls"] if c["operation"] == "StartRestoreJob"]
    (done,) = [s for s in shown["steps"] if s["action"] == "db.restore"]
    (sent,) = [c for c in done["output"]["api_calls"] if c["operation"] == "StartRestoreJob"]
    assert set(planned["arguments"]) == set(sent["params"]), (planned, sent)
