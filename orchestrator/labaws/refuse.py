"""Calls the emulator refuses before moto sees them: what RDS itself refuses on this
topology, and what the lab cannot act on — never a success that changed nothing.

``StopDBInstance`` of the primary was answered ``stopped`` while the lab's database
kept serving, and the next describe said ``available`` again (the sync copies the
lab's truth): ``chaosaws.rds.actions.stop_db_instance`` "succeeded" with no fault. RDS
refuses to stop an instance that has a read replica — the primary's cross-region
replica — and moto already refuses the replica itself (it is one). An instance of the
lab without replicas (a promoted replica, a restored one) has no stopped state in the
lab, so the call is refused as well, saying so. Deleting the primary is refused as
its deletion protection (on, as for any production database) would be; moto deleted
it while the lab's database went on serving, and every describe said it was gone.
A plain ``CreateDBInstance`` was answered with an ``available`` instance at
127.0.0.1:5432 — no lab server behind it, whatever else listens there answering as it.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape

from orchestrator.labaws import PRIMARY_ID, REGION, REPLICA_ID

if TYPE_CHECKING:
    from orchestrator.labaws.hub import Hub
    from orchestrator.labaws.middleware import Call

RDS_NS = "http://rds.amazonaws.com/doc/2014-10-31/"


def refusal(hub: Hub, call: Call) -> tuple[str, str] | None:
    """(error code, message) when the call is refused, else None."""
    ident = str(call.params.get("DBInstanceIdentifier") or "")
    if call.service == "rds" and call.operation == "CreateDBInstance":
        return (
            "InvalidParameterCombination",
            f"Cannot create DB instance {ident}: the AWS-shaped lab (drill lab up --aws) "
            "has a server only for instances it restores (RestoreDBInstanceToPointInTime, "
            "RestoreDBInstanceFromDBSnapshot, AWS Backup's StartRestoreJob) or clones "
            "(CreateDBInstanceReadReplica)",
        )
    if call.service == "rds" and call.operation == "DeleteDBInstance" and ident == PRIMARY_ID:
        return (
            "InvalidParameterCombination",
            f"Cannot delete DB instance {ident}: it is the AWS-shaped lab's primary "
            "(drill lab up --aws); its deletion protection stays on",
        )
    pitr = call.service == "rds" and call.operation == "RestoreDBInstanceToPointInTime"
    if pitr and (outside := _restore_time(hub, call)):
        return outside
    if call.service == "elasticloadbalancing":
        return _load_balancer(call)
    if call.service == "fis" and call.method == "POST" and call.path.rstrip("/") == "/experiments":
        return (  # StartExperiment (REST: POST /experiments)
            "ValidationException",
            "Cannot start an FIS experiment: the AWS-shaped lab (drill lab up --aws) runs "
            "none (moto answered it and it stayed 'initiating', the lab untouched); cut an "
            "AZ by moving its subnets onto a network ACL that lets nothing through, as drill "
            "does for an environment without fis_templates",
        )
    if call.service == "rds" and (busy := _busy(hub, call, ident)):
        return ("InvalidDBInstanceState", f"DB instance {ident} is not in available state ({busy})")
    if call.service == "rds" and call.operation == "ModifyDBInstance":
        return _modify(call, ident)
    if call.service == "rds" and call.operation == "RebootDBInstance":
        return _no_standby(hub, call, ident)
    if call.service != "rds" or call.operation != "StopDBInstance":
        return None
    from orchestrator.labaws.sync import find_db

    db = find_db(call.region, ident)
    if db is None or db.is_replica:
        return None  # moto answers: not found, or a read replica cannot be stopped
    if db.replicas:
        return (
            "InvalidDBInstanceState",
            f"Cannot stop DB instance {ident}: a DB instance that has a read replica "
            "cannot be stopped",
        )
    if ident in hub.state().components or ident in (PRIMARY_ID, REPLICA_ID):
        return (
            "InvalidDBInstanceState",
            f"Cannot stop DB instance {ident}: the AWS-shaped lab (drill lab up --aws) "
            "has no stopped state for its databases; fault it with a forced-failover "
            "reboot, an AZ's network ACLs, or drill's own actions",
        )
    return None


#: ModifyDBInstance parameters that change nothing the lab runs: moto keeps them
_STORED = {
    "DBInstanceIdentifier",
    "ApplyImmediately",
    "AllocatedStorage",
    "MaxAllocatedStorage",
    "BackupRetentionPeriod",
    "PreferredBackupWindow",
    "PreferredMaintenanceWindow",
    "CopyTagsToSnapshot",
    "AutoMinorVersionUpgrade",
    "DeletionProtection",
    "MonitoringInterval",
    "MonitoringRoleArn",
    "EnablePerformanceInsights",
    "PerformanceInsightsKMSKeyId",
    "PerformanceInsightsRetentionPeriod",
    "CloudwatchLogsExportConfiguration",
}
#: … and the one it applies, as RDS does (effects._modify)
_APPLIED = "DBInstanceClass"


def _modify(call: Call, ident: str) -> tuple[str, str] | None:
    """ModifyDBInstance: moto applied every change at once and the lab did nothing — a
    new class said ``available`` at once with no failover, ``MultiAZ`` false was
    answered and the next describe said true again (the sync copies the lab's truth).
    The lab applies a class change to its primary (through a failover, effects._modify)
    and keeps settings nothing runs on; anything else is refused, naming it."""
    from orchestrator.labaws.sync import find_db

    given = {k.split(".", 1)[0] for k in call.params}
    if find_db(call.region, ident) is None:
        return None  # moto answers: not found
    lab = "the AWS-shaped lab (drill lab up --aws)"
    other = sorted(given - _STORED - {_APPLIED})
    kept = _STORED - {"DBInstanceIdentifier", "ApplyImmediately"}
    if other:
        return (
            "InvalidParameterCombination",
            f"Cannot modify DB instance {ident}: {lab} cannot apply {', '.join(other)}; "
            f"it applies {_APPLIED} to {PRIMARY_ID} and keeps {', '.join(sorted(kept))}",
        )
    off = str(call.params.get("DeletionProtection", "")).lower() == "false"
    if off and ident == PRIMARY_ID:
        return (
            "InvalidParameterCombination",
            f"Cannot modify DB instance {ident}: it is the primary of {lab}; its deletion "
            "protection stays on",
        )
    if _APPLIED not in given:
        return None
    if ident != PRIMARY_ID or call.region != REGION:
        return (
            "InvalidParameterCombination",
            f"Cannot modify DB instance {ident}: {lab} applies a new {_APPLIED} only to "
            f"{PRIMARY_ID}, its Multi-AZ primary",
        )
    if str(call.params.get("ApplyImmediately", "")).lower() != "true":
        return (
            "InvalidParameterCombination",
            f"Cannot modify DB instance {ident}: {lab} has no maintenance window to defer "
            f"a new {_APPLIED} to; pass ApplyImmediately=true",
        )
    return None


def _restore_time(hub: Hub, call: Call) -> tuple[str, str] | None:
    """A point-in-time restore to a moment the lab's archive does not cover — before
    its oldest base backup, or in the future — is refused, as RDS refuses a RestoreTime
    outside EarliestRestorableTime – LatestRestorableTime (and AWS Backup its continuous
    point's, backup_api): the lab answered ``creating``, the restore failed behind the
    API, and the instance said ``failed`` with its source's endpoint — the primary's."""
    from datetime import UTC, datetime

    from orchestrator.labaws.backup_api import outside_window
    from orchestrator.labaws.sync import find_db

    raw = str(call.params.get("RestoreTime") or "")
    source = str(call.params.get("SourceDBInstanceIdentifier") or "")
    if not raw or find_db(call.region, source) is None:
        return None  # the latest restorable time, or moto answers: not found
    try:
        when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None  # moto answers a malformed time
    if when.tzinfo is None:  # RDS takes a time without a zone as UTC
        when = when.replace(tzinfo=UTC)
    try:
        outside = outside_window(hub, when)
    except (OSError, ValueError, KeyError, TypeError):
        return None  # the vault's manifest unreadable: the restore says so when it runs
    if outside is None:
        return None
    return ("InvalidParameterValue", f"Cannot restore DB instance {source}: RestoreTime {outside}")


def _busy(hub: Hub, call: Call, ident: str) -> str | None:
    """The status of an instance whose work is in flight, for a call RDS accepts of an
    ``available`` instance only (a reboot, a promotion, a class change): a second
    reboot while the first was in flight killed the restarting primary, no failover
    followed, and the instance said ``rebooting`` for good."""
    acts = call.operation in ("RebootDBInstance", "PromoteReadReplica") or (
        call.operation == "ModifyDBInstance" and _APPLIED in call.params
    )
    status = hub.status_of(call.region, ident) if acts else None
    return status if status != "failed" else None


def _load_balancer(call: Call) -> tuple[str, str] | None:
    """The lab's load balancer keeps its deletion protection, as production's: moto
    deleted it (chaosaws's ``delete_load_balancer``) while the lab's went on serving,
    and every describe said it was gone. Its listener is the lab load balancer's one
    port: deleting it is refused too (the lab cannot stop listening and stay whole)."""
    from moto.elbv2.models import elbv2_backends

    from orchestrator.labaws import ACCOUNT, LOAD_BALANCER

    if call.region != REGION:
        return None
    lbs = elbv2_backends[ACCOUNT][REGION].load_balancers.values()
    lb = next((b for b in lbs if b.name == LOAD_BALANCER), None)
    if lb is None:
        return None
    arn, op = str(call.params.get("LoadBalancerArn") or ""), call.operation
    lab = "the AWS-shaped lab's (drill lab up --aws): its deletion protection stays on"
    if arn == lb.arn and op == "DeleteLoadBalancer":
        return (
            "OperationNotPermitted",
            f"Load balancer '{arn}' cannot be deleted because deletion protection is "
            f"enabled; it is {lab}",
        )
    off = any(  # deletion_protection.enabled=false
        v == "deletion_protection.enabled"
        and str(call.params.get(k[: -len("Key")] + "Value", "")).lower() == "false"
        for k, v in call.params.items()
        if k.startswith("Attributes.member.") and k.endswith(".Key")
    )
    if arn == lb.arn and op == "ModifyLoadBalancerAttributes" and off:
        return ("OperationNotPermitted", f"Load balancer '{arn}' is {lab}")
    if op == "DeleteListener" and str(call.params.get("ListenerArn")) in lb.listeners:
        return (
            "OperationNotPermitted",
            f"Cannot delete listener {call.params.get('ListenerArn')}: it is the port of "
            "the AWS-shaped lab's load balancer (drill lab up --aws), which cannot stop "
            "listening; take app instances out with DeregisterTargets or StopInstances",
        )
    return None


def _no_standby(hub: Hub, call: Call, ident: str) -> tuple[str, str] | None:
    """A forced failover of an instance with no standby is refused, as RDS refuses it;
    the lab answered it and its failover failed behind the API (nothing to fail over to).
    The primary is Multi-AZ throughout (RDS keeps the setting while it replaces a lost
    standby): whether it has a standby to fail over to is the lab's to say."""
    from orchestrator.labaws.sync import find_db

    db = find_db(call.region, ident)
    if db is None or str(call.params.get("ForceFailover", "")).lower() != "true":
        return None
    if ident == PRIMARY_ID and call.region == REGION:
        if hub.state().standby:
            return None
        return (  # Multi-AZ still (a setting), but its standby is lost or being rebuilt
            "InvalidDBInstanceState",
            f"Cannot reboot DB instance {ident} with ForceFailover: it has no standby "
            "right now (its AZ is cut, or one is being rebuilt; a standby comes back once "
            "its AZ is reachable, and DescribeDBInstances says `available` once it streams)",
        )
    if db.multi_az:
        return None
    return (
        "InvalidParameterCombination",
        f"Cannot reboot DB instance {ident} with ForceFailover: it is not a Multi-AZ "
        "instance (no standby to fail over to)",
    )


#: services whose errors are JSON documents (REST-JSON protocol), not XML
_JSON_ERRORS = {"fis"}


def error_document(service: str, code: str, message: str) -> tuple[bytes, str]:
    """The error document of a refusal as the service's protocol has it, and its type."""
    if service in _JSON_ERRORS:
        body = {"__type": code, "message": message}
        return json.dumps(body).encode(), "application/json"
    return error_xml(code, message), "text/xml"


def error_xml(code: str, message: str) -> bytes:
    """An RDS (query protocol) error document, as botocore parses it."""
    return (
        f'<ErrorResponse xmlns="{RDS_NS}"><Error><Type>Sender</Type>'
        f"<Code>{escape(code)}</Code><Message>{escape(message)}</Message></Error>"
        "<RequestId>drill-lab-aws</RequestId></ErrorResponse>"
    ).encode()


#: calls that create an instance from another one (moto copies its source's settings)
NEW_INSTANCE = {
    "RestoreDBInstanceToPointInTime": "TargetDBInstanceIdentifier",
    "RestoreDBInstanceFromDBSnapshot": "DBInstanceIdentifier",
    "CreateDBInstanceReadReplica": "DBInstanceIdentifier",
}


def own_protection(call: Call) -> None:
    """A new instance's deletion protection is what the call asked for (RDS's default:
    off), not its source's: moto copied the primary's, and the restore could not be
    deleted afterwards."""
    key = NEW_INSTANCE.get(call.operation)
    if call.service != "rds" or key is None:
        return
    from orchestrator.labaws.sync import find_db

    db = find_db(call.region, str(call.params.get(key) or ""))
    if db is not None:
        db.deletion_protection = str(call.params.get("DeletionProtection", "")).lower() == "true"
