"""backup.create on AWS: an on-demand AWS Backup job of the database into the vault.

Why AWS Backup and not an RDS snapshot: the vault is what ``db.restore`` restores from
(``source: backup_vault``) and what auditors see in the backup plan, so a drill proves
the path production relies on. The job needs the role AWS Backup assumes; unless the step
names one (``iam_role_arn``), it is the role of the database's newest recovery point in
the vault — the role the backup plan already uses, so no extra configuration. The
recovery point is tagged with the run and expires after ``retain_days`` (default 7):
drill leaves nothing behind that AWS does not clean up.
"""

from __future__ import annotations

from typing import Any

from orchestrator.errors import ProviderError
from orchestrator.providers.aws.context import AwsContext, aws_error, call
from orchestrator.providers.base import PlannedCall, StepContext

_FINAL_FAILURES = ("FAILED", "ABORTED", "EXPIRED")


def _targets(c: AwsContext, args: dict[str, Any]) -> tuple[Any, Any]:
    db = c.target(args.get("target", "primary_db"))
    vault = c.target(args.get("vault", "backup_vault"))
    if vault.type != "aws_backup_vault":
        raise ProviderError(
            f"backup.create: role {args.get('vault', 'backup_vault')!r} is "
            f"a {vault.type}, not an AWS Backup vault",
            "set `vault:` to the role of an aws_backup_vault (see `drill inventory --env ENV`)",
        )
    return db, vault


def plan_create(c: AwsContext, args: dict[str, Any], mode: str) -> list[PlannedCall]:
    db, vault = _targets(c, args)
    region = vault.region or c.region
    role = args.get("iam_role_arn")
    calls = (
        []
        if role
        else [
            call(
                "backup",
                region,
                "ListRecoveryPointsByBackupVault",
                False,
                BackupVaultName=vault.name,
                ByResourceArn=db.arn,
            )
        ]
    )
    return [
        *calls,
        call(
            "backup",
            region,
            "StartBackupJob",
            BackupVaultName=vault.name,
            ResourceArn=db.arn,
            IamRoleArn=role or "<role of the newest recovery point>",
            Lifecycle={"DeleteAfterDays": int(args.get("retain_days", 7))},
            RecoveryPointTags="drill:run-id, …",
        ),
        call("backup", region, "DescribeBackupJob", False, BackupJobId="<job>"),
    ]


def _role(backup: Any, vault: Any, db: Any) -> str:
    """The IAM role of the database's newest recovery point in the vault."""
    pages = backup.get_paginator("list_recovery_points_by_backup_vault").paginate(
        BackupVaultName=vault.name, ByResourceArn=db.arn
    )  # every page: the newest may be on any
    points = [p for page in pages for p in page.get("RecoveryPoints", []) if p.get("IamRoleArn")]
    if not points:
        raise ProviderError(
            f"backup.create: no recovery point of {db.name} in vault {vault.name} names the "
            "IAM role AWS Backup should assume",
            "pass it in the step: `args: {iam_role_arn: arn:aws:iam::ACCOUNT:role/NAME}` "
            "(the role your backup plan's selection uses)",
        )
    return str(max(points, key=lambda p: p["CreationDate"])["IamRoleArn"])


def create(c: AwsContext, args: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
    from botocore.exceptions import ClientError

    db, vault = _targets(c, args)
    backup = c.clients.client("backup", vault.region or c.region)
    retain = int(args.get("retain_days", 7))
    try:
        role = args.get("iam_role_arn") or _role(backup, vault, db)
        ctx.log(f"aws: on-demand AWS Backup of {db.name} into vault {vault.name}")
        job_id = backup.start_backup_job(
            BackupVaultName=vault.name,
            ResourceArn=db.arn,
            IamRoleArn=role,
            IdempotencyToken=f"drill-{ctx.run_id}-{ctx.scenario_id}"[:100],
            Lifecycle={"DeleteAfterDays": retain},
            RecoveryPointTags={t["Key"]: t["Value"] for t in c.tags(ctx, "backup")},
        )["BackupJobId"]
        job: dict[str, Any] = {}

        def done() -> bool:
            job.update(backup.describe_backup_job(BackupJobId=job_id))
            if job.get("State") in _FINAL_FAILURES:
                raise ProviderError(
                    f"AWS Backup job {job_id} {job['State']}: "
                    f"{job.get('StatusMessage', 'no reason given')}",
                    "see the job in the AWS Backup console",
                )
            return job.get("State") == "COMPLETED"

        waited = c.wait(f"AWS Backup job {job_id}", done, ctx)
    except ClientError as exc:
        raise aws_error(exc, f"backup of {db.name} into {vault.name}") from None
    completed = job.get("CompletionDate")
    return {
        "backup_job": job_id,
        "recovery_point": job.get("RecoveryPointArn"),
        "vault": vault.name,
        "resource": db.arn,
        "iam_role": role,
        "retain_days": retain,
        "waited_s": round(waited, 3),
        "completed_at": completed.isoformat() if completed else None,
        "size_bytes": job.get("BackupSizeInBytes"),
    }
