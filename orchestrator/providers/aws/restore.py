"""db.restore / db.delete_restored: restore into a NEW tagged instance, then delete it.

Where the data comes from, when the source role is a vault (``StartRestoreJob``): the
primary's continuous recovery point (AWS Backup's point-in-time recovery, when the backup
plan enables continuous backups) restored to just before the disaster or the ISO time
asked for, else its newest snapshot recovery point at or before it. Continuous first:
the runbook restores "just before the disaster", and a snapshot taken every
``backup_interval`` loses up to that interval, which may be the whole RPO budget.
Otherwise an RDS point-in-time restore to just before the disaster (``point_in_time:
disaster`` / an ISO time), or the newest RDS snapshot (``point_in_time: latest``).
Production is never written to: the restore always lands in a new instance tagged with
the run id, which the rollback (``db.delete_restored``) deletes unless ``--keep``.
A vault's restore job is given the recovery point's restore metadata (the source's
settings as AWS Backup kept them) under the new name, as the console does.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from orchestrator.errors import ProviderError
from orchestrator.providers.aws.context import AwsContext, aws_error, call, describe_instance
from orchestrator.providers.aws.rds import clone_name, delete_tagged
from orchestrator.providers.aws.sql import probe_target
from orchestrator.providers.base import PlannedCall, StepContext
from orchestrator.testhooks import crashpoint

_CONTINUOUS = ":recovery-point:continuous:"  # AWS Backup's ARN of a continuous backup


def _method(c: AwsContext, args: dict[str, Any]) -> tuple[str, Any]:
    source = c.inventory().targets.get(args.get("source", "backup_vault"))
    if source is not None and source.type == "aws_backup_vault":
        return "aws-backup", source
    pit = args.get("point_in_time", "disaster")
    return ("snapshot" if pit == "latest" else "point-in-time"), None


def _when(args: dict[str, Any], ctx: StepContext | None) -> datetime | None:
    pit = args.get("point_in_time", "disaster")
    if pit == "disaster":
        mark = ctx.marks.get("fault_injected") if ctx else None
        return mark - timedelta(seconds=1) if mark else None
    if pit == "latest":
        return None
    try:
        when = datetime.fromisoformat(str(pit).replace("Z", "+00:00"))
    except ValueError:
        raise ProviderError(
            f"point_in_time {pit!r} is not 'latest', 'disaster' or an ISO timestamp"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def plan_restore(c: AwsContext, args: dict[str, Any], mode: str) -> list[PlannedCall]:
    primary = c.target("primary_db")
    region = primary.region or c.region
    new = args.get("new_instance") or "drill-<run-id>-restore"
    method, vault = _method(c, args)
    pit = args.get("point_in_time", "disaster")
    # which one: the newest at or before the point restored to (restore() filters so);
    # the restored data ends there, and the RPO runs from it to the disaster
    newest = (
        "<newest>"
        if pit == "latest"
        else (
            "<newest before the disaster>" if pit == "disaster" else f"<newest at or before {pit}>"
        )
    )
    if method == "aws-backup":
        calls = [
            call(
                "backup",
                region,
                "ListRecoveryPointsByBackupVault",
                False,
                BackupVaultName=vault.name,
                ByResourceArn=primary.arn,
            ),
            call(
                "rds",
                region,
                "DescribeDBInstances",
                False,
                DBInstanceIdentifier=primary.name,
                **(
                    {"Reads": "its AwsBackupRecoveryPointArn (the continuous recovery point)"}
                    if pit == "latest"
                    else {
                        "Reads": "its AwsBackupRecoveryPointArn (the continuous recovery point)",
                        "Until": "its LatestRestorableTime reaches the restore time "
                        "(continuous only)",
                    }
                ),
            ),
            call(
                "backup",
                region,
                "GetRecoveryPointRestoreMetadata",
                False,
                BackupVaultName=vault.name,
                RecoveryPointArn="<the recovery point restored>",
            ),
            call(
                "backup",
                region,
                "StartRestoreJob",
                RecoveryPointArn=newest
                if pit == "latest"
                else f"<continuous recovery point, else {newest.strip('<>')}>",
                Metadata={"<its restore metadata>": "…", "DBInstanceIdentifier": new}
                if pit == "latest"
                else {
                    "<its restore metadata>": "…",
                    "DBInstanceIdentifier": new,
                    "RestoreTime": "<the disaster - 1 s (continuous only)>"
                    if pit == "disaster"
                    else f"<{pit} (continuous only)>",
                },
                IamRoleArn="<the recovery point's IamRoleArn, when it has one>",
                ResourceType="RDS",
            ),
            call("backup", region, "DescribeRestoreJob", False),
            call(
                "rds",
                region,
                "AddTagsToResource",
                ResourceName=f"<{new} ARN>",
                Tags="drill:run-id, …",
            ),
        ]
    elif method == "snapshot":
        calls = [
            call("rds", region, "DescribeDBSnapshots", False, DBInstanceIdentifier=primary.name),
            call(
                "rds",
                region,
                "RestoreDBInstanceFromDBSnapshot",
                DBInstanceIdentifier=new,
                DBSnapshotIdentifier=newest,
                Tags="drill:run-id, …",
            ),
        ]
    else:
        calls = [
            call(
                "rds",
                region,
                "RestoreDBInstanceToPointInTime",
                SourceDBInstanceIdentifier=primary.name,
                TargetDBInstanceIdentifier=new,
                RestoreTime=args.get("point_in_time"),
                Tags="drill:run-id, …",
            )
        ]
    return [*calls, call("rds", region, "DescribeDBInstances", False, DBInstanceIdentifier=new)]


def restore(c: AwsContext, args: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
    from botocore.exceptions import ClientError

    primary = c.target("primary_db")
    region = primary.region or c.region
    rds = c.rds(region)
    new = args.get("new_instance") or clone_name(ctx, "restore")
    method, vault = _method(c, args)
    tags = c.tags(ctx, "restore")
    out: dict[str, Any] = {
        "new_instance": new,
        "region": region,
        "method": method,
        "rollback_args": {"new_instance": new, "region": region, "keep": bool(args.get("keep"))},
    }
    when = _when(args, ctx)
    try:
        if method == "aws-backup":
            out.update(_backup_restore(c, vault, primary, new, when, ctx))
            arn = describe_instance(c, new, region)
            if arn is None:
                raise ProviderError(f"restore job finished but {new} does not exist")
            rds.add_tags_to_resource(ResourceName=arn["DBInstanceArn"], Tags=tags)
        elif method == "snapshot":
            pages = rds.get_paginator("describe_db_snapshots").paginate(
                DBInstanceIdentifier=primary.name
            )  # 100 a page: 35 days of automated snapshots and the manual ones exceed it
            snaps = [
                s
                for page in pages
                for s in page["DBSnapshots"]
                if s.get("Status") == "available"
                and (when is None or s["SnapshotCreateTime"] <= when)
            ]
            if not snaps:
                raise ProviderError(f"no available snapshot of {primary.name}")
            snap = max(snaps, key=lambda s: s["SnapshotCreateTime"])
            rds.restore_db_instance_from_db_snapshot(
                DBInstanceIdentifier=new,
                DBSnapshotIdentifier=snap["DBSnapshotIdentifier"],
                Tags=tags,
            )
            out.update(
                snapshot=snap["DBSnapshotIdentifier"],
                restore_point=snap["SnapshotCreateTime"].isoformat(),
            )
        else:
            kwargs: dict[str, Any] = (
                {"RestoreTime": when} if when else {"UseLatestRestorableTime": True}
            )
            rds.restore_db_instance_to_point_in_time(
                SourceDBInstanceIdentifier=primary.name,
                TargetDBInstanceIdentifier=new,
                Tags=tags,
                **kwargs,
            )
            out["restore_point"] = when.isoformat() if when else "latest restorable time"
    except ClientError as exc:
        raise aws_error(exc, f"restore into {new}") from None
    # the moment the restored data ends, as the measurement reads it (the lab's key):
    # where no acknowledged write survives, the RPO runs from it to the disaster
    point = out.get("restore_point")
    out["restored_to"] = point if point and point != "latest restorable time" else None
    out["waited_s"] = c.wait(
        f"restored instance {new} available",
        lambda: (describe_instance(c, new, region) or {}).get("DBInstanceStatus") == "available",
        ctx,
    )
    out["validation"] = validate(c, new, region, primary.extra.get("engine"), ctx)
    if out["validation"].get("endpoint"):
        c.restored = (out["validation"]["endpoint"], int(out["validation"].get("port") or 5432))
        out.update(probe_target(c, describe_instance(c, new, region)))
    return out


def _backup_restore(
    c: AwsContext, vault: Any, primary: Any, new: str, when: datetime | None, ctx: StepContext
) -> dict[str, Any]:
    backup = c.clients.client("backup", vault.region or c.region)
    # a page at a time (NextToken): months of hourly snapshots fill many
    pages = backup.get_paginator("list_recovery_points_by_backup_vault").paginate(
        BackupVaultName=vault.name, ByResourceArn=primary.arn
    )
    points = [p for page in pages for p in page["RecoveryPoints"]]
    usable = [p for p in points if when is None or p["CreationDate"] <= when]
    # RDS names the instance's continuous recovery point (its AwsBackupRecoveryPointArn,
    # in botocore's model); the ARN's form is only what public examples show
    named = (describe_instance(c, primary.name, primary.region or c.region) or {}).get(
        "AwsBackupRecoveryPointArn"
    )

    def is_continuous(p: dict[str, Any]) -> bool:
        return p["RecoveryPointArn"] == named or _CONTINUOUS in p["RecoveryPointArn"]

    continuous = [
        p for p in usable if is_continuous(p) and p.get("Status") in ("COMPLETED", "AVAILABLE")
    ]
    points = [p for p in usable if p.get("Status") == "COMPLETED" and not is_continuous(p)]
    if when is not None and continuous:
        waited = _restorable(c, primary, when, ctx)
        point = max(continuous, key=lambda p: p["CreationDate"])
        out = _restore_job(c, backup, vault, point, new, when, ctx)
        return {**out, "waited_restorable_s": round(waited, 3)}
    if not points:
        raise ProviderError(
            f"no completed recovery point of {primary.name} in vault "
            f"{vault.name}" + (f" before {when.isoformat()}" if when else "")
        )
    point = max(points, key=lambda p: p["CreationDate"])
    return _restore_job(c, backup, vault, point, new, None, ctx)


def _restorable(c: AwsContext, primary: Any, to: datetime, ctx: StepContext) -> float:
    """Wait until RDS can restore the primary to ``to``: its LatestRestorableTime lags
    the present by up to ~5 minutes (the transaction logs are shipped that often), and a
    restore to a later time is refused. Right after a disaster it is usually behind."""
    region = primary.region or c.region

    def ready() -> bool:
        latest = (describe_instance(c, primary.name, region) or {}).get("LatestRestorableTime")
        return latest is None or latest >= to  # None: RDS does not say; let the job decide

    return c.wait(
        f"{primary.name} restorable to {to.isoformat()} (RDS's LatestRestorableTime)",
        ready,
        ctx,
    )


def restore_metadata(
    backup: Any, vault: Any, point: dict[str, Any], new: str, to: datetime | None
) -> dict[str, str]:
    """What StartRestoreJob is given: the recovery point's restore metadata (the source
    instance's settings as AWS Backup kept them: its subnet group, security groups,
    parameter group, class…), with the new instance's name and, for a continuous point,
    the time restored to. With the name alone RDS falls back to its defaults — the
    default VPC's subnet group and security group, or no subnet group at all — and the
    restored database lands where the runner cannot reach it, or the job fails."""
    kept = backup.get_recovery_point_restore_metadata(
        BackupVaultName=vault.name, RecoveryPointArn=point["RecoveryPointArn"]
    ).get("RestoreMetadata", {})
    metadata = {
        k: str(v) for k, v in kept.items() if k not in ("RestoreTime", "UseLatestRestorableTime")
    }
    metadata["DBInstanceIdentifier"] = new
    if metadata.get("MultiAZ", "").lower() == "true":
        metadata.pop("AvailabilityZone", None)  # RDS refuses an AZ for a Multi-AZ instance
    if to is not None:
        metadata["RestoreTime"] = to.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return metadata


def _restore_job(
    c: AwsContext,
    backup: Any,
    vault: Any,
    point: dict[str, Any],
    new: str,
    to: datetime | None,
    ctx: StepContext,
) -> dict[str, Any]:
    """Restore ``point`` into ``new`` (a continuous one to ``to``) and wait for the job."""
    metadata = restore_metadata(backup, vault, point, new, to)
    kwargs: dict[str, Any] = {
        "RecoveryPointArn": point["RecoveryPointArn"],
        "Metadata": metadata,
        "ResourceType": "RDS",
    }
    if point.get("IamRoleArn"):
        kwargs["IamRoleArn"] = point["IamRoleArn"]
    job_id = backup.start_restore_job(**kwargs)["RestoreJobId"]
    crashpoint("aws:db.restore:started")  # the job runs, its instance not yet tagged
    state: dict[str, Any] = {}

    def done() -> bool:
        job = backup.describe_restore_job(RestoreJobId=job_id)
        state.update(job)
        if job["Status"] in ("FAILED", "ABORTED"):
            raise ProviderError(
                f"AWS Backup restore job {job_id} {job['Status']}: {job.get('StatusMessage', '')}"
            )
        return bool(job["Status"] == "COMPLETED")

    c.wait(f"AWS Backup restore job {job_id}", done, ctx)
    return {
        "recovery_point": point["RecoveryPointArn"],
        "continuous": to is not None,
        "restore_job": job_id,
        # the moment the restored data ends: the time asked of a continuous point,
        # a snapshot's creation
        "restore_point": (to or point["CreationDate"]).isoformat(),
        "created_resource": state.get("CreatedResourceArn"),
    }


def validate(
    c: AwsContext, name: str, region: str, engine: str | None, ctx: StepContext
) -> dict[str, Any]:
    """The new instance exists, runs the primary's engine and carries the run's tags."""
    db = describe_instance(c, name, region)
    if db is None:
        raise ProviderError(f"restored instance {name} vanished")
    tags = {t["Key"]: t["Value"] for t in db.get("TagList", [])}
    problems = []
    if tags.get("drill:run-id") != ctx.run_id:
        problems.append("not tagged with the run id")
    if engine and db.get("Engine") != engine:
        problems.append(f"engine {db.get('Engine')} differs from the primary's {engine}")
    if problems:
        raise ProviderError(f"restored instance {name}: {'; '.join(problems)}")
    return {
        "status": db["DBInstanceStatus"],
        "engine": db.get("Engine"),
        "endpoint": (db.get("Endpoint") or {}).get("Address"),
        "port": (db.get("Endpoint") or {}).get("Port"),
        "tagged": True,
    }


def plan_delete(c: AwsContext, args: dict[str, Any], mode: str) -> list[PlannedCall]:
    region = args.get("region") or c.region
    name = args.get("new_instance") or "drill-<run-id>-restore"  # what the restore names it
    return [
        call(
            "rds",
            region,
            "DescribeDBInstances",
            False,
            DBInstanceIdentifier=name,
        ),
        call(
            "rds",
            region,
            "DeleteDBInstance",
            DBInstanceIdentifier=name,
            SkipFinalSnapshot=True,
            DeleteAutomatedBackups=True,
        ),
    ]


def delete_restored(c: AwsContext, args: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
    # without the step's output (drill died during the restore) the name follows from the
    # run id, as the restore chose it; delete_tagged never deletes what drill did not create
    name = args.get("new_instance") or clone_name(ctx, "restore")
    if args.get("keep") or ctx.keep:
        return {
            "kept": name,
            "reason": "--keep given: the restored instance stays "
            "(tagged with the run id; delete it when done)",
        }
    deleted = delete_tagged(c, name, args.get("region") or c.region, ctx, untagged_restore=True)
    return {"deleted": name if deleted else None, "noop": not deleted}
