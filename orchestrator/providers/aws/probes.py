"""API probes (steady state and checks): read-only calls, ``{"ok": bool, …}`` results.

These are the probes available when the runner has no network path to the database
(``probes: none``). They report AWS's own view, so measurements never use them as the
RTO source when real probes exist.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from orchestrator.providers.aws.context import AwsContext, call, describe_instance
from orchestrator.providers.aws.dns import R53_REGION, _current
from orchestrator.providers.base import PlannedCall, StepContext


def _role_for(target: str) -> str:
    return {"db": "primary_db", "global_db": "dns_record", "app": "alb"}.get(target, target)


def plan_health(c: AwsContext, args: dict[str, Any], mode: str) -> list[PlannedCall]:
    t = c.target(_role_for(args.get("target", "db")))
    if t.type == "aws_route53_record":
        return [
            call(
                "route53",
                "global",
                "ListResourceRecordSets",
                False,
                HostedZoneId=t.extra.get("zone_id"),
            ),
            call("rds", "<record's instance region>", "DescribeDBInstances", False),
        ]
    if t.type in ("aws_lb", "aws_alb"):
        return plan_app(c, {}, mode)
    return [
        call("rds", t.region or c.region, "DescribeDBInstances", False, DBInstanceIdentifier=t.name)
    ]


def health(c: AwsContext, args: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
    t = c.target(_role_for(args.get("target", "db")))
    if t.type in ("aws_lb", "aws_alb"):
        return app_health(c, {}, ctx)
    if t.type == "aws_route53_record":
        values = [r["Value"] for r in _current(c, t).get("ResourceRecords", [])]
        for role in ("primary_db", "dr_replica"):
            db_t = c.inventory().targets.get(role)
            if db_t is not None and db_t.endpoint in values:
                found = describe_instance(c, db_t.name or "", db_t.region or c.region) or {}
                status = found.get("DBInstanceStatus")
                return {
                    "ok": status == "available",
                    "record": values,
                    "role": role,
                    "status": status,
                    "method": "api",
                }
        return {"ok": False, "record": values, "reason": "the record names no known database"}
    db = describe_instance(c, t.name or "", t.region or c.region)
    if db is None:
        return {"ok": False, "reason": f"{t.name} does not exist", "method": "api"}
    status = db.get("DBInstanceStatus")
    return {
        "ok": status == "available",
        "instance": t.name,
        "status": status,
        "az": db.get("AvailabilityZone"),
        "method": "api",
        **({} if status == "available" else {"reason": f"{t.name} is {status}"}),
    }


def plan_multi_az(c: AwsContext, args: dict[str, Any], mode: str) -> list[PlannedCall]:
    t = c.target(args.get("target", "primary_db"))
    return [
        call("rds", t.region or c.region, "DescribeDBInstances", False, DBInstanceIdentifier=t.name)
    ]


def multi_az(c: AwsContext, args: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
    t = c.target(args.get("target", "primary_db"))
    db = describe_instance(c, t.name or "", t.region or c.region) or {}
    ok = bool(db.get("MultiAZ")) and db.get("DBInstanceStatus") == "available"
    out = {
        "ok": ok,
        "instance": t.name,
        "multi_az": bool(db.get("MultiAZ")),
        "az": db.get("AvailabilityZone"),
        "secondary_az": db.get("SecondaryAvailabilityZone"),
    }
    if not ok:
        out["reason"] = (
            "instance gone"
            if not db
            else "Multi-AZ is off"
            if not db.get("MultiAZ")
            else f"status {db.get('DBInstanceStatus')}"
        )
    return out


def plan_lag(c: AwsContext, args: dict[str, Any], mode: str) -> list[PlannedCall]:
    t = c.target(args.get("target", "dr_replica"))
    region = t.region or c.dr_region
    return [
        call("rds", region, "DescribeDBInstances", False, DBInstanceIdentifier=t.name),
        call(
            "cloudwatch",
            region,
            "GetMetricStatistics",
            False,
            Namespace="AWS/RDS",
            MetricName="ReplicaLag",
            Dimensions=f"DBInstanceIdentifier={t.name}",
        ),
    ]


def replication_lag(c: AwsContext, args: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
    t = c.target(args.get("target", "dr_replica"))
    region = t.region or c.dr_region
    budget = float(args.get("max_lag_s", 60.0))
    db = describe_instance(c, t.name or "", region)
    if db is None:
        return {"ok": False, "reason": f"replica {t.name} does not exist in {region}"}
    if not db.get("ReadReplicaSourceDBInstanceIdentifier"):
        return {"ok": False, "reason": f"{t.name} is not replicating (promoted?)"}
    now = datetime.now(UTC)
    stats = c.clients.client("cloudwatch", region).get_metric_statistics(
        Namespace="AWS/RDS",
        MetricName="ReplicaLag",
        Dimensions=[{"Name": "DBInstanceIdentifier", "Value": t.name}],
        StartTime=now - timedelta(minutes=10),
        EndTime=now + timedelta(minutes=1),
        Period=60,
        Statistics=["Maximum"],
    )["Datapoints"]
    if not stats:
        return {
            "ok": False,
            "reason": f"no ReplicaLag datapoints for {t.name} in 10 min: "
            "the replica is not reporting",
        }
    newest = max(stats, key=lambda d: d["Timestamp"])
    lag = float(newest["Maximum"])
    out = {
        "ok": lag <= budget,
        "lag_s": lag,
        "max_lag_s": budget,
        "instance": t.name,
        "at": newest["Timestamp"].isoformat(),
        "method": "cloudwatch",
    }
    if lag > budget:
        out["reason"] = f"lag {lag:g}s exceeds {budget:g}s"
    return out


def plan_app(c: AwsContext, args: dict[str, Any], mode: str) -> list[PlannedCall]:
    return [
        call(
            "elbv2",
            c.region,
            "DescribeTargetHealth",
            False,
            TargetGroupArn=c.target("target_group").arn,
        )
    ]


def app_health(c: AwsContext, args: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
    t = c.target("target_group")
    health = c.clients.client("elbv2", t.region or c.region).describe_target_health(
        TargetGroupArn=t.arn
    )["TargetHealthDescriptions"]
    states = [h["TargetHealth"]["State"] for h in health]
    healthy = states.count("healthy")
    out = {"ok": healthy > 0, "healthy": healthy, "targets": len(states), "method": "api"}
    if not healthy:
        out["reason"] = f"no healthy target in {t.name} ({', '.join(states) or 'none'})"
    return out


__all__ = ["R53_REGION"]
