"""The catalogue of provider-neutral actions and probes.

A runbook says *what* to do (``db.failover``); each provider (lab, aws) says *how*.
Every entry declares its contract once, and ``drill plan``, ``drill validate``, the
IAM policy generator and the docs are all derived from it:

* ``args``: a pydantic model, the argument schema;
* ``destructive``: whether it disrupts the target (needs confirmation on protected envs);
* ``rollback``: the action that undoes it and how its arguments are derived;
* ``permissions``: per provider, e.g. IAM actions for ``aws``, OS/PostgreSQL powers for ``lab``;
* ``example``: a YAML step that validates (tested for every entry).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from orchestrator.registry import Registry


class ActivityKind(StrEnum):
    ACTION = "action"
    PROBE = "probe"


class Args(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("target", check_fields=False)
    @classmethod
    def _loopback_dsn(cls, value: Any) -> Any:
        """A target may be a libpq DSN only on the lab (AWS targets are roles), so one
        that could reach beyond 127.0.0.0/8 is a definition error, found by `validate`
        rather than after `drill run` has brought the lab up."""
        from orchestrator.netguard import dsn_problem, looks_like_dsn

        if isinstance(value, str) and looks_like_dsn(value):
            problem = dsn_problem(value, environ={})  # the environment is checked at run time
            if problem:
                raise ValueError(problem)
        return value


class NoArgs(Args):
    pass


class TargetArgs(Args):
    target: str = Field("primary_db", description="role of the database (see targets:)")


class BackupArgs(TargetArgs):
    vault: str = Field(
        "backup_vault",
        description="AWS: role of the AWS Backup vault that receives the recovery point",
    )
    iam_role_arn: str | None = Field(
        None,
        description="AWS: the role AWS Backup assumes; "
        "default: the role of the database's newest recovery "
        "point in the vault",
    )
    retain_days: int = Field(
        7,
        ge=1,
        le=36500,
        description="AWS: the recovery point "
        "expires after this many days (drill leaves nothing behind)",
    )


class FailoverArgs(Args):
    target: str = Field("primary_db", description="role of the Multi-AZ database")
    wait: bool = Field(True, description="wait until the new primary accepts writes")


class PromoteArgs(Args):
    target: str = Field("dr_replica", description="role of the cross-region replica")
    wait: bool = True


class RestoreArgs(Args):
    source: str = Field("backup_vault", description="role of the vault/snapshot source")
    point_in_time: Literal["latest", "disaster"] | str = Field(
        "disaster",
        description="'latest', 'disaster' (just before the fault mark) or an ISO timestamp",
    )
    new_instance: str | None = Field(None, description="name of the new instance")
    keep: bool = Field(False, description="keep the restored instance after validation")


class AzArgs(Args):
    az: str = Field(
        "primary",
        description="availability zone to isolate or restore (name "
        "or id); `primary`: the AZ hosting the primary database when it runs",
    )


class DnsPointArgs(Args):
    record: str = Field("dns_record", description="role of the DNS record")
    to: str = Field("dr_replica", description="role whose endpoint the record should name")


class LinkArgs(Args):
    link: str = Field("region", description="which link (the cross-region replication path)")


class LatencyArgs(LinkArgs):
    latency_ms: int = Field(200, ge=0, le=60_000)
    bandwidth_kbps: int | None = Field(None, gt=0, description="throttle, when supported")


class LagArgs(Args):
    target: str = "dr_replica"
    max_lag_s: float = Field(60.0, ge=0)


class TableArgs(Args):
    table: str = Field("drill_dataset", description="table in the application database")


class HealthArgs(Args):
    target: str = Field("db", description="endpoint to check: db | global_db | app")


@dataclass(frozen=True)
class Rollback:
    """How to undo an action: the action name and which arguments carry over."""

    action: str
    carry: tuple[str, ...] = ()
    fixed: dict[str, Any] = field(default_factory=dict)

    def args_for(self, original: dict[str, Any]) -> dict[str, Any]:
        args = {k: original[k] for k in self.carry if k in original}
        args.update(self.fixed)
        return args


@dataclass(frozen=True)
class ActionSpec:
    """The declared contract of one provider-neutral action or probe."""

    name: str
    kind: ActivityKind
    summary: str
    args: type[Args]
    destructive: bool
    permissions: dict[str, tuple[str, ...]]
    example: str
    rollback: Rollback | None = None

    def validate_args(self, raw: dict[str, Any]) -> Args:
        return self.args.model_validate(raw)


ACTIONS: Registry[ActionSpec] = Registry("action")


def _register(spec: ActionSpec) -> None:
    ACTIONS.register(spec.name, spec)


_LAB_PG = ("postgres: superuser on lab clusters",)

for _spec in [
    ActionSpec(
        "db.failover",
        ActivityKind.ACTION,
        "Force a Multi-AZ failover of the primary database to its synchronous standby.",
        FailoverArgs,
        True,
        {
            "aws": (
                "rds:RebootDBInstance",
                "rds:DescribeDBInstances",
                "rds:DescribeEvents",
                "rds:FailoverDBCluster",
                "rds:RestoreDBInstanceToPointInTime",
                "rds:AddTagsToResource",
            ),
            "lab": ("signal: SIGKILL the primary postmaster",),
        },
        "- name: fail over\n  action: db.failover\n  args: {target: primary_db}\n",
        Rollback("db.reprotect", ("target",)),
    ),
    ActionSpec(
        "db.reprotect",
        ActivityKind.ACTION,
        "Rebuild a standby for the current primary so the pair is Multi-AZ again.",
        TargetArgs,
        False,
        {
            "aws": ("rds:DescribeDBInstances", "rds:DeleteDBInstance"),
            "lab": ("pg_basebackup", *_LAB_PG),
        },
        "- action: db.reprotect\n",
    ),
    ActionSpec(
        "db.promote_replica",
        ActivityKind.ACTION,
        "Promote the cross-region read replica to a standalone writable primary.",
        PromoteArgs,
        True,
        {
            "aws": (
                "rds:PromoteReadReplica",
                "rds:DescribeDBInstances",
                "rds:DescribeEvents",
                "rds:CreateDBInstanceReadReplica",
                "rds:AddTagsToResource",
            ),
            "lab": ("pg_ctl promote", *_LAB_PG),
        },
        "- action: db.promote_replica\n  args: {target: dr_replica}\n",
        Rollback("db.rebuild_replica", ("target",)),
    ),
    ActionSpec(
        "db.rebuild_replica",
        ActivityKind.ACTION,
        "Re-create the cross-region replica from the primary after a promotion drill.",
        TargetArgs,
        False,
        {
            "aws": (
                "rds:CreateDBInstanceReadReplica",
                "rds:DescribeDBInstances",
                "rds:DeleteDBInstance",
                "rds:CreateDBSnapshot",
                "rds:AddTagsToResource",
            ),
            "lab": ("pg_basebackup", *_LAB_PG),
        },
        "- action: db.rebuild_replica\n  args: {target: dr_replica}\n",
    ),
    ActionSpec(
        "dns.point",
        ActivityKind.ACTION,
        "Repoint the global DNS record (Route53 failover record) at another endpoint.",
        DnsPointArgs,
        True,
        {
            "aws": (
                "route53:ChangeResourceRecordSets",
                "route53:ListResourceRecordSets",
                "route53:GetChange",
            ),
            "lab": ("global endpoint proxy control",),
        },
        "- action: dns.point\n  args: {record: dns_record, to: dr_replica}\n",
        Rollback("dns.point", ("record",), {"to": "primary_db"}),
    ),
    ActionSpec(
        "backup.create",
        ActivityKind.ACTION,
        "Take an on-demand backup into the vault (recovery point).",
        BackupArgs,
        False,
        {
            "aws": (
                "backup:StartBackupJob",
                "backup:DescribeBackupJob",
                "backup:ListRecoveryPointsByBackupVault",
                "iam:PassRole",
            ),
            "lab": ("pg_basebackup", *_LAB_PG),
        },
        "- action: backup.create\n",
    ),
    ActionSpec(
        "db.restore",
        ActivityKind.ACTION,
        "Restore the database into a NEW instance from the vault (latest or point in time).",
        RestoreArgs,
        False,
        {
            "aws": (
                "backup:ListRecoveryPointsByBackupVault",
                "backup:GetRecoveryPointRestoreMetadata",
                "backup:StartRestoreJob",
                "backup:DescribeRestoreJob",
                "rds:RestoreDBInstanceToPointInTime",
                "rds:RestoreDBInstanceFromDBSnapshot",
                "rds:DescribeDBSnapshots",
                "rds:DescribeDBInstances",
                "rds:AddTagsToResource",
                "iam:PassRole",
                "rds:DescribeEvents",
            ),  # RDS's account of the restore (observer)
            "lab": ("initdb/pg_ctl on a new data directory", *_LAB_PG),
        },
        "- action: db.restore\n  args: {source: backup_vault, point_in_time: disaster}\n",
        Rollback("db.delete_restored", ("new_instance",)),
    ),
    ActionSpec(
        "db.delete_restored",
        ActivityKind.ACTION,
        "Delete an instance created by db.restore (unless kept).",
        Args,
        False,
        {
            "aws": ("rds:DeleteDBInstance", "rds:DescribeDBInstances"),
            "lab": ("pg_ctl stop; remove data directory",),
        },
        "- action: db.delete_restored\n",
    ),
    ActionSpec(
        "data.drop_table",
        ActivityKind.ACTION,
        "Logical corruption: drop an application table (the case backups exist for).",
        TableArgs,
        True,
        {"aws": ("postgres: DROP on the table",), "lab": _LAB_PG},
        "- action: data.drop_table\n  args: {table: drill_dataset}\n",
        Rollback("data.recreate_table", ("table",)),
    ),
    ActionSpec(
        "data.recreate_table",
        ActivityKind.ACTION,
        "Re-create and reload the known dataset table after a drop-table drill.",
        TableArgs,
        False,
        {"aws": ("postgres: CREATE/INSERT",), "lab": _LAB_PG},
        "- action: data.recreate_table\n",
    ),
    ActionSpec(
        "az.isolate",
        ActivityKind.ACTION,
        "Lose an availability zone: everything in it stops answering.",
        AzArgs,
        True,
        {
            "aws": (
                "fis:StartExperiment",
                "fis:GetExperiment",
                "ec2:DescribeNetworkAcls",
                "ec2:CreateNetworkAcl",
                "ec2:ReplaceNetworkAclAssociation",
                "ec2:CreateTags",
                "autoscaling:SuspendProcesses",
                "autoscaling:UpdateAutoScalingGroup",
                "autoscaling:DescribeAutoScalingGroups",
                # RDS's account of the loss: the primary's AZ, its failover events
                "rds:DescribeDBInstances",
                "rds:DescribeEvents",
            ),
            "lab": ("signal: SIGKILL/SIGSTOP processes of the AZ",),
        },
        "- action: az.isolate\n  args: {az: primary}\n",
        Rollback("az.restore", ("az",)),
    ),
    ActionSpec(
        "az.restore",
        ActivityKind.ACTION,
        "Bring an isolated availability zone back.",
        AzArgs,
        False,
        {
            "aws": (
                "ec2:ReplaceNetworkAclAssociation",
                "ec2:DeleteNetworkAcl",
                "ec2:DescribeNetworkAcls",
                "fis:StopExperiment",
                "fis:GetExperiment",
                "autoscaling:ResumeProcesses",
                "autoscaling:UpdateAutoScalingGroup",
            ),
            "lab": ("start lab processes",),
        },
        "- action: az.restore\n  args: {az: use1-az1}\n",
    ),
    ActionSpec(
        "region.isolate",
        ActivityKind.ACTION,
        "Lose the primary region: every AZ of it stops answering (database, apps, endpoint).",
        NoArgs,
        True,
        {
            "aws": (
                "ec2:DescribeNetworkAcls",
                "ec2:CreateNetworkAcl",
                "ec2:ReplaceNetworkAclAssociation",
                "ec2:CreateTags",
                "fis:StartExperiment",
                "fis:GetExperiment",
                "autoscaling:SuspendProcesses",
                "autoscaling:UpdateAutoScalingGroup",
                "autoscaling:DescribeAutoScalingGroups",
            ),
            "lab": ("signal: SIGKILL/SIGSTOP processes of the region",),
        },
        "- action: region.isolate\n",
        Rollback("region.restore"),
    ),
    ActionSpec(
        "region.restore",
        ActivityKind.ACTION,
        "Bring the isolated primary region back (as a demoted former primary).",
        NoArgs,
        False,
        {
            "aws": (
                "ec2:ReplaceNetworkAclAssociation",
                "ec2:DeleteNetworkAcl",
                "ec2:DescribeNetworkAcls",
                "fis:StopExperiment",
                "fis:GetExperiment",
                "autoscaling:ResumeProcesses",
                "autoscaling:UpdateAutoScalingGroup",
            ),
            "lab": ("start lab processes",),
        },
        "- action: region.restore\n",
    ),
    ActionSpec(
        "link.cut",
        ActivityKind.ACTION,
        "Cut the cross-region replication link.",
        LinkArgs,
        True,
        {
            "aws": ("fis:StartExperiment", "fis:GetExperiment"),
            "lab": ("region link proxy control",),
        },
        "- action: link.cut\n",
        Rollback("link.restore", ("link",)),
    ),
    ActionSpec(
        "link.latency",
        ActivityKind.ACTION,
        "Add latency (and optionally throttle) on the cross-region link.",
        LatencyArgs,
        True,
        {
            "aws": ("fis:StartExperiment", "fis:GetExperiment"),
            "lab": ("region link proxy control",),
        },
        "- action: link.latency\n  args: {latency_ms: 300}\n",
        Rollback("link.restore", ("link",)),
    ),
    ActionSpec(
        "link.restore",
        ActivityKind.ACTION,
        "Restore the cross-region link to normal.",
        LinkArgs,
        False,
        {
            "aws": ("fis:StopExperiment", "fis:GetExperiment", "ec2:DescribeNetworkAcls"),
            "lab": ("region link proxy control",),
        },
        "- action: link.restore\n",
    ),
    ActionSpec(
        "db.health",
        ActivityKind.PROBE,
        "The endpoint accepts a connection and answers a query.",
        HealthArgs,
        False,
        {
            "aws": (
                "rds:DescribeDBInstances",
                "route53:ListResourceRecordSets",
                "elasticloadbalancing:DescribeTargetHealth",
            ),
            "lab": ("postgres: CONNECT",),
        },
        "- kind: probe\n  action: db.health\n  args: {target: db}\n",
    ),
    ActionSpec(
        "db.writable",
        ActivityKind.PROBE,
        "The endpoint accepts a write (not read-only, not blocked on a sync standby).",
        HealthArgs,
        False,
        {"aws": ("postgres: INSERT on drill_heartbeat",), "lab": ("postgres: INSERT",)},
        "- kind: probe\n  action: db.writable\n  args: {target: db}\n",
    ),
    ActionSpec(
        "db.replication_lag",
        ActivityKind.PROBE,
        "Replication lag of a replica is within a budget.",
        LagArgs,
        False,
        {
            "aws": ("cloudwatch:GetMetricStatistics", "rds:DescribeDBInstances"),
            "lab": ("postgres: pg_stat_replication",),
        },
        "- kind: probe\n  action: db.replication_lag\n"
        "  args: {target: dr_replica, max_lag_s: 60}\n",
    ),
    ActionSpec(
        "db.multi_az",
        ActivityKind.PROBE,
        "The primary has a healthy synchronous standby.",
        TargetArgs,
        False,
        {"aws": ("rds:DescribeDBInstances",), "lab": ("postgres: pg_stat_replication",)},
        "- kind: probe\n  action: db.multi_az\n",
    ),
    ActionSpec(
        "app.health",
        ActivityKind.PROBE,
        "The load balancer answers its health check.",
        NoArgs,
        False,
        {"aws": ("elasticloadbalancing:DescribeTargetHealth",), "lab": ("HTTP GET",)},
        "- kind: probe\n  action: app.health\n",
    ),
    ActionSpec(
        "data.verify",
        ActivityKind.PROBE,
        "The known dataset is intact (row count and checksum) on an endpoint.",
        HealthArgs,
        False,
        {"aws": ("postgres: SELECT",), "lab": ("postgres: SELECT",)},
        "- kind: probe\n  action: data.verify\n  args: {target: db}\n",
    ),
]:
    _register(_spec)


def rollback_of(name: str, args: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """The (action, args) that undo ``name`` called with ``args``, if any."""
    spec = ACTIONS.get(name)
    if spec.rollback is None:
        return None
    return spec.rollback.action, spec.rollback.args_for(args)
