"""Drift: what the Terraform state says vs what AWS reports right now.

A drill run against an environment that has drifted (Multi-AZ switched off, the
instance class changed, the DR replica gone or promoted, the DNS record pointing
elsewhere) measures the wrong thing,
so ``drill inventory`` shows drift before anyone runs a drill. Read-only calls only.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from orchestrator.inventory.roles import Inventory, Target


class Drift(BaseModel):
    role: str
    address: str
    kind: str  # gone | multi_az_off | instance_class | not_replicating | record_changed | …
    message: str
    expected: Any = None
    actual: Any = None


def _drift(t: Target, kind: str, message: str, expected: Any = None, actual: Any = None) -> Drift:
    """A drift of target ``t`` (its role and state address)."""
    return Drift(
        role=t.role, address=t.address, kind=kind, message=message, expected=expected, actual=actual
    )


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def check(inv: Inventory, clients: Any) -> list[Drift]:
    """Compare every resolved target (and the subnets) with AWS."""
    out: list[Drift] = []
    for _role, t in inv.targets.items():
        checker = _CHECKS.get(t.type)
        if checker is not None:
            out.extend(checker(t, clients))
    out.extend(_subnets(inv, clients))
    return out


def _db_instance(t: Target, clients: Any) -> list[Drift]:
    from botocore.exceptions import ClientError

    rds = clients.client("rds", t.region)
    try:
        db = rds.describe_db_instances(DBInstanceIdentifier=t.name)["DBInstances"][0]
    except ClientError as exc:
        if _code(exc) == "DBInstanceNotFound":
            what = "replica missing" if t.replicates else "instance gone"
            return [
                _drift(t, "gone", f"{what}: {t.name} does not exist in {t.region}", expected=t.name)
            ]
        raise
    out = []
    if t.multi_az and not db.get("MultiAZ"):
        out.append(
            _drift(
                t,
                "multi_az_off",
                f"Multi-AZ is off for {t.name} (state says on)",
                expected=True,
                actual=False,
            )
        )
    if t.replicates and not db.get("ReadReplicaSourceDBInstanceIdentifier"):
        out.append(
            _drift(
                t,
                "not_replicating",
                f"{t.name} is no longer a read replica (promoted?)",
                expected=t.replicates,
            )
        )
    want, have = t.extra.get("instance_class"), db.get("DBInstanceClass")
    if want and have and want != have:  # resized: a drill measures another machine
        out.append(
            _drift(
                t,
                "instance_class",
                f"{t.name} is a {have} (state says {want})",
                expected=want,
                actual=have,
            )
        )
    status = db.get("DBInstanceStatus")
    if status not in ("available", "backing-up", "modifying"):
        out.append(
            _drift(t, "status", f"{t.name} is {status}", expected="available", actual=status)
        )
    return out


def _cluster(t: Target, clients: Any) -> list[Drift]:
    from botocore.exceptions import ClientError

    try:
        clients.client("rds", t.region).describe_db_clusters(DBClusterIdentifier=t.name)
    except ClientError as exc:
        if _code(exc) == "DBClusterNotFoundFault":
            return [_drift(t, "gone", f"cluster {t.name} does not exist", expected=t.name)]
        raise
    return []


def _record(t: Target, clients: Any) -> list[Drift]:
    zone, rtype = t.extra.get("zone_id"), t.extra.get("record_type")
    name = (t.name or "").rstrip(".") + "."
    r53 = clients.client("route53", "us-east-1")
    sets = r53.list_resource_record_sets(
        HostedZoneId=zone, StartRecordName=name, StartRecordType=rtype, MaxItems="10"
    )
    match = [
        s
        for s in sets["ResourceRecordSets"]
        if s["Name"] == name
        and s["Type"] == rtype
        and s.get("SetIdentifier") == t.extra.get("set_identifier")
    ]
    if not match:
        return [_drift(t, "gone", f"DNS record {name} {rtype} is missing", expected=name)]
    values = sorted(r["Value"] for r in match[0].get("ResourceRecords", []))
    expected = sorted(t.extra.get("records") or [])
    if expected and values != expected:
        return [
            _drift(
                t,
                "record_changed",
                f"{name} points at {', '.join(values)} (state: {', '.join(expected)})",
                expected=expected,
                actual=values,
            )
        ]
    return []


def _vault(t: Target, clients: Any) -> list[Drift]:
    from botocore.exceptions import ClientError

    try:
        clients.client("backup", t.region).describe_backup_vault(BackupVaultName=t.name)
    except ClientError as exc:
        if _code(exc) in ("ResourceNotFoundException", "AccessDeniedException"):
            return [_drift(t, "gone", f"backup vault {t.name} is missing", expected=t.name)]
        raise
    return []


def _asg(t: Target, clients: Any) -> list[Drift]:
    groups = clients.client("autoscaling", t.region).describe_auto_scaling_groups(
        AutoScalingGroupNames=[t.name]
    )["AutoScalingGroups"]
    if not groups:
        return [_drift(t, "gone", f"auto scaling group {t.name} is missing", expected=t.name)]
    actual = sorted(s for s in groups[0].get("VPCZoneIdentifier", "").split(",") if s)
    expected = sorted(t.extra.get("subnets") or [])
    if expected and actual != expected:
        return [
            _drift(
                t,
                "changed",
                f"{t.name} spans subnets {actual} (state: {expected})",
                expected=expected,
                actual=actual,
            )
        ]
    return []


def _lb(t: Target, clients: Any) -> list[Drift]:
    from botocore.exceptions import ClientError

    try:
        clients.client("elbv2", t.region).describe_load_balancers(LoadBalancerArns=[t.arn])
    except ClientError as exc:
        if _code(exc) == "LoadBalancerNotFound":
            return [_drift(t, "gone", f"load balancer {t.name} is missing", expected=t.arn)]
        raise
    return []


def _subnets(inv: Inventory, clients: Any) -> list[Drift]:
    by_region: dict[str | None, list[str]] = {}
    for s in inv.subnets:
        by_region.setdefault(s.region, []).append(s.id)
    out = []
    for region, ids in by_region.items():
        found = clients.client("ec2", region).describe_subnets(
            Filters=[{"Name": "subnet-id", "Values": ids}]
        )["Subnets"]
        have = {s["SubnetId"] for s in found}
        for s in inv.subnets:
            if s.region == region and s.id not in have:
                out.append(
                    Drift(
                        role="subnet",
                        address=s.address,
                        kind="gone",
                        message=f"subnet {s.id} ({s.az}) is missing",
                        expected=s.id,
                    )
                )
    return out


_CHECKS = {
    "aws_db_instance": _db_instance,
    "aws_rds_cluster": _cluster,
    "aws_route53_record": _record,
    "aws_backup_vault": _vault,
    "aws_autoscaling_group": _asg,
    "aws_lb": _lb,
    "aws_alb": _lb,
}
