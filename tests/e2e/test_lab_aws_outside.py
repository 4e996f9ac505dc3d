"""The AWS-shaped lab as an outsider uses it: an SRE's boto3, drill with `probes: none`.

The Terraform state read with plain json: every resource has its own `id` (the primary
and the replica shared one, moto's constant DbiResourceId).

AWS Backup (DESIGN 12, "restore into a new instance and its deletion"): the restore
an SRE does by hand reads the recovery point and its restore metadata first; both
answered 404, and the vault said it held no recovery point while it listed one.

An AZ loss, seen only through the AWS API (DESIGN 4 and 12): with `probes: none` RTO
comes from AWS's own signals. The network-ACL swap cuts the primary's AZ; the lab's
controller really fails over a moment later, as RDS Multi-AZ does. Before, drill took
the instance's `available` — which RDS reports until it notices the loss — for the
service restored: the scenario ended with an RTO of a few milliseconds, undid the
isolation before the controller noticed it, and the database never failed over. Now
drill waits until RDS has moved the instance off the lost AZ, and the lab reports that
failover with RDS's two events, as a forced one.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.clihelp import run
from tests.e2e.conftest import lab_aws_env, lab_status

pytestmark = [pytest.mark.lab, pytest.mark.aws, pytest.mark.slow]


def _ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _promotions(cwd: Path) -> list[datetime]:
    lines = (cwd / ".drill" / "lab" / "ground-truth.jsonl").read_text().splitlines()
    events = [json.loads(line) for line in lines]
    return [_ts(e["wall"]) for e in events if e["event"] == "promotion_done"]


def test_terraform_state_ids_are_unique_and_match_the_api(awslab: Path) -> None:
    import boto3

    aws = lab_status(awslab)["aws"]
    state = json.loads(Path(aws["terraform_state"]).read_text())
    ids = [(r["type"], i["attributes"]["id"]) for r in state["resources"] for i in r["instances"]]
    assert len(ids) == len(set(ids)), ids
    dbs = {
        r["name"]: (r, r["instances"][0]["attributes"])
        for r in state["resources"]
        if r["type"] == "aws_db_instance"
    }
    for name, region in (("primary", aws["region"]), ("replica", aws["dr_region"])):
        _res, attrs = dbs[name]
        rds = boto3.client(
            "rds",
            region_name=region,
            endpoint_url=aws["endpoint_url"],
            aws_access_key_id="x",
            aws_secret_access_key="x",
        )
        (db,) = rds.describe_db_instances(DBInstanceIdentifier=attrs["identifier"])["DBInstances"]
        assert db["DbiResourceId"] == attrs["resource_id"] == attrs["id"]
        assert db["DBInstanceArn"] == attrs["arn"]
        assert db["MultiAZ"] is attrs["multi_az"]
    assert dbs["replica"][0]["provider"].endswith('"].usw2')
    assert dbs["replica"][1]["replicate_source_db"] == dbs["primary"][1]["arn"]


def test_az_loss_waits_for_rds_to_fail_over(awslab: Path) -> None:
    lab_aws_env(awslab, "nonet", probes="none")
    before = lab_status(awslab)["primary"]
    res = run(awslab, "run", "az-loss", "--env", "nonet", "--json", timeout=600)
    assert res.code == 0, res.err
    doc = json.loads(res.out)
    scenario = doc["scenarios"][0]
    assert scenario["rpo_s"] is None
    # the lab really failed over, and drill's RTO ends after the standby took over
    assert lab_status(awslab)["primary"] != before
    fault = _ts(scenario["fault_injected_at"])
    promoted = [t for t in _promotions(awslab) if t > fault]
    assert promoted, "the lab's controller never promoted the standby"
    assert _ts(scenario["service_restored_at"]) >= promoted[0]
    shown = json.loads(run(awslab, "runs", "show", doc["run_id"], "--json").out)
    (rto,) = [m for m in shown["measurements"] if m["name"] == "rto"]
    assert rto["method"] == "rds-events", rto
    kinds = [e["kind"] for e in rto["details"]["events"] if _ts(e["at"]) >= fault]
    assert kinds[-2:] == ["failover_started", "failover_completed"], rto["details"]


def test_aws_backup_restore_as_an_sre_does_it(awslab: Path) -> None:
    import time

    import boto3
    import psycopg
    from botocore.exceptions import ClientError

    url = lab_status(awslab)["aws"]["endpoint_url"]
    keys = {"aws_access_key_id": "x", "aws_secret_access_key": "x"}
    backup = boto3.client("backup", region_name="us-east-1", endpoint_url=url, **keys)
    rds = boto3.client("rds", region_name="us-east-1", endpoint_url=url, **keys)
    state = json.loads(Path(lab_status(awslab)["aws"]["terraform_state"]).read_text())
    (vault,) = [r for r in state["resources"] if r["type"] == "aws_backup_vault"]
    name = vault["instances"][0]["attributes"]["name"]
    points = backup.list_recovery_points_by_backup_vault(BackupVaultName=name)["RecoveryPoints"]
    assert points
    shown = backup.describe_backup_vault(BackupVaultName=name)
    assert shown["NumberOfRecoveryPoints"] == len(points)
    (listed,) = backup.list_backup_vaults()["BackupVaultList"]
    assert listed["NumberOfRecoveryPoints"] == len(points)
    arn = points[-1]["RecoveryPointArn"]
    point = backup.describe_recovery_point(BackupVaultName=name, RecoveryPointArn=arn)
    assert point["Status"] == "COMPLETED" and point["ResourceType"] == "RDS"
    by_resource = backup.list_recovery_points_by_resource(ResourceArn=point["ResourceArn"])
    assert [p["RecoveryPointArn"] for p in by_resource["RecoveryPoints"]] == [
        p["RecoveryPointArn"] for p in points
    ]
    meta = backup.get_recovery_point_restore_metadata(BackupVaultName=name, RecoveryPointArn=arn)
    metadata = meta["RestoreMetadata"]
    assert metadata["DBInstanceIdentifier"] == "drill-lab-db"
    metadata["DBInstanceClass"] = "db.r6g.large"  # a bigger machine than the source's
    with pytest.raises(ClientError) as refused:  # passed back unchanged: the source's name
        backup.start_restore_job(RecoveryPointArn=arn, Metadata=metadata, IamRoleArn="r")
    assert "already exists" in str(refused.value)
    metadata["DBInstanceIdentifier"] = "sre-restored"
    job = backup.start_restore_job(
        RecoveryPointArn=arn, Metadata=metadata, IamRoleArn="r", ResourceType="RDS"
    )["RestoreJobId"]
    deadline = time.monotonic() + 300  # bounds a hang; nothing is timed
    while (done := backup.describe_restore_job(RestoreJobId=job))["Status"] != "COMPLETED":
        assert done["Status"] in ("PENDING", "RUNNING") and time.monotonic() < deadline, done
        time.sleep(0.2)
    (db,) = rds.describe_db_instances(DBInstanceIdentifier="sre-restored")["DBInstances"]
    assert db["DBInstanceArn"] == done["CreatedResourceArn"]
    assert db["DBInstanceClass"] == "db.r6g.large"  # as asked: it was always db.t4g.medium
    ep = db["Endpoint"]
    assert ep["Address"] == "127.0.0.1"
    with psycopg.connect(host=ep["Address"], port=ep["Port"], dbname="app", user="drill") as cn:
        assert cn.execute("SELECT pg_is_in_recovery()").fetchone() == (False,)
    names = [c["name"] for c in lab_status(awslab)["components"]]
    assert "sre-restored" in names
    rds.delete_db_instance(DBInstanceIdentifier="sre-restored", SkipFinalSnapshot=True)
    while "sre-restored" in [c["name"] for c in lab_status(awslab)["components"]]:
        assert time.monotonic() < deadline, "the restored instance's server was not removed"
        time.sleep(0.2)


def test_a_deny_all_rule_on_an_azs_own_acl_isolates_it(awslab: Path) -> None:
    """Network ACL rules are evaluated lowest number first: a deny of all traffic as
    rule 1, in front of the default ACL's allow (rule 100), cuts the subnet as surely as
    a swap onto a deny-all ACL. Only the swap acted on the lab."""
    import boto3

    from tests.integration.lab.conftest import wait_until

    before = lab_status(awslab)
    aws = before["aws"]
    ec2 = boto3.client(
        "ec2",
        region_name=aws["region"],
        endpoint_url=aws["endpoint_url"],
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )
    state = json.loads(Path(aws["terraform_state"]).read_text())
    standby_az = next(c["az"] for c in before["components"] if c["name"] == before["standby"])
    (subnet,) = [
        i["attributes"]["id"]
        for r in state["resources"]
        if r["type"] == "aws_subnet"
        for i in r["instances"]
        if i["attributes"]["availability_zone_id"] == standby_az
    ]
    filters = [{"Name": "association.subnet-id", "Values": [subnet]}]
    (shared,) = ec2.describe_network_acls(Filters=filters)["NetworkAcls"]
    assoc = next(a for a in shared["Associations"] if a["SubnetId"] == subnet)
    own = ec2.create_network_acl(VpcId=shared["VpcId"])["NetworkAcl"]["NetworkAclId"]
    for egress in (False, True):  # its own ACL, open as the shared one is: no cut
        ec2.create_network_acl_entry(
            NetworkAclId=own,
            RuleNumber=100,
            Egress=egress,
            Protocol="-1",
            RuleAction="allow",
            CidrBlock="0.0.0.0/0",
        )
    moved = ec2.replace_network_acl_association(
        AssociationId=assoc["NetworkAclAssociationId"], NetworkAclId=own
    )["NewAssociationId"]
    assert lab_status(awslab)["isolated"] == []
    rule = {"NetworkAclId": own, "RuleNumber": 1, "Egress": False}
    ec2.create_network_acl_entry(**rule, Protocol="-1", RuleAction="deny", CidrBlock="0.0.0.0/0")
    try:
        wait_until(lambda: lab_status(awslab)["isolated"] == [standby_az], 60, "the AZ cut")
    finally:
        ec2.delete_network_acl_entry(**rule)
    wait_until(lambda: lab_status(awslab)["isolated"] == [], 60, "the AZ back")
    ec2.replace_network_acl_association(AssociationId=moved, NetworkAclId=shared["NetworkAclId"])
    ec2.delete_network_acl(NetworkAclId=own)

    # the AZ's components come back as their links do (a standby reconnects): waited for
    def all_up() -> dict[str, Any] | None:
        status = lab_status(awslab)
        return status if {c["state"] for c in status["components"]} == {"up"} else None

    after = wait_until(all_up, 60, "every component up again")
    assert after["primary"] == before["primary"]  # the standby's AZ: no failover


def test_lab_up_after_a_promotion_through_the_api_says_what_it_found(awslab: Path) -> None:
    """`lab up` rebuilds a lab whose usw2 was promoted; it said "no writable primary in
    us-east-1" while that primary took writes. (Last in this module: the lab is rebuilt.)"""
    import boto3

    aws = lab_status(awslab)["aws"]
    rds = boto3.client(
        "rds",
        region_name=aws["dr_region"],
        endpoint_url=aws["endpoint_url"],
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )
    rds.promote_read_replica(DBInstanceIdentifier="drill-lab-dr")
    from tests.integration.lab.conftest import wait_until

    wait_until(
        lambda: (
            next(c for c in lab_status(awslab)["components"] if c["name"] == "usw2")["role"]
            == "primary"
        ),
        120,
        "usw2 to be promoted",
    )
    up = run(awslab, "lab", "up", "--aws", timeout=240)
    assert up.code == 0, up.err
    said = " ".join(up.err.split())
    assert "usw2 was promoted to a standalone primary" in said, said
    assert "no writable primary" not in said
    after = lab_status(awslab)
    assert next(c for c in after["components"] if c["name"] == "usw2")["role"] == "replica"


def test_a_continuous_recovery_point_restores_to_the_time_asked(awslab: Path) -> None:
    """AWS Backup's point-in-time recovery of RDS, as an SRE asks it: the vault's
    continuous recovery point, `RestoreTime` in the metadata. The new instance holds
    what was committed before that time and nothing after it; a time outside the
    window it covers is refused before anything is created."""
    import time
    from datetime import UTC, timedelta

    import psycopg
    from botocore.exceptions import ClientError

    from tests.e2e.conftest import aws_client

    backup, rds = aws_client(awslab, "backup"), aws_client(awslab, "rds")
    points = backup.list_recovery_points_by_backup_vault(BackupVaultName="drill-lab-vault")
    (point,) = [
        p
        for p in points["RecoveryPoints"]
        if ":recovery-point:continuous:" in p["RecoveryPointArn"]
    ]
    assert point["Status"] == "COMPLETED" and point["ResourceType"] == "RDS"
    assert point["CalculatedLifecycle"]["DeleteAt"] > point["CreationDate"]
    arn = point["RecoveryPointArn"]
    shown = backup.describe_recovery_point(BackupVaultName="drill-lab-vault", RecoveryPointArn=arn)
    assert shown["CreationDate"] == point["CreationDate"]
    db = lab_status(awslab)["endpoints"]["db"]
    with psycopg.connect(db, autocommit=True) as cn:
        cn.execute("CREATE TABLE IF NOT EXISTS sre_pitr (n int, at timestamptz default now())")
        cn.execute("INSERT INTO sre_pitr (n) VALUES (1)")
        (first,) = cn.execute("SELECT max(at) FROM sre_pitr WHERE n = 1").fetchone() or (None,)
        deadline = time.monotonic() + 30  # bounds a hang; nothing is timed
        while (cn.execute("SELECT now() - %s", (first,)).fetchone() or (None,))[0] < timedelta(
            milliseconds=200
        ):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        cn.execute("INSERT INTO sre_pitr (n) VALUES (2)")
    to = (first + timedelta(milliseconds=100)).astimezone(UTC)
    meta = {"DBInstanceIdentifier": "sre-pitr"}
    for bad in ("2000-01-01T00:00:00Z", "tomorrow"):
        with pytest.raises(ClientError) as refused:
            backup.start_restore_job(
                RecoveryPointArn=arn, Metadata={**meta, "RestoreTime": bad}, IamRoleArn="r"
            )
        assert "RestoreTime" in str(refused.value)
    assert "sre-pitr" not in [
        d["DBInstanceIdentifier"] for d in rds.describe_db_instances()["DBInstances"]
    ]
    job = backup.start_restore_job(
        RecoveryPointArn=arn,
        Metadata={**meta, "RestoreTime": to.isoformat().replace("+00:00", "Z")},
        IamRoleArn="r",
        ResourceType="RDS",
    )["RestoreJobId"]
    deadline = time.monotonic() + 300
    while (done := backup.describe_restore_job(RestoreJobId=job))["Status"] != "COMPLETED":
        assert done["Status"] in ("PENDING", "RUNNING") and time.monotonic() < deadline, done
        time.sleep(0.2)
    (new,) = rds.describe_db_instances(DBInstanceIdentifier="sre-pitr")["DBInstances"]
    ep = new["Endpoint"]
    with psycopg.connect(host=ep["Address"], port=ep["Port"], dbname="app", user="drill") as cn:
        assert cn.execute("SELECT n FROM sre_pitr ORDER BY n").fetchall() == [(1,)]
    rds.delete_db_instance(DBInstanceIdentifier="sre-pitr", SkipFinalSnapshot=True)
    while "sre-pitr" in [c["name"] for c in lab_status(awslab)["components"]]:
        assert time.monotonic() < deadline, "the restored instance's server was not removed"
        time.sleep(0.2)


def test_an_instance_deleted_while_it_is_restored_leaves_no_server(awslab: Path) -> None:
    """DeleteDBInstance of an instance still `creating` (a restore job just started, then
    thought better of, or a drill rollback after a stop mid-restore): RDS deletes it.
    The lab removed the instance from the API at once but let the restore run on, and the
    restored PostgreSQL server stayed up for good — a database `lab status` listed and no
    AWS call could see or delete."""
    import time

    from tests.e2e.conftest import aws_client

    backup, rds = aws_client(awslab, "backup"), aws_client(awslab, "rds")
    points = backup.list_recovery_points_by_backup_vault(BackupVaultName="drill-lab-vault")
    arn = [
        p["RecoveryPointArn"]
        for p in points["RecoveryPoints"]
        if ":continuous:" not in p["RecoveryPointArn"]
    ][-1]

    def restore(name: str) -> str:
        job = backup.start_restore_job(
            RecoveryPointArn=arn,
            Metadata={"DBInstanceIdentifier": name},
            IamRoleArn="r",
            ResourceType="RDS",
        )
        return str(job["RestoreJobId"])

    restore("sre-second-thoughts")
    (db,) = rds.describe_db_instances(DBInstanceIdentifier="sre-second-thoughts")["DBInstances"]
    assert db["DBInstanceStatus"] == "creating"
    rds.delete_db_instance(DBInstanceIdentifier="sre-second-thoughts", SkipFinalSnapshot=True)
    # the lab does restores one after another: once a later one is done, so is the first
    job = restore("sre-after")
    deadline = time.monotonic() + 300  # bounds a hang; nothing is timed
    while (done := backup.describe_restore_job(RestoreJobId=job))["Status"] != "COMPLETED":
        assert done["Status"] in ("PENDING", "RUNNING") and time.monotonic() < deadline, done
        time.sleep(0.2)
    rds.delete_db_instance(DBInstanceIdentifier="sre-after", SkipFinalSnapshot=True)
    while "sre-after" in (names := [c["name"] for c in lab_status(awslab)["components"]]):
        assert time.monotonic() < deadline, "the restored instance's server was not removed"
        time.sleep(0.2)
    assert "sre-second-thoughts" not in names
    assert "sre-second-thoughts" not in [
        d["DBInstanceIdentifier"] for d in rds.describe_db_instances()["DBInstances"]
    ]


def test_the_primary_names_its_continuous_recovery_point(awslab: Path) -> None:
    """RDS names the AWS Backup continuous recovery point of an instance it keeps
    (DescribeDBInstances' AwsBackupRecoveryPointArn): how a script finds the point to
    restore in time from, without listing the vault. The lab's vault holds one of the
    primary, and the primary named none."""
    from tests.e2e.conftest import aws_client

    (db,) = aws_client(awslab, "rds").describe_db_instances(DBInstanceIdentifier="drill-lab-db")[
        "DBInstances"
    ]
    arn = db.get("AwsBackupRecoveryPointArn")
    assert arn and ":recovery-point:continuous:" in arn, db
    point = aws_client(awslab, "backup").describe_recovery_point(
        BackupVaultName="drill-lab-vault", RecoveryPointArn=arn
    )
    assert point["ResourceArn"] == db["DBInstanceArn"] and point["Status"] == "COMPLETED"


def test_a_point_in_time_restore_outside_the_archive_is_refused(awslab: Path) -> None:
    """RDS's own point-in-time restore (RestoreDBInstanceToPointInTime with
    `RestoreTime`), as a script asks it: a time before the lab's oldest backup or in the
    future is refused before anything is created, as RDS refuses one outside
    EarliestRestorableTime – LatestRestorableTime, and as the lab's AWS Backup refuses
    it for its continuous recovery point. The lab answered `creating`, the restore
    failed behind the API, and the instance said `failed` with the primary's endpoint.
    A time inside the window is still restored."""
    import time
    from datetime import UTC, timedelta

    from botocore.exceptions import ClientError

    from tests.e2e.conftest import aws_client

    rds = aws_client(awslab, "rds")
    now = datetime.now(UTC)
    for when in (now - timedelta(days=1), now + timedelta(hours=1)):
        with pytest.raises(ClientError) as refused:
            rds.restore_db_instance_to_point_in_time(
                SourceDBInstanceIdentifier="drill-lab-db",
                TargetDBInstanceIdentifier="sre-out-of-window",
                RestoreTime=when,
            )
        assert refused.value.response["Error"]["Code"] == "InvalidParameterValue"
        assert "outside the restorable window" in str(refused.value), refused.value
    names = [d["DBInstanceIdentifier"] for d in rds.describe_db_instances()["DBInstances"]]
    assert "sre-out-of-window" not in names
    answer = rds.restore_db_instance_to_point_in_time(
        SourceDBInstanceIdentifier="drill-lab-db",
        TargetDBInstanceIdentifier="sre-in-window",
        RestoreTime=datetime.now(UTC) - timedelta(seconds=1),
    )
    assert answer["DBInstance"]["DBInstanceStatus"] == "creating"
    rds.delete_db_instance(DBInstanceIdentifier="sre-in-window", SkipFinalSnapshot=True)
    deadline = time.monotonic() + 300  # bounds a hang; nothing is timed
    while "sre-in-window" in [c["name"] for c in lab_status(awslab)["components"]]:
        assert time.monotonic() < deadline, "the restored instance's server was not removed"
        time.sleep(0.2)


def test_the_global_record_names_an_instance_in_any_case(awslab: Path) -> None:
    """DNS names are case-insensitive: a Route53 UPSERT of the global record to
    `DRILL-LAB-DR.lab-aws.internal` names the replica, as `drill-lab-dr…` does. The lab
    left its global endpoint on the primary while the record said it had moved (and the
    reverse: pointed back in capitals, it stayed on the replica)."""
    from tests.e2e.conftest import aws_client

    r53 = aws_client(awslab, "route53")
    (zone,) = r53.list_hosted_zones()["HostedZones"]

    def point(value: str) -> str:
        r53.change_resource_record_sets(
            HostedZoneId=zone["Id"],
            ChangeBatch={
                "Changes": [
                    {
                        "Action": "UPSERT",
                        "ResourceRecordSet": {
                            "Name": "db.lab-aws.internal.",
                            "Type": "CNAME",
                            "TTL": 5,
                            "ResourceRecords": [{"Value": value}],
                        },
                    }
                ]
            },
        )
        return str(lab_status(awslab)["global_target"])

    assert point("DRILL-LAB-DR.Lab-Aws.Internal.") == "usw2"
    assert point("DRILL-LAB-DB.LAB-AWS.INTERNAL") == "db-endpoint"


def test_lab_up_writes_a_terraform_state_that_is_gone_afresh(awslab: Path) -> None:
    """The AWS API writes its Terraform state once, when it seeds its resources. Once
    that file was gone (a cleanup of `.drill`, a disk fault) every command on `lab-aws`
    failed "cannot read Terraform state" with the hint to check drill.yaml — where
    lab-aws has no entry — and `drill lab up --aws` said the lab was healthy and left it
    so. Now the hint names `drill lab up --aws`, which says what it found and restarts
    the API, whose new state resolves every role again."""
    state = Path(lab_status(awslab)["aws"]["terraform_state"])
    state.unlink()
    broken = run(awslab, "inventory", "--env", "lab-aws")
    assert broken.code == 2, broken.err
    assert "drill lab up --aws" in broken.err and "drill.yaml" not in broken.err, broken.err
    up = run(awslab, "lab", "up", "--aws", timeout=240)
    assert up.code == 0, up.err
    assert f"the Terraform state {state} cannot be read" in up.err, up.err
    assert json.loads(state.read_text())["version"] == 4
    inv = run(awslab, "inventory", "--env", "lab-aws", "--json")
    assert inv.code == 0, inv.err
    doc = json.loads(inv.out)
    assert {"primary_db", "dr_replica", "dns_record", "backup_vault"} <= set(doc["roles"])
    assert doc["drift_checked"] and doc["drift"] == []


def test_lab_up_brings_back_a_replica_deleted_through_the_api(awslab: Path) -> None:
    """RDS lets a client delete a read replica (chaosaws's `delete_db_instance`); the
    lab's `usw2` runs on until a replica is created under its name. `drill lab up
    --aws` said the lab was healthy and left lab-aws without its DR replica: its
    inventory drifted ("replica missing") and every region-promotion failed its
    precondition. It now says what the API lost and restarts the API, which seeds both
    databases afresh."""
    from tests.e2e.conftest import aws_client

    aws_client(awslab, "rds", "us-west-2").delete_db_instance(
        DBInstanceIdentifier="drill-lab-dr", SkipFinalSnapshot=True
    )
    drifted = json.loads(run(awslab, "inventory", "--env", "lab-aws", "--json").out)
    assert [d["role"] for d in drifted["drift"]] == ["dr_replica"], drifted["drift"]
    up = run(awslab, "lab", "up", "--aws", timeout=240)
    assert up.code == 0, up.err
    assert "the AWS API has no drill-lab-dr in us-west-2" in up.err, up.err
    inv = run(awslab, "inventory", "--env", "lab-aws", "--json")
    assert inv.code == 0, inv.err
    assert json.loads(inv.out)["drift"] == []
    (replica,) = aws_client(awslab, "rds", "us-west-2").describe_db_instances(
        DBInstanceIdentifier="drill-lab-dr"
    )["DBInstances"]
    assert replica["ReadReplicaSourceDBInstanceIdentifier"].endswith(":db:drill-lab-db")


def test_an_fis_experiment_is_refused_not_left_initiating(awslab: Path) -> None:
    """AWS FIS on the AWS-shaped lab: moto accepted StartExperiment (chaosaws's
    `fis.actions.start_experiment`, drill's az-loss with `fis_templates`) and the
    experiment stayed `initiating` while the lab went on untouched — a fault that
    "started" and never happened; drill waited for it to run until the step's timeout.
    It is refused, saying how the lab cuts an AZ, and drill's step fails at once."""
    from botocore.exceptions import ClientError

    from tests.e2e.conftest import aws_client

    aws = lab_status(awslab)["aws"]
    state = json.loads(Path(aws["terraform_state"]).read_text())
    subnets = [
        i["attributes"]["arn"]
        for r in state["resources"]
        if r["type"] == "aws_subnet"
        for i in r["instances"]
    ]
    fis = aws_client(awslab, "fis")
    template = fis.create_experiment_template(
        clientToken="sre-az-cut",
        description="cut one AZ",
        roleArn="arn:aws:iam::123456789012:role/fis",
        stopConditions=[{"source": "none"}],
        targets={
            "subnets": {
                "resourceType": "aws:ec2:subnet",
                "resourceArns": subnets[:1],
                "selectionMode": "ALL",
            }
        },
        actions={
            "cut": {
                "actionId": "aws:network:disrupt-connectivity",
                "parameters": {"duration": "PT2M", "scope": "all"},
                "targets": {"Subnets": "subnets"},
            }
        },
    )["experimentTemplate"]["id"]
    with pytest.raises(ClientError) as refused:
        fis.start_experiment(clientToken="sre-run", experimentTemplateId=template)
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert "network ACL" in str(refused.value), refused.value
    lab_aws_env(awslab, "lab-fis", fis_templates={"az-loss": template})
    res = run(awslab, "run", "az-loss", "--env", "lab-fis", "--json", timeout=300)
    assert res.code == 1, res.err
    shown = json.loads(run(awslab, "runs", "show", json.loads(res.out)["run_id"], "--json").out)
    (fault,) = [s for s in shown["steps"] if s["name"].startswith("lose the availability")]
    assert fault["status"] == "failed", fault
    assert "FIS" in fault["error"] and "network ACL" in fault["error"], fault["error"]
    assert lab_status(awslab)["isolated"] == []


def test_the_replica_lag_grows_while_the_replica_does_not_stream(awslab: Path) -> None:
    """CloudWatch's ReplicaLag of the cross-region replica, what region-promotion's
    precondition reads on AWS: while the replica does not stream (here the region link
    between the regions is gone) it falls further behind every second, as RDS reports
    it. The lab published 0 — no pg_stat_replication row, so "nothing to replay" — and
    a lag budget held on lab-aws while the same check on --env lab said the replica was
    not streaming. (Last in this module: it breaks the link, then `lab up --aws`
    repairs it.)"""
    import os
    import signal
    import time
    from datetime import UTC, timedelta

    from tests.e2e.conftest import aws_client
    from tests.e2e.defs import write

    runbook = write(
        awslab,
        "lag-check.yaml",
        """id: lag-check
title: the DR replica is within a one-second lag budget
scenario: lag-check
steps:
  - name: cross-region replica within one second
    kind: probe
    action: db.replication_lag
    args: {target: dr_replica, max_lag_s: 1}
""",
    )
    ok = run(awslab, "run", str(runbook), "--env", "lab-aws", "--json")
    assert ok.code == 0, ok.err  # streaming: within the budget
    (link,) = [c for c in lab_status(awslab)["components"] if c["name"] == "region-link"]
    os.kill(link["pid"], signal.SIGKILL)
    cw = aws_client(awslab, "cloudwatch", "us-west-2")

    def newest_lag() -> float:
        now = datetime.now(UTC)
        points = cw.get_metric_statistics(
            Namespace="AWS/RDS",
            MetricName="ReplicaLag",
            Dimensions=[{"Name": "DBInstanceIdentifier", "Value": "drill-lab-dr"}],
            StartTime=now - timedelta(minutes=10),
            EndTime=now + timedelta(minutes=1),
            Period=60,
            Statistics=["Maximum"],
        )["Datapoints"]
        return float(max(points, key=lambda p: p["Timestamp"])["Maximum"]) if points else 0.0

    deadline = time.monotonic() + 60  # bounds a hang: the lag grows with the clock
    while newest_lag() < 2.0:
        assert time.monotonic() < deadline, "ReplicaLag did not grow while the replica was cut"
        time.sleep(0.2)
    behind = run(awslab, "run", str(runbook), "--env", "lab-aws", "--json")
    assert behind.code == 1, behind.err
    shown = json.loads(run(awslab, "runs", "show", json.loads(behind.out)["run_id"], "--json").out)
    (step,) = shown["steps"]
    assert step["status"] == "failed" and "exceeds 1s" in json.dumps(step), step
    up = run(awslab, "lab", "up", "--aws", timeout=240)
    assert up.code == 0, up.err
