"""The lab's real state → moto's backends, before every read the emulator answers.

Instances: status (a transition in flight, else ``available``), the AZ of the server
that is primary now and of its standby (the AZ a lost standby comes back in while the
lab has none), ``MultiAZ`` true for the primary throughout, as RDS keeps it, and
the endpoint ``127.0.0.1:<port>`` of the lab process clients reach (the primary's is
the lab's database endpoint). App instances are ``stopped`` while their lab process
is (an isolated AZ), so the target group reports them unhealthy. CloudWatch gets the
cross-region replica's real replay lag.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from orchestrator.labaws import (
    ACCOUNT,
    AZ_NAMES,
    DR_AZ,
    DR_REGION,
    PRIMARY_ID,
    REGION,
    REPLICA_ID,
    VAULT,
)

if TYPE_CHECKING:
    from orchestrator.labaws.hub import Hub
    from orchestrator.providers.lab.state import LabState

LOOPBACK = "127.0.0.1"

# RDS's own messages for the events drill's observer classifies
EVENTS = {
    "DRILL_REBOOT_START": {"Categories": ["availability"], "Message": "DB instance shutdown"},
    "DRILL_REBOOT_DONE": {"Categories": ["availability"], "Message": "DB instance restarted"},
    "DRILL_FAILOVER_START": {
        "Categories": ["failover"],
        "Message": "Multi-AZ instance failover started.",
    },
    "DRILL_FAILOVER_DONE": {
        "Categories": ["failover"],
        "Message": "Multi-AZ instance failover completed.",
    },
    "DRILL_PROMOTE_START": {
        "Categories": ["read replica"],
        "Message": "Promoting read replica to a standalone instance.",
    },
    "DRILL_PROMOTE_DONE": {
        "Categories": ["read replica"],
        "Message": "Read replica promoted to a standalone instance.",
    },
    "DRILL_NOTHING": {"Categories": ["notification"], "Message": "Instance available."},
    "DRILL_DELETED": {"Categories": ["deletion"], "Message": "DB instance deleted"},
}


def patch_moto() -> None:
    """What moto lets us set but does not model: an instance's endpoint address, and
    RDS's failover/promotion events."""
    from moto.rds import models

    original: Any = models.DBInstance.address

    def address(self: Any) -> str:
        return str(getattr(self, "lab_address", None) or original.fget(self))

    models.DBInstance.address = property(address)  # type: ignore[method-assign,assignment]
    models.Event.EVENT_MAP.update(EVENTS)


def rds_backend(region: str) -> Any:
    from moto.rds.models import rds_backends

    return rds_backends[ACCOUNT][region]


def find_db(region: str, ident: str) -> Any:
    return rds_backend(region).databases.get(ident)


def add_event(region: str, ident: str, event: str, at: datetime | None = None) -> None:
    db = find_db(region, ident)
    if db is not None:
        db.add_event(event)
        if at is not None:  # when the lab did it, not when the API first noticed
            rds_backend(region).events[-1].date = at


def sync(hub: Hub) -> None:
    st = hub.state()
    rebooting = hub.status_of(REGION, PRIMARY_ID) is not None
    hub.settle(st)
    _failed_over(hub, st, rebooting)
    _primary(hub, st)
    _replica(hub, st)
    _restored(hub, st)
    _own_ids()
    _apps(st)
    _vault(hub)


def _set(hub: Hub, db: Any, region: str, port: int | None) -> None:
    db.status = hub.status_of(region, db.db_instance_identifier) or "available"
    db.lab_address = LOOPBACK
    if port:
        db.port = port


def _primary(hub: Hub, st: LabState) -> None:
    db = find_db(REGION, PRIMARY_ID)
    if db is None:
        return
    _set(hub, db, REGION, st.comp("db-endpoint").port)
    primary = st.components.get(st.primary)
    if primary is not None and primary.az in AZ_NAMES:
        db.availability_zone = AZ_NAMES[primary.az]
    # `MultiAZ` is a setting (seeded on; ModifyDBInstance cannot turn it off), left as
    # moto holds it: RDS keeps it while it rebuilds or replaces a standby. The secondary
    # AZ is the standby's, else the one RDS brings a standby back in (the lost one)
    standby = st.components.get(st.standby or "")
    other = [az for lab_az, az in AZ_NAMES.items() if primary is None or lab_az != primary.az]
    db.secondary_availability_zone = (
        AZ_NAMES.get(standby.az or "") if standby is not None else (other[0] if other else None)
    )


def _failed_over(hub: Hub, st: LabState, rebooting: bool) -> None:
    """A failover the lab's controller made on its own (the primary's AZ lost, its
    server killed behind the API's back): RDS reports it with the same two events as
    a forced one, dated when the controller noticed the loss and promoted the standby.
    A failover the API started (RebootDBInstance) has its events already."""
    seen, hub.seen_primary = hub.seen_primary, st.primary
    now = st.components.get(st.primary)
    if seen is None or seen == st.primary or rebooting or now is None:
        return
    before = st.components.get(seen)
    if before is None or before.az not in AZ_NAMES or now.az not in AZ_NAMES:
        return  # not a Multi-AZ failover (a rebuilt lab, a region promotion)
    started, done = _controller_times(hub, st.primary)
    add_event(REGION, PRIMARY_ID, "DRILL_FAILOVER_START", started)
    add_event(REGION, PRIMARY_ID, "DRILL_FAILOVER_DONE", done)
    hub.log(f"{PRIMARY_ID}: failover to {st.primary} by the lab's controller (RDS events)")


def _controller_times(hub: Hub, new_primary: str) -> tuple[datetime | None, datetime | None]:
    """When the controller detected the loss and promoted ``new_primary`` (its log)."""
    import json

    started = done = death = None
    try:
        lines = (hub.root / "ground-truth.jsonl").read_text().splitlines()[-200:]
    except OSError:
        return None, None
    for line in lines:
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        if ev.get("event") == "primary_death_detected":
            death = datetime.fromisoformat(ev["wall"])
        elif ev.get("event") == "promotion_done" and ev.get("new_primary") == new_primary:
            started, done = death, datetime.fromisoformat(ev["wall"])
    return started, done


def _replica(hub: Hub, st: LabState) -> None:
    db = find_db(DR_REGION, REPLICA_ID)
    if db is not None:
        _set(hub, db, DR_REGION, st.comp("usw2").port)
        _single_az_in_dr_region(db)


def _single_az_in_dr_region(db: Any) -> None:
    """moto copies a cross-region replica's AZ, Multi-AZ and secondary AZ from its
    source (us-east-1c, true, us-east-1b): every lab instance in us-west-2 is one
    server, a Single-AZ instance in that region, with no secondary AZ (RDS leaves the
    key out)."""
    db.availability_zone, db.multi_az = DR_AZ, False
    db.secondary_availability_zone = None


def _restored(hub: Hub, st: LabState) -> None:
    """Every other instance: restored ones (their lab server), and whatever else a
    client created (no lab server behind it; status from any transition)."""
    for region in (REGION, DR_REGION):
        for ident, db in list(rds_backend(region).databases.items()):
            if ident in (PRIMARY_ID, REPLICA_ID):
                continue
            comp = st.components.get(ident)
            _set(hub, db, region, comp.port if comp is not None else None)
            if region == DR_REGION:  # a clone of the replica (isolated mode), or another
                _single_az_in_dr_region(db)


def _own_ids() -> None:
    """Every instance its own DbiResourceId, kept for its life: moto gives all the same
    one (and a replica is a copy of its source), so the primary and the replica had one
    ``id`` in the Terraform state."""
    import secrets
    import string

    seen: set[str] = set()
    for region in (REGION, DR_REGION):
        for db in rds_backend(region).databases.values():
            if db.dbi_resource_id in seen:
                alphabet = string.ascii_uppercase + string.digits
                db.dbi_resource_id = "db-" + "".join(secrets.choice(alphabet) for _ in range(26))
            seen.add(db.dbi_resource_id)


def _vault(hub: Hub) -> None:
    """The vault's recovery points are the lab vault's backups (see backup_api)."""
    from moto.backup.models import backup_backends

    from orchestrator.labaws.backup_api import number_of_points

    vault: Any = backup_backends[ACCOUNT][REGION].vaults.get(VAULT)
    points = number_of_points(hub)
    if vault is not None:
        # what ListBackupVaults reads, and what DescribeBackupVault's serializer does
        vault.num_of_recovery_points = vault.number_of_recovery_points = points
    db = find_db(REGION, PRIMARY_ID)
    if db is not None:
        # RDS names the instance's continuous recovery point in AWS Backup (its
        # AwsBackupRecoveryPointArn): the vault holds one while it has a base backup
        from orchestrator.labaws.backup_api import CONTINUOUS_ARN

        db.aws_backup_recovery_point_arn = CONTINUOUS_ARN if points else None


def _apps(st: LabState) -> None:
    from moto.ec2.models import ec2_backends

    from orchestrator.providers.lab import procs

    ec2 = ec2_backends[ACCOUNT][REGION]
    by_name: dict[str | None, Any] = {}
    for reservation in ec2.reservations.values():
        for inst in reservation.instances:
            tags = {t["key"]: t["value"] for t in inst.get_tags()}
            by_name[tags.get("Name")] = inst
    for comp in st.by_role("app"):
        app = by_name.get(comp.name)
        if app is None:
            continue
        up = comp.desired == "up" and procs.state(comp.pid, comp.start_ticks) == "running"
        if up and app.state in ("stopped", "terminated"):  # (`lab up` repaired it)
            app.start()
        elif not up and app.state == "running":
            app.stop()


def publish_lag(hub: Hub) -> None:
    """ReplicaLag of the cross-region replica, as RDS publishes it (seconds). While the
    replica does not stream from the primary (the region link cut or down, the replica
    stopped) it falls further behind every second: the lag is the time since it last
    streamed. It was 0 — no pg_stat_replication row, so nothing to replay — and
    region-promotion's precondition said the replica was within its lag budget on
    lab-aws while the same check on --env lab said it was not streaming."""
    import time

    from orchestrator.labaws.seed import client
    from orchestrator.providers.lab import pg

    st = hub.state()
    if st.usw2_promoted:
        return
    try:
        row = pg.replication(st.comp(st.primary).port or 0).get("usw2") or {}
    except Exception:
        return  # primary unreachable: RDS publishes nothing either
    if row.get("state") == "streaming":
        hub.replica_streamed_at = time.time()
        seconds = float(row.get("replay_lag_s") or 0.0)  # NULL: nothing to replay
    else:
        seconds = round(time.time() - hub.replica_streamed_at, 3)
    client(hub.url, "cloudwatch", DR_REGION).put_metric_data(
        Namespace="AWS/RDS",
        MetricData=[
            {
                "MetricName": "ReplicaLag",
                "Value": seconds,
                "Unit": "Seconds",
                "Timestamp": datetime.now(UTC),
                "Dimensions": [{"Name": "DBInstanceIdentifier", "Value": REPLICA_ID}],
            }
        ],
    )
