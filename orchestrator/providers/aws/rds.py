"""RDS actions: Multi-AZ failover, replica promotion, replica rebuild, re-protect.

Live mode acts on the resources of the Terraform state. Isolated mode never touches
them: it makes a tagged clone (a point-in-time restore for failover, a new cross-region
replica for promotion), drills on the clone, and its rollback deletes the clone.

chaosaws has ``reboot_db_instance(force_failover=True)`` and ``failover_db_cluster``,
and the experiments in ``experiments/`` use them; the provider makes the same API calls
through its own clients because chaosaws builds clients from boto3's process-global
default session, which cannot take the environment's ``endpoint_url``, assumed role or
an injected client.
"""

from __future__ import annotations

from typing import Any

from orchestrator.errors import ProviderError
from orchestrator.inventory.roles import Target
from orchestrator.providers.aws.context import AwsContext, aws_error, call, describe_instance
from orchestrator.providers.base import PlannedCall, StepContext


def clone_name(ctx: StepContext, suffix: str) -> str:
    name = f"drill-{ctx.run_id}-{suffix}".lower().replace("_", "-").replace("--", "-")
    return name[:63].rstrip("-")


def _available(c: AwsContext, name: str, region: str) -> bool:
    db = describe_instance(c, name, region)
    return db is not None and db.get("DBInstanceStatus") == "available"


def _protected(c: AwsContext, name: str, region: str) -> bool:
    db = describe_instance(c, name, region)
    return db is not None and db.get("DBInstanceStatus") == "available" and bool(db.get("MultiAZ"))


def _writable(c: AwsContext, name: str, region: str) -> bool:
    db = describe_instance(c, name, region)
    return (
        db is not None
        and db.get("DBInstanceStatus") == "available"
        and not db.get("ReadReplicaSourceDBInstanceIdentifier")
    )


def _db_region(c: AwsContext, t: Target) -> str:
    return t.region or c.region


# ---- db.failover --------------------------------------------------------------------
def plan_failover(c: AwsContext, args: dict[str, Any], mode: str) -> list[PlannedCall]:
    t = c.target(args.get("target", "primary_db"))
    region = _db_region(c, t)
    if t.type == "aws_rds_cluster":
        return [call("rds", region, "FailoverDBCluster", DBClusterIdentifier=t.name)]
    if mode == "isolated":
        clone = "drill-<run-id>-failover"
        return [
            call(
                "rds",
                region,
                "RestoreDBInstanceToPointInTime",
                SourceDBInstanceIdentifier=t.name,
                TargetDBInstanceIdentifier=clone,
                UseLatestRestorableTime=True,
                MultiAZ=True,
                Tags="drill:run-id, …",
            ),
            call("rds", region, "DescribeDBInstances", False, DBInstanceIdentifier=clone),
            call("rds", region, "RebootDBInstance", DBInstanceIdentifier=clone, ForceFailover=True),
        ]
    return [
        call("rds", region, "RebootDBInstance", DBInstanceIdentifier=t.name, ForceFailover=True),
        call("rds", region, "DescribeDBInstances", False, DBInstanceIdentifier=t.name),
    ]


def failover(c: AwsContext, args: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
    from botocore.exceptions import ClientError

    t = c.target(args.get("target", "primary_db"))
    region = _db_region(c, t)
    rds = c.rds(region)
    out: dict[str, Any] = {"target": t.name, "region": region}
    try:
        if t.type == "aws_rds_cluster":
            rds.failover_db_cluster(DBClusterIdentifier=t.name)
            return {**out, "operation": "FailoverDBCluster"}
        name = t.name or ""
        if ctx.mode == "isolated":
            name = clone_name(ctx, "failover")
            rds.restore_db_instance_to_point_in_time(
                SourceDBInstanceIdentifier=t.name,
                TargetDBInstanceIdentifier=name,
                UseLatestRestorableTime=True,
                MultiAZ=True,
                Tags=c.tags(ctx, "failover-clone"),
            )
            out["clone"] = name
            out["rollback_args"] = {"clone": name, "clone_region": region}
            c.wait(f"clone {name} available", lambda: _available(c, name, region), ctx)
        before = describe_instance(c, name, region) or {}
        if not before.get("MultiAZ"):
            raise ProviderError(
                f"{name} is not Multi-AZ: a forced failover has no standby",
                "enable Multi-AZ, or check `drill inventory` for drift",
            )
        rds.reboot_db_instance(DBInstanceIdentifier=name, ForceFailover=True)
    except ClientError as exc:
        raise aws_error(exc, f"failover of {t.name}") from None
    out.update(
        operation="RebootDBInstance",
        instance=name,
        force_failover=True,
        az_before=before.get("AvailabilityZone"),
    )
    if args.get("wait", True):
        out["waited_s"] = c.wait(
            f"{name} available after failover", lambda: _available(c, name, region), ctx
        )
        out["az_after"] = (describe_instance(c, name, region) or {}).get("AvailabilityZone")
    return out


# ---- db.reprotect ---------------------------------------------------------------------
def plan_reprotect(c: AwsContext, args: dict[str, Any], mode: str) -> list[PlannedCall]:
    t = c.target(args.get("target", "primary_db"))
    calls = [
        call("rds", _db_region(c, t), "DescribeDBInstances", False, DBInstanceIdentifier=t.name)
    ]
    if args.get("clone"):
        calls.append(
            call(
                "rds",
                args.get("clone_region") or c.region,
                "DeleteDBInstance",
                DBInstanceIdentifier=args["clone"],
                SkipFinalSnapshot=True,
                DeleteAutomatedBackups=True,
            )
        )
    return calls


def reprotect(c: AwsContext, args: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
    """Nothing to do on RDS, which re-protects Multi-AZ itself (the old primary becomes
    the standby) — but wait for it when the state says the instance is Multi-AZ: as the
    undo of a failover that was stopped mid-way, returning at once left the next drill
    a pair still failing over ("system not in steady state")."""
    t = c.target(args.get("target", "primary_db"))
    out: dict[str, Any] = {
        "noop": True,
        "reason": (
            "RDS Multi-AZ re-protects itself: after a failover the old primary is rebuilt as "
            "the new synchronous standby; nothing for drill to do but wait for it"
        ),
    }
    # isolated mode: the clone this run failed over; its name follows from the run id when
    # the step never returned it (drill died while the clone was being created)
    clone = args.get("clone") or (clone_name(ctx, "failover") if ctx.mode == "isolated" else None)
    if clone:
        out["deleted_clone"] = delete_tagged(c, clone, args.get("clone_region") or c.region, ctx)
        return out
    name, region = t.name or "", _db_region(c, t)
    if t.multi_az:
        out["waited_s"] = c.wait(
            f"{name} available and Multi-AZ again", lambda: _protected(c, name, region), ctx
        )
    db = describe_instance(c, name, region) or {}
    out["multi_az"] = bool(db.get("MultiAZ"))
    out["secondary_az"] = db.get("SecondaryAvailabilityZone")
    return out


def delete_tagged(
    c: AwsContext,
    name: str,
    region: str,
    ctx: StepContext,
    wait: bool = True,
    untagged_restore: bool = False,
) -> bool:
    """Delete an instance drill created — refuses any instance without drill's tag.

    ``untagged_restore``: AWS Backup cannot tag the instance it restores (drill tags it
    once the job is done), so a restore stopped or killed while its job ran left one
    untagged. Only the name this run gave it — its run id in it — makes it ours then."""
    from botocore.exceptions import ClientError

    db = describe_instance(c, name, region)
    if db is None:
        return False
    tags = {t["Key"]: t["Value"] for t in db.get("TagList", [])}
    named_for_run = untagged_restore and name == clone_name(ctx, "restore")
    if tags.get("drill:created-by") != "drill" and not (
        named_for_run and "drill:created-by" not in tags
    ):
        raise ProviderError(
            f"refusing to delete {name}: it was not created by drill (no drill:created-by tag)"
        )
    if not being_deleted(db):
        try:
            c.rds(region).delete_db_instance(
                DBInstanceIdentifier=name, SkipFinalSnapshot=True, DeleteAutomatedBackups=True
            )
        except ClientError as exc:
            raise aws_error(exc, f"DeleteDBInstance {name}") from None
    if wait:
        c.wait(f"{name} deleted", lambda: describe_instance(c, name, region) is None, ctx)
    return True


def being_deleted(db: dict[str, Any]) -> bool:
    """RDS already deletes it (``deleting`` for minutes): a second DeleteDBInstance is
    refused (InvalidDBInstanceState), so a rollback replayed after drill died while it
    waited, or the next run's clean-up, only waits for it to be gone."""
    return db.get("DBInstanceStatus") == "deleting"


# ---- db.promote_replica -----------------------------------------------------------------
def plan_promote(c: AwsContext, args: dict[str, Any], mode: str) -> list[PlannedCall]:
    t = c.target(args.get("target", "dr_replica"))
    region = t.region or c.dr_region
    name = t.name
    calls = []
    if mode == "isolated":
        name = "drill-<run-id>-promote"
        calls.append(
            call(
                "rds",
                region,
                "CreateDBInstanceReadReplica",
                DBInstanceIdentifier=name,
                SourceDBInstanceIdentifier=c.target("primary_db").arn,
                SourceRegion=c.region,
                DBInstanceClass=t.extra.get("instance_class") or "db.r6g.large",
                Tags="drill:run-id, …",
            )
        )
    calls += [
        call("rds", region, "PromoteReadReplica", DBInstanceIdentifier=name),
        call("rds", region, "DescribeDBInstances", False, DBInstanceIdentifier=name),
    ]
    return calls


def promote(c: AwsContext, args: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
    from botocore.exceptions import ClientError

    t = c.target(args.get("target", "dr_replica"))
    region = t.region or c.dr_region
    name = t.name or ""
    out: dict[str, Any] = {"target": name, "region": region}
    rds = c.rds(region)
    try:
        if ctx.mode == "isolated":
            primary = c.target("primary_db")
            name = clone_name(ctx, "promote")
            rds.create_db_instance_read_replica(
                DBInstanceIdentifier=name,
                SourceDBInstanceIdentifier=primary.arn,
                SourceRegion=primary.region or c.region,
                DBInstanceClass=t.extra.get("instance_class") or "db.r6g.large",
                Tags=c.tags(ctx, "promote-clone"),
            )
            out["clone"] = name
            out["rollback_args"] = {"clone": name, "clone_region": region}
            c.wait(f"clone replica {name} available", lambda: _available(c, name, region), ctx)
        db = describe_instance(c, name, region)
        if db is None:
            raise ProviderError(
                f"replica {name} does not exist in {region}",
                "run `drill inventory` to check for drift",
            )
        source = db.get("ReadReplicaSourceDBInstanceIdentifier")
        if not source:
            raise ProviderError(f"{name} is not a read replica (already promoted?)")
        rds.promote_read_replica(DBInstanceIdentifier=name)
    except ClientError as exc:
        raise aws_error(exc, f"promotion of {name}") from None
    out.update(operation="PromoteReadReplica", instance=name, former_source=source)
    if ctx.mode != "isolated":
        out["rollback_args"] = {
            "source_arn": source,
            "instance": name,
            "region": region,
            "instance_class": db.get("DBInstanceClass"),
        }
    if args.get("wait", True):
        out["waited_s"] = c.wait(
            f"{name} writable (standalone and available)", lambda: _writable(c, name, region), ctx
        )
        out["writable"] = True
    from orchestrator.providers.aws.sql import probe_target

    now = describe_instance(c, name, region) or {}
    out.update(probe_target(c, now))
    if ctx.mode == "isolated":
        ep = now.get("Endpoint") or {}
        if ep.get("Address"):
            c.clone = (str(ep["Address"]), int(ep.get("Port") or 5432))
        out["isolated"] = True  # the observer follows the clone
    return out


# ---- db.rebuild_replica -----------------------------------------------------------------
_BUSY = ("creating", "modifying", "rebooting")  # RDS still at work on the instance


def plan_rebuild(c: AwsContext, args: dict[str, Any], mode: str) -> list[PlannedCall]:
    t = c.target(args.get("target", "dr_replica"))
    region = t.region or c.dr_region
    if args.get("clone") or mode == "isolated":
        return [
            call(
                "rds",
                region,
                "DeleteDBInstance",
                DBInstanceIdentifier=args.get("clone", "drill-<run-id>-promote"),
                SkipFinalSnapshot=True,
                DeleteAutomatedBackups=True,
            )
        ]
    return [
        call(
            "rds",
            region,
            "DeleteDBInstance",
            DBInstanceIdentifier=t.name,
            SkipFinalSnapshot=False,
            FinalDBSnapshotIdentifier=f"drill-<run-id>-{t.name}",
        ),
        call(
            "rds",
            region,
            "CreateDBInstanceReadReplica",
            DBInstanceIdentifier=t.name,
            SourceDBInstanceIdentifier=c.target("primary_db").arn,
            SourceRegion=c.region,
            DBInstanceClass=args.get("instance_class")
            or "<its class before the promotion, as RDS reports it, else "
            f"{t.extra.get('instance_class') or 'db.r6g.large'}>",
            Tags="drill:rebuilt-by-run=<run-id>",
        ),
        call("rds", region, "DescribeDBInstances", False, DBInstanceIdentifier=t.name),
    ]


def rebuild(c: AwsContext, args: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
    """Put the cross-region replica back as Terraform describes it.

    The promoted instance is deleted *with a final snapshot* (its post-promotion writes
    stay recoverable), then re-created under the same identifier as a replica of the
    primary, so the Terraform state matches AWS again.
    """
    from botocore.exceptions import ClientError

    t = c.target(args.get("target", "dr_replica"))
    region = args.get("clone_region") or args.get("region") or t.region or c.dr_region
    if args.get("clone") or ctx.mode == "isolated":
        # isolated mode: the clone this run promoted (its name follows from the run id)
        clone = args.get("clone") or clone_name(ctx, "promote")
        return {"deleted_clone": delete_tagged(c, clone, region, ctx), "clone": clone}
    name = args.get("instance") or t.name or ""
    db = describe_instance(c, name, region)
    if db is not None and db.get("ReadReplicaSourceDBInstanceIdentifier"):
        # a replay after drill died mid-way: RDS may still be creating the new replica
        # (cross-region, tens of minutes) or promoting the old one (`modifying`, the
        # source possibly still named): wait until it is done with it, then look again
        waited = c.wait(
            f"{name} settled (RDS creating or promoting it)",
            lambda: (describe_instance(c, name, region) or {}).get("DBInstanceStatus") not in _BUSY,
            ctx,
        )
        db = describe_instance(c, name, region)
        if db is not None and db.get("ReadReplicaSourceDBInstanceIdentifier"):
            return {
                "noop": True,
                "reason": f"{name} is already a read replica",
                "waited_s": round(waited, 3),
            }
    primary = c.target("primary_db")
    source = args.get("source_arn") or primary.arn
    rds = c.rds(region)
    snapshot = clone_name(ctx, f"{name}-final")
    try:
        if db is not None and not being_deleted(db):
            rds.delete_db_instance(
                DBInstanceIdentifier=name,
                SkipFinalSnapshot=False,
                FinalDBSnapshotIdentifier=snapshot,
            )
        if db is not None:
            c.wait(f"{name} deleted", lambda: describe_instance(c, name, region) is None, ctx)
        rds.create_db_instance_read_replica(
            DBInstanceIdentifier=name,
            SourceDBInstanceIdentifier=source,
            SourceRegion=primary.region or c.region,
            DBInstanceClass=args.get("instance_class")
            or t.extra.get("instance_class")
            or "db.r6g.large",
            Tags=[{"Key": "drill:rebuilt-by-run", "Value": ctx.run_id}],
        )
    except ClientError as exc:
        raise aws_error(exc, f"rebuild of replica {name}") from None
    c.wait(f"replica {name} available", lambda: _available(c, name, region), ctx)
    return {
        "instance": name,
        "region": region,
        "source": source,
        "final_snapshot": snapshot if db is not None else None,
    }
