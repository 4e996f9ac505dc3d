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
        return 200, {"RecoveryPoints": [_point(hub, b) for b in _backups(hub)]}
    if op in ("DescribeRecoveryPoint", "GetRecoveryPointRestoreMetadata"):
        return _one_point(hub, op, path)
    if op == "ListRecoveryPointsByResource":
        m = _BY_RESOURCE.match(path)
        assert m is not None
        mine = unquote(m["arn"]) == _primary_arn()
        return 200, {"RecoveryPoints": [_point(hub, b) for b in _backups(hub)] if mine else []}
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
    entry = next((b for b in _backups(hub) if point_arn(b["id"]) == arn), None)
    if m["vault"] != VAULT or entry is None:
        return 400, _error("ResourceNotFoundException", f"recovery point {arn} not found")
    point = _point(hub, entry)
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
        return len(_backups(hub))
    except (OSError, ValueError, KeyError):
        return 0


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
    entry = next((b for b in _backups(hub) if point_arn(b["id"]) == arn), None)
    ident = str((req.get("Metadata") or {}).get("DBInstanceIdentifier") or "")
    if entry is None:
        return 400, _error("ResourceNotFoundException", f"recovery point {arn} not found")
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
        DBInstanceClass="db.t4g.medium",
        AllocatedStorage=20,
        MasterUsername="drill",
        MasterUserPassword="not-used-by-the-lab",
        AvailabilityZone=AZ_NAMES["use1-az1"],
    )["DBInstance"]
    # the state of the backup's end: the archive is replayed just past it
    until = datetime.fromisoformat(entry["ended_at"]) + timedelta(milliseconds=1)
    restore_into(hub, ident, until.isoformat())
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
