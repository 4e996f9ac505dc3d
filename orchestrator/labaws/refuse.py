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

from typing import TYPE_CHECKING
from xml.sax.saxutils import escape

from orchestrator.labaws import PRIMARY_ID, REPLICA_ID

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
