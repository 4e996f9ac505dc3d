"""The AWS Backup calls moto does not implement, answered from the lab's real vault.

moto keeps backup vaults but has no recovery points or restore jobs. Here the
recovery points of the vault are the lab vault's base backups (``manifest.json``:
each a real, checksummed ``pg_basebackup``), and ``StartRestoreJob`` restores the
chosen one into a new lab instance — PostgreSQL replaying the archive up to the
moment that backup finished, as a snapshot restore does — which then exists as an
RDS instance of the requested name. The recovery points are also read one at a time
(``DescribeRecoveryPoint``, ``GetRecoveryPointRestoreMetadata`` — the metadata an SRE
passes back to ``StartRestoreJob``) and by resource (``ListRecoveryPointsByResource``);
everything else about vaults is moto's, with the vault's ``NumberOfRecoveryPoints``
kept to the lab vault's count.

The vault also holds one **continuous** recovery point of the primary (AWS Backup's
point-in-time recovery of RDS, ``arn:…:recovery-point:continuous:…``): the lab's WAL
archive on top of its oldest base backup. ``StartRestoreJob`` on it takes
``Metadata.RestoreTime`` (ISO 8601; or ``UseLatestRestorableTime: "true"``, also the
default) and restores to that moment, as ``--env lab`` does: a restore to just before a
disaster loses what was written in that last instant, not everything since the newest
scheduled backup (up to ``backup_interval_s``, the runbook's whole RPO budget). It is
restorable from its ``CreationDate`` (the oldest base backup's end) to now (its
``CompletionDate``: the archive is closed and shipped when a restore starts).
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from orchestrator.labaws import ACCOUNT, AZ_NAMES, PRIMARY_ID, REGION, VAULT

if TYPE_CHECKING:
    from orchestrator.labaws.hub import Hub

_POINTS = re.compile(r"^/backup-vaults/(?P<vault>[^/]+)/recovery-points/?$")
_POINT = re.compile(
    r"^/backup-vaults/(?P<vault>[^/]+)/recovery-points/(?P<arn>[^/]+)(?P<meta>/restore-metadata)?/?$"
)
_BY_RESOURCE = re.compile(r"^/resources/(?P<arn>[^/]+)/recovery-points/?$")
_JOB = re.compile(r"^/restore-jobs/(?P<job>[^/]+)/?$")
JOBS: dict[str, dict[str, Any]] = {}
SERVED = (
    "ListRecoveryPointsByBackupVault",
    "ListRecoveryPointsByResource",
    "DescribeRecoveryPoint",
    "GetRecoveryPointRestoreMetadata",
    "StartRestoreJob",
    "DescribeRestoreJob",
)


CONTINUOUS_ARN = f"arn:aws:backup:{REGION}:{ACCOUNT}:recovery-point:continuous:db-{PRIMARY_ID}-lab"
RETENTION_DAYS = 35  # the longest a continuous backup keeps (AWS Backup's limit)


def point_arn(backup_id: str) -> str:
    return f"arn:aws:backup:{REGION}:{ACCOUNT}:recovery-point:lab-{backup_id}"


def operation(method: str, path: str) -> str | None:
    """The operation a backup request is, when it is one served here."""
    if method == "GET" and _POINTS.match(path):
        return "ListRecoveryPointsByBackupVault"
    if method == "GET" and (m := _POINT.match(path)):
        return "GetRecoveryPointRestoreMetadata" if m["meta"] else "DescribeRecoveryPoint"
    if method == "GET" and _BY_RESOURCE.match(path):
        return "ListRecoveryPointsByResource"
    if method == "PUT" and path.rstrip("/") == "/restore-jobs":
        return "StartRestoreJob"
    if method == "GET" and _JOB.match(path):
        return "DescribeRestoreJob"
    return None


def handle(hub: Hub, op: str, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
    if op == "ListRecoveryPointsByBackupVault":
        m = _POINTS.match(path)
        assert m is not None
        if m["vault"] != VAULT:
            return 400, _error("ResourceNotFoundException", f"vault {m['vault']} not found")
        return 200, {"RecoveryPoints": _points(hub)}
    if op in ("DescribeRecoveryPoint", "GetRecoveryPointRestoreMetadata"):
        return _one_point(hub, op, path)
    if op == "ListRecoveryPointsByResource":
        m = _BY_RESOURCE.match(path)
        assert m is not None
        mine = unquote(m["arn"]) == _primary_arn()
        return 200, {"RecoveryPoints": _points(hub) if mine else []}
    if op == "StartRestoreJob":
        return _start(hub, json.loads(body or b"{}"))
    m = _JOB.match(path)
    assert m is not None
    job = JOBS.get(m["job"])
    if job is None:
        return 400, _error("ResourceNotFoundException", f"restore job {m['job']} not found")
    return 200, _job_view(hub, job)


def _one_point(hub: Hub, op: str, path: str) -> tuple[int, dict[str, Any]]:
    m = _POINT.match(path)
    assert m is not None
    arn = unquote(m["arn"])
    point = next((p for p in _points(hub) if p["RecoveryPointArn"] == arn), None)
    if m["vault"] != VAULT or point is None:
        return 400, _error("ResourceNotFoundException", f"recovery point {arn} not found")
    if op == "DescribeRecoveryPoint":
        return 200, point
    return 200, {
        "BackupVaultArn": point["BackupVaultArn"],
        "RecoveryPointArn": arn,
        "ResourceType": "RDS",
        "RestoreMetadata": _restore_metadata(),
    }


def _restore_metadata() -> dict[str, str]:
    """The source instance's settings, as AWS Backup keeps them for an RDS restore
    (all strings); ``StartRestoreJob`` takes them back with a new identifier."""
    from orchestrator.labaws.sync import find_db

    db = find_db(REGION, PRIMARY_ID)
    return {
        "DBInstanceIdentifier": PRIMARY_ID,
        "Engine": "postgres",
        "DBInstanceClass": str(getattr(db, "db_instance_class", "db.t4g.medium")),
        "AvailabilityZone": AZ_NAMES["use1-az1"],
        "MultiAZ": "false",
        "Port": str(getattr(db, "port", 5432)),
    }


def number_of_points(hub: Hub) -> int:
    try:
        return len(_points(hub))
    except (OSError, ValueError, KeyError):
        return 0


def _points(hub: Hub) -> list[dict[str, Any]]:
    """The continuous recovery point (while the vault has a base backup), then the
    snapshots oldest first."""
    backups = _backups(hub)
    snapshots = [_point(hub, b) for b in backups]
    return [_continuous(hub, backups[0]), *snapshots] if backups else snapshots


def _continuous(hub: Hub, oldest: dict[str, Any]) -> dict[str, Any]:
    point = _point(hub, oldest)
    since = datetime.fromisoformat(oldest["ended_at"])
    point.update(
        RecoveryPointArn=CONTINUOUS_ARN,
        CreationDate=since.timestamp(),
        CompletionDate=datetime.now(since.tzinfo).timestamp(),
        Lifecycle={"DeleteAfterDays": RETENTION_DAYS},
        CalculatedLifecycle={"DeleteAt": (since + timedelta(days=RETENTION_DAYS)).timestamp()},
    )
    return point


def _restore_time(
    hub: Hub, meta: dict[str, Any]
) -> tuple[str, None] | tuple[None, tuple[int, dict[str, Any]]]:
    """The moment a restore of the continuous point goes to (ISO 8601, or 'latest'),
    or the error AWS Backup answers."""
    raw = str(meta.get("RestoreTime") or "")
    latest = str(meta.get("UseLatestRestorableTime") or "").lower() == "true"
    if raw and latest:
        return None, (
            400,
            _error(
                "InvalidParameterValueException",
                "give RestoreTime or UseLatestRestorableTime, not both",
            ),
        )
    if not raw:
        return "latest", None
    try:
        when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        when = None
    if when is None or when.tzinfo is None:
        return None, (
            400,
            _error(
                "InvalidParameterValueException",
                f"RestoreTime {raw!r} is not an ISO 8601 time with a zone (e.g. "
                "2026-12-02T03:00:00Z)",
            ),
        )
    outside = outside_window(hub, when)
    if outside:
        return None, (400, _error("InvalidParameterValueException", f"RestoreTime {outside}"))
    return when.isoformat(), None


def outside_window(hub: Hub, when: datetime) -> str | None:
    """Why ``when`` (aware) cannot be restored to, or None: the lab's archive covers
    the end of its oldest base backup to now — the continuous recovery point's window,
    and RDS's own point-in-time restore's (EarliestRestorableTime to
    LatestRestorableTime), both read from the one vault."""
    backups = _backups(hub)
    now = datetime.now(when.tzinfo)
    if not backups:
        return f"{when.isoformat()} cannot be restored to: the vault holds no backup yet"
    since = datetime.fromisoformat(backups[0]["ended_at"])
    if since <= when <= now:
        return None
    return (
        f"{when.isoformat()} is outside the restorable window "
        f"{since.isoformat()} – {now.isoformat()}"
    )


def _backups(hub: Hub) -> list[dict[str, Any]]:
    from orchestrator.providers.lab import vault

    return list(vault.manifest(hub.root / "vault")["backups"])


def _primary_arn() -> str:
    from orchestrator.labaws.sync import find_db

    db = find_db(REGION, PRIMARY_ID)
    return str(db.db_instance_arn) if db is not None else ""


def _point(hub: Hub, b: dict[str, Any]) -> dict[str, Any]:
    created = datetime.fromisoformat(b["started_at"]).timestamp()
    ended = datetime.fromisoformat(b["ended_at"]).timestamp()
    return {
        "RecoveryPointArn": point_arn(b["id"]),
        "BackupVaultName": VAULT,
        "BackupVaultArn": f"arn:aws:backup:{REGION}:{ACCOUNT}:backup-vault:{VAULT}",
        "ResourceArn": _primary_arn(),
        "ResourceType": "RDS",
        "Status": "COMPLETED",
        "CreationDate": created,
        "CompletionDate": ended,
        "IamRoleArn": f"arn:aws:iam::{ACCOUNT}:role/drill-lab-backup",
    }


def _start(hub: Hub, req: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    from orchestrator.labaws.effects import restore_into
    from orchestrator.labaws.seed import client

    arn = str(req.get("RecoveryPointArn") or "")
    backups = _backups(hub)
    entry = next((b for b in backups if point_arn(b["id"]) == arn), None)
    meta = req.get("Metadata") or {}
    ident = str(meta.get("DBInstanceIdentifier") or "")
    if entry is None and not (arn == CONTINUOUS_ARN and backups):
        return 400, _error("ResourceNotFoundException", f"recovery point {arn} not found")
    if entry is not None:  # the state of the backup's end: the archive replayed just past it
        until = (datetime.fromisoformat(entry["ended_at"]) + timedelta(milliseconds=1)).isoformat()
    else:
        to, refused = _restore_time(hub, meta)
        if refused is not None:
            return refused
        assert to is not None
        until = to
    if not ident:
        return 400, _error(
            "InvalidParameterValueException", "Metadata.DBInstanceIdentifier is required"
        )
    from orchestrator.labaws.sync import find_db

    if find_db(REGION, ident) is not None:  # the metadata passed back unchanged
        return 400, _error(
            "InvalidParameterValueException",
            f"DB instance {ident} already exists: name a new one in Metadata.DBInstanceIdentifier",
        )
    db = client(hub.url, "rds").create_db_instance(
        DBInstanceIdentifier=ident,
        Engine="postgres",
        # the class asked (the source's, from its restore metadata): any runs the lab's
        # one server, and the instance says what was restored
        DBInstanceClass=str(meta.get("DBInstanceClass") or "db.t4g.medium"),
        AllocatedStorage=20,
        MasterUsername="drill",
        MasterUserPassword="not-used-by-the-lab",
        AvailabilityZone=AZ_NAMES["use1-az1"],
    )["DBInstance"]
    restore_into(hub, ident, until)
    job_id = str(uuid.uuid4())
    JOBS[job_id] = {
        "RestoreJobId": job_id,
        "RecoveryPointArn": arn,
        "CreatedResourceArn": db["DBInstanceArn"],
        "ident": ident,
        "CreationDate": datetime.now().timestamp(),
        "ResourceType": "RDS",
    }
    return 200, {"RestoreJobId": job_id}


def _job_view(hub: Hub, job: dict[str, Any]) -> dict[str, Any]:
    status = hub.status_of(REGION, job["ident"])
    out = {k: v for k, v in job.items() if k != "ident"}
    out["AccountId"] = ACCOUNT
    if status == "failed":
        out.update(Status="FAILED", StatusMessage="the lab restore failed (see the aws-api log)")
    elif status is not None:
        out["Status"] = "RUNNING"
    else:
        out.update(Status="COMPLETED", CompletionDate=datetime.now().timestamp())
    return out


def _error(code: str, message: str) -> dict[str, Any]:
    return {"__type": code, "Code": code, "Message": message, "message": message}
