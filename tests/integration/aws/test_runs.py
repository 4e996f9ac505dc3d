"""`drill run <scenario> --env aws --yes` on the emulator: exactly the expected API
calls, as the moto server itself recorded them, and rollbacks that restore the state."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.integration.aws.conftest import Stack, drill

pytestmark = pytest.mark.aws


def _run(
    capsys: pytest.CaptureFixture[str], stack: Stack, *argv: str
) -> tuple[int, dict[str, Any]]:
    """Run drill; keep exactly the requests the run made (the test's own excluded)."""
    capsys.readouterr()
    stack.moto._post("/moto-api/recorder/reset-recording")
    code = drill("run", *argv, "--json")
    stack.run_requests = stack.moto.requests()
    out = capsys.readouterr()
    return code, json.loads(out.out) if out.out.strip() else {"stderr": out.err}


def _detail(capsys: pytest.CaptureFixture[str], run_id: str) -> dict[str, Any]:
    capsys.readouterr()
    assert drill("runs", "show", run_id, "--json") == 0
    return json.loads(capsys.readouterr().out)


def _mutations(stack: Stack) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for r in stack.run_requests:
        op = r["operation"]
        if not op.startswith(("Describe", "List", "Get", "GET ")):
            out.append((op, r))
    return out


def test_rds_failover(aws_stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    code, doc = _run(capsys, aws_stack, "rds-failover", "--env", "aws", "--yes")
    assert code == 0, doc
    muts = _mutations(aws_stack)
    assert [m[0] for m in muts] == ["RebootDBInstance"]
    params = muts[0][1]["params"]
    assert params["DBInstanceIdentifier"] == "prod-db" and params["ForceFailover"] == "true"
    assert muts[0][1]["region"] == "us-east-1"
    detail = _detail(capsys, doc["run_id"])
    rto = [m for m in detail["measurements"] if m["name"] == "rto"]
    assert rto and rto[0]["method"] == "rds-instance-status"  # probes: none — and says so
    sc = detail["scenarios"][0]
    assert sc["rpo_s"] is None
    rollback = [s for s in detail["steps"] if s["phase"] == "rollback"]
    assert rollback[0]["action"] == "db.reprotect" and rollback[0]["output"]["noop"] is True
    assert_policy_covers(aws_stack, "rds-failover", capsys)


def test_region_promotion_and_rollback(
    aws_stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    r53 = aws_stack.client("route53")
    zone = aws_stack.attrs("aws_route53_record.db")["zone_id"]

    def record() -> list[str]:
        sets = r53.list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]
        return [
            r["Value"]
            for s in sets
            if s["Name"] == "db.example.internal."
            for r in s["ResourceRecords"]
        ]

    original = record()
    code, doc = _run(capsys, aws_stack, "region-promotion", "--env", "aws", "--yes")
    assert code == 0, doc
    ops = [(m[0], m[1]["region"]) for m in _mutations(aws_stack)]
    change = [o for o in ops if o[0].startswith("POST") and "/rrset" in o[0]]
    assert ops[0] == ("PromoteReadReplica", "us-west-2")
    assert len(change) == 2  # the repoint, then the rollback's restore
    # rollbacks: the record back first (newest first), then the replica rebuilt
    assert [o[0] for o in ops if not o[0].startswith("POST")] == [
        "PromoteReadReplica",
        "DeleteDBInstance",
        "CreateDBInstanceReadReplica",
    ]
    assert record() == original
    dr = aws_stack.client("rds", "us-west-2").describe_db_instances(
        DBInstanceIdentifier="prod-db-dr"
    )["DBInstances"][0]
    assert dr["ReadReplicaSourceDBInstanceIdentifier"].endswith(":db:prod-db")
    detail = _detail(capsys, doc["run_id"])
    steps = {s["name"]: s for s in detail["steps"]}
    repoint = steps["point the global record at the promoted replica"]["output"]
    dr_endpoint = aws_stack.attrs("module.dr.aws_db_instance.replica")["address"]
    assert repoint["values"] == [dr_endpoint] and repoint["previous"] == original
    # the plan names every argument the rebuild sent: it left out the class the DR
    # replica is re-created with (db.r6g.large when neither RDS nor the state says)
    (rebuild,) = [s for s in detail["steps"] if s["action"] == "db.rebuild_replica"]
    (sent,) = [c for c in rebuild["output"]["api_calls"] if c["operation"].startswith("Create")]
    assert drill("plan", "region-promotion", "--env", "aws", "--json") == 0
    plan = json.loads(capsys.readouterr().out)
    (planned,) = [
        c
        for st in plan["scenarios"][0]["steps"]
        for c in [*st.get("calls", []), *(st.get("rollback") or {}).get("calls", [])]
        if c["operation"] == "CreateDBInstanceReadReplica"
    ]
    assert set(planned["arguments"]) == set(sent["params"]), (planned, sent)
    assert_policy_covers(aws_stack, "region-promotion", capsys)


def test_backup_restore_new_tagged_instance_then_deleted(
    aws_stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    code, doc = _run(capsys, aws_stack, "backup-restore", "--env", "aws", "--yes")
    assert code == 0, doc
    muts = _mutations(aws_stack)
    assert [m[0] for m in muts] == ["RestoreDBInstanceFromDBSnapshot", "DeleteDBInstance"]
    restore = muts[0][1]["params"]
    new = restore["DBInstanceIdentifier"]
    assert new.startswith("drill-") and new != "prod-db"
    assert restore["DBSnapshotIdentifier"] == "prod-db-nightly"
    tags = {
        restore[k]: restore[k.replace(".Key", ".Value")]
        for k in restore
        if k.startswith("Tags.Tag.") and k.endswith(".Key")
    }
    assert tags["drill:run-id"] == doc["run_id"] and tags["drill:created-by"] == "drill"
    assert muts[1][1]["params"]["DBInstanceIdentifier"] == new
    names = {
        d["DBInstanceIdentifier"]
        for d in aws_stack.client("rds").describe_db_instances()["DBInstances"]
    }
    assert new not in names and "prod-db" in names
    assert_policy_covers(aws_stack, "backup-restore", capsys)


def test_backup_restore_keep(aws_stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    code, doc = _run(capsys, aws_stack, "backup-restore", "--env", "aws", "--yes", "--keep")
    assert code == 0, doc
    assert [m[0] for m in _mutations(aws_stack)] == ["RestoreDBInstanceFromDBSnapshot"]


def test_az_loss_nacl_swap_and_restore(
    aws_stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    ec2 = aws_stack.client("ec2")
    vpc = aws_stack.attrs("module.network.aws_vpc.main")["id"]
    subnets = [
        s["SubnetId"]
        for s in ec2.describe_subnets(
            Filters=[
                {"Name": "availability-zone", "Values": ["us-east-1a"]},
                {"Name": "vpc-id", "Values": [vpc]},
            ]
        )["Subnets"]
    ]
    assert len(subnets) == 3  # public, private, database

    def acl_of() -> dict[str, str]:
        acls = ec2.describe_network_acls()["NetworkAcls"]
        return {a["SubnetId"]: acl["NetworkAclId"] for acl in acls for a in acl["Associations"]}

    before = acl_of()
    asg = aws_stack.client("autoscaling")
    zones_before = asg.describe_auto_scaling_groups()["AutoScalingGroups"][0]["VPCZoneIdentifier"]
    code, doc = _run(capsys, aws_stack, "az-loss", "--env", "aws", "--yes")
    # moto never fails RDS over: with probes: none nothing shows a recovery, so no RTO
    assert code == 1 and doc["scenarios"][0]["rto_s"] is None, doc
    ops = [m[0] for m in _mutations(aws_stack)]
    assert ops == (
        ["CreateNetworkAcl"]
        + ["ReplaceNetworkAclAssociation"] * len(subnets)
        + ["SuspendProcesses", "UpdateAutoScalingGroup"]
        + ["ReplaceNetworkAclAssociation"] * len(subnets)
        + ["UpdateAutoScalingGroup", "ResumeProcesses", "DeleteNetworkAcl"]
    )
    assert acl_of() == before  # every association back where it was
    assert (
        asg.describe_auto_scaling_groups()["AutoScalingGroups"][0]["VPCZoneIdentifier"]
        == zones_before
    )
    detail = _detail(capsys, doc["run_id"])
    iso = next(s for s in detail["steps"] if s["action"] == "az.isolate")["output"]
    assert sorted(iso["subnets"]) == sorted(subnets)
    # `az: primary` resolved at run time from the primary's AvailabilityZone...
    primary_az = aws_stack.client("rds").describe_db_instances(DBInstanceIdentifier="prod-db")[
        "DBInstances"
    ][0]["AvailabilityZone"]
    assert iso["requested"] == "primary" and iso["az"] == primary_az == "us-east-1a"
    # ...and the rollback restored exactly that AZ
    undo = next(s for s in detail["steps"] if s["action"] == "az.restore")
    assert undo["args"]["az"] == primary_az and undo["status"] == "succeeded"
    assert iso["asg"]["subnets_now"] and all(s not in subnets for s in iso["asg"]["subnets_now"])
    assert (
        len(
            ec2.describe_network_acls(
                Filters=[{"Name": "tag:drill:created-by", "Values": ["drill"]}]
            )["NetworkAcls"]
        )
        == 0
    )
    assert_policy_covers(aws_stack, "az-loss", capsys)


# ---- the generated IAM policy covers every call the runs made -------------------------
_ROUTE53_REST = {
    ("POST", "rrset"): "ChangeResourceRecordSets",
    ("GET", "rrset"): "ListResourceRecordSets",
    ("GET", "change"): "GetChange",
}
_PREFIX = {"monitoring": "cloudwatch"}


def iam_actions(stack: Stack) -> set[str]:
    out = set()
    for r in stack.run_requests:
        op, service = r["operation"], r["service"]
        if service == "route53":
            method, path = op.split(" ", 1)
            kind = "rrset" if "/rrset" in path else "change" if "/change/" in path else path
            op = _ROUTE53_REST[(method, kind)]
        out.add(f"{_PREFIX.get(service, service)}:{op}")
    return out


def assert_policy_covers(stack: Stack, runbook: str, capsys: pytest.CaptureFixture[str]) -> None:
    """`drill iam-policy` grants every call the run made (as the server recorded them)."""
    used = iam_actions(stack)
    capsys.readouterr()
    assert drill("iam-policy", runbook, "--env", "aws") == 0
    policy = json.loads(capsys.readouterr().out)
    assert policy["Version"] == "2012-10-17"
    granted = {a for st in policy["Statement"] for a in st["Action"]}
    assert all(st["Effect"] == "Allow" and st["Resource"] for st in policy["Statement"])
    assert used <= granted, f"not granted: {sorted(used - granted)}"
    assert all(re.match(r"^[a-z0-9-]+:[A-Za-z0-9]+$", a) for a in granted)
