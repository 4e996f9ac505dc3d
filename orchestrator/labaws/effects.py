"""Mutating AWS calls → what the lab does (after moto accepted the call).

Each effect runs the lab's own action (the code `--env lab` runs), so a drill through
the AWS API and a drill on the lab fault the same real processes:

* ``RebootDBInstance`` with ``ForceFailover`` on the primary → the primary is killed
  and the lab's controller fails over (``rebooting`` until the new primary answers);
  afterwards the old primary is rebuilt as the standby, as RDS re-protects itself;
  without it → the instance's PostgreSQL (the primary's, the replica's, a restored
  one's) restarts in place, no failover (:mod:`~orchestrator.labaws.reboot`);
* ``PromoteReadReplica`` of the us-west-2 replica → ``usw2`` promoted (``modifying``
  until it leaves recovery); ``CreateDBInstanceReadReplica`` under its name → ``usw2``
  rebuilt from the primary (``creating`` until it streams). Deleting the replica leaves
  ``usw2`` running until it is re-created (the rebuild replaces it);
* ``ChangeResourceRecordSets`` on the global record → the global endpoint repointed at
  the instance the record now names;
* ``RestoreDBInstanceToPointInTime`` / ``…FromDBSnapshot`` (and AWS Backup's
  ``StartRestoreJob``, :mod:`~orchestrator.labaws.backup_api`) → a real PostgreSQL
  restored from the vault into a new lab instance of the same name (``creating`` until
  it serves); ``DeleteDBInstance`` of it → the instance stopped and removed;
* network-ACL changes → every AZ whose subnets all sit on an ACL that lets nothing
  through (no ``allow`` rule, or a deny-all rule before any allow) is isolated
  (SIGSTOP, as ``az.isolate``), and restored when they leave it; when every AZ is cut
  — or the deny-all ACL is tagged ``drill:scope=region`` — the whole region is;
* EC2 stop / start / terminate of an app instance → its app process
  (:mod:`~orchestrator.labaws.app_effects`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orchestrator.labaws import ACCOUNT, DR_REGION, LAB_AZ, PRIMARY_ID, REGION, REPLICA_ID
from orchestrator.labaws.hub import Transition

if TYPE_CHECKING:
    from orchestrator.labaws.hub import Hub
    from orchestrator.labaws.middleware import Call
    from orchestrator.providers.lab.state import LabState


def apply(hub: Hub, call: Call) -> None:
    from orchestrator.labaws import app_effects
    from orchestrator.labaws.refuse import own_protection

    own_protection(call)
    fn = EFFECTS.get(call.operation) or app_effects.EFFECTS.get(call.operation)
    if fn is not None:
        fn(hub, call)


def before(call: Call) -> dict[str, Any]:
    """What an effect must know of the instance as it was before moto applied the call
    (moto has changed it by the time the effect runs)."""
    if call.service != "rds" or call.operation not in ("ModifyDBInstance", "DeleteDBInstance"):
        return {}
    from orchestrator.labaws.sync import find_db

    db = find_db(call.region, str(call.params.get("DBInstanceIdentifier") or ""))
    if db is None:
        return {}
    if call.operation == "DeleteDBInstance":  # its event needs the instance moto drops
        return {"instance": db}
    return {"DBInstanceClass": db.db_instance_class}


# ---- RDS ----------------------------------------------------------------------------
def _reboot(hub: Hub, call: Call) -> None:
    ident = str(call.params.get("DBInstanceIdentifier") or "")
    forced = str(call.params.get("ForceFailover", "")).lower() == "true"
    if forced and ident == PRIMARY_ID and call.region == REGION:
        fail_over(hub, "rebooting")
        return
    # a forced failover of a restored instance created MultiAZ (isolated mode's clone of
    # the primary): one lab server, no standby — it restarts in place, an outage as real
    from orchestrator.labaws.reboot import reboot_in_place

    reboot_in_place(hub, ident=ident, region=call.region)


def _modify(hub: Hub, call: Call) -> None:
    """A new instance class, applied now (refuse.py lets through no other change the lab
    would have to act on). RDS applies it to a Multi-AZ instance's standby first and
    fails over to it — the outage clients see is a failover — then to the old primary,
    the new standby; a single-AZ instance is rebooted with it. ``modifying`` meanwhile."""
    new = call.params.get("DBInstanceClass")
    if call.params.get("DBInstanceIdentifier") != PRIMARY_ID or call.region != REGION:
        return
    if not new or new == call.before.get("DBInstanceClass"):
        return  # nothing to apply: RDS changes nothing either
    if hub.state().standby:
        fail_over(hub, "modifying")
    else:
        from orchestrator.labaws.reboot import reboot_in_place

        reboot_in_place(hub, "modifying")


def fail_over(hub: Hub, status: str) -> None:
    """The primary killed and the lab's controller failing over, as RDS's Multi-AZ
    failover: its two events when it starts and once the new primary answers, and
    ``status`` (Multi-AZ throughout) until the old primary has been rebuilt as the
    standby — RDS reports the reboot or modification in flight until the pair is whole,
    never a Single-AZ instance in between."""
    old = hub.state().primary
    hub.lab("db.failover", {"target": "primary_db", "wait": False})

    def done(st: LabState) -> bool:
        from orchestrator.providers.lab import pg

        return st.primary != old and pg.alive(st.comp("db-endpoint").port or 0)

    hub.begin(
        REGION,
        PRIMARY_ID,
        Transition(
            status,
            done,
            ("DRILL_FAILOVER_START", "DRILL_FAILOVER_DONE"),
            then=lambda: _reprotect(hub),
            hold=True,  # `status` until the old primary is the standby again
        ),
    )


def _reprotect(hub: Hub) -> None:
    """RDS re-protects itself after a failover: the old primary becomes the standby."""
    hub.lab("db.reprotect", {"target": "primary_db"})


def _promote(hub: Hub, call: Call) -> None:
    from orchestrator.providers.lab import pg

    ident = call.params.get("DBInstanceIdentifier") or ""
    if call.region != DR_REGION:
        return
    if ident == REPLICA_ID:
        hub.lab("db.promote_replica", {"target": "dr_replica", "wait": False})
        server = "usw2"
    else:
        comp = hub.state().components.get(ident)
        if comp is None or comp.role != "clone":
            return
        pg.promote(comp.port or 0)  # a clone (isolated mode): production is untouched
        server = ident

    def done(st: LabState) -> bool:
        return not pg.query(st.comp(server).port or 0, "SELECT pg_is_in_recovery()")

    hub.begin(
        DR_REGION,
        ident,
        Transition("modifying", done, ("DRILL_PROMOTE_START", "DRILL_PROMOTE_DONE")),
    )


def _create_replica(hub: Hub, call: Call) -> None:
    ident = call.params.get("DBInstanceIdentifier") or ""
    if call.region != DR_REGION:
        return
    if ident != REPLICA_ID:
        _clone(hub, ident)
        return
    finished: dict[str, bool] = {}

    def rebuild() -> None:
        hub.lab("db.rebuild_replica", {"target": "dr_replica"})
        finished["ok"] = True

    hub.begin(DR_REGION, REPLICA_ID, Transition("creating", lambda st: "ok" in finished))
    hub.background("rebuild of usw2", rebuild, (DR_REGION, REPLICA_ID))


def _clone(hub: Hub, ident: str) -> None:
    """A new cross-region replica (isolated mode's clone): a real server replicating
    from usw2 under the instance's name, ``creating`` until it runs."""
    from orchestrator.providers.lab.ops import Lab
    from orchestrator.providers.lab.ops_db import clone_replica_locked
    from orchestrator.providers.lab.state import locked

    finished: dict[str, bool] = {}

    def work() -> None:
        hub.log(f"lab: cloning usw2 into {ident} (a new cross-region replica)")
        with locked(hub.root) as st:
            clone_replica_locked(Lab(hub.settings, hub.env), st, ident)
        finished["ok"] = True

    hub.begin(DR_REGION, ident, Transition("creating", lambda st: "ok" in finished))
    hub.background(f"clone {ident}", work, (DR_REGION, ident))


def _restore_pitr(hub: Hub, call: Call) -> None:
    ident = call.params.get("TargetDBInstanceIdentifier") or ""
    when = call.params.get("RestoreTime")
    restore_into(hub, ident, when if when else "latest")


def _restore_snapshot(hub: Hub, call: Call) -> None:
    from orchestrator.labaws.sync import rds_backend

    ident = call.params.get("DBInstanceIdentifier") or ""
    snap = rds_backend(call.region).database_snapshots.get(
        call.params.get("DBSnapshotIdentifier") or ""
    )
    when = snap.snapshot_create_time.isoformat() if snap is not None else None
    restore_into(hub, ident, when or "latest")


def restore_into(hub: Hub, ident: str, point_in_time: str) -> None:
    """A real restore from the lab's vault into a new lab instance named ``ident``."""
    finished: dict[str, bool] = {}

    def work() -> None:
        hub.lab(
            "db.restore",
            {"source": "backup_vault", "new_instance": ident, "point_in_time": point_in_time},
        )
        finished["ok"] = True

    hub.begin(REGION, ident, Transition("creating", lambda st: "ok" in finished))
    hub.background(f"restore into {ident}", work, (REGION, ident))


def _delete(hub: Hub, call: Call) -> None:
    ident = call.params.get("DBInstanceIdentifier") or ""
    gone = call.before.get("instance")
    if gone is not None:  # RDS's "DB instance deleted", kept after the instance is gone
        from orchestrator.labaws.sync import rds_backend

        rds_backend(call.region).add_event("DRILL_DELETED", gone)

    def remove() -> None:
        # looked up when the worker gets here: an instance deleted while `creating` has
        # its restore (or clone) queued or running before this, on the same worker —
        # looked up at the call, it had no server yet, and the one the restore then
        # started stayed up with no instance in the API
        comp = hub.state().components.get(ident)
        if comp is not None and comp.role in ("restored", "clone"):
            from orchestrator.providers.lab.ops import Lab
            from orchestrator.providers.lab.ops_restore import remove_instances

            remove_instances(Lab(hub.settings, hub.env), [ident])

    hub.background(f"removal of {ident}", remove)


# ---- Route53 ----------------------------------------------------------------------------
def _record(hub: Hub, call: Call) -> None:
    """The global record repointed: DNS names are case-insensitive (``DRILL-LAB-DR…``
    names the replica as ``drill-lab-dr…`` does; the endpoint was left where it was
    while the record said it had moved)."""
    from orchestrator.labaws import RECORD, dns_name

    def names(ident: str) -> tuple[str, str]:
        return dns_name(ident).lower(), ident.lower()

    for name, values in call.params.get("records", []):
        if name.rstrip(".").lower() != RECORD or not values:
            continue
        value = values[0].rstrip(".").lower()
        st = hub.state()
        if value in names(PRIMARY_ID):
            to = "primary_db"
        elif value in names(REPLICA_ID):
            to = "dr_replica"
        else:
            to = next((c.name for c in st.by_role("restored") if value in names(c.name)), "")
        if to:
            hub.lab("dns.point", {"record": "dns_record", "to": to})
        else:
            hub.log(f"{RECORD} now names {value!r}, no lab instance: endpoint left as is")


# ---- EC2 network ACLs ------------------------------------------------------------------
def _network(hub: Hub, call: Call) -> None:
    want_azs, region_cut = isolated_zones()
    st = hub.state()
    region_now = REGION in st.isolated
    if region_now and not region_cut:
        hub.lab("region.restore", {})
    for az in sorted(a for a in st.isolated if a in LAB_AZ.values()):
        if az not in want_azs and not region_cut:
            hub.lab("az.restore", {"az": az})
    if region_cut and not region_now:
        hub.lab("region.isolate", {})
        return
    st = hub.state()
    for az in sorted(want_azs - set(st.isolated)):
        if not region_cut:
            hub.lab("az.isolate", {"az": az})


def isolated_zones() -> tuple[set[str], bool]:
    """Lab AZs whose every subnet sits on a deny-all ACL; whether the region is cut."""
    from moto.ec2.models import ec2_backends

    ec2 = ec2_backends[ACCOUNT][REGION]
    acl_of: dict[str, Any] = {}
    acl: Any
    for acl in ec2.network_acls.values():
        for assoc in acl.associations:
            acl_of[assoc.subnet_id] = acl
    cut: dict[str, list[bool]] = {}
    region_tag = False
    for subnet in _subnets(ec2):
        lab_az = LAB_AZ.get(subnet.availability_zone)
        if lab_az is None:
            continue
        acl = acl_of.get(subnet.id)
        deny = acl is not None and denies_all(acl)
        cut.setdefault(lab_az, []).append(deny)
        if deny:
            tags = {t["key"]: t["value"] for t in acl.get_tags()}
            region_tag = region_tag or tags.get("drill:scope") == "region"
    azs = {az for az, flags in cut.items() if flags and all(flags)}
    return azs, region_tag or (bool(cut) and azs == set(cut))


def denies_all(acl: Any) -> bool:
    """Whether an ACL lets nothing through: it has no allow rule (the deny-all ACL a
    swap puts on), or, in either direction, a deny of all traffic from anywhere comes
    before every allow — rules are evaluated lowest number first and the first match
    decides, so a deny-all rule 1 on the subnets' own ACL cuts them too."""
    entries = list(acl.entries)
    if not any(e.rule_action == "allow" for e in entries):
        return True
    for egress in (False, True):
        side = [e for e in entries if str(e.egress).lower() == str(egress).lower()]
        for e in sorted(side, key=lambda e: int(e.rule_number)):
            if e.rule_action == "allow":
                break
            if str(e.protocol) in ("-1", "all") and e.cidr_block == "0.0.0.0/0":
                return True
    return False


def _subnets(ec2: Any) -> list[Any]:
    """The lab VPC's subnets (tagged at seeding; moto's default VPC has others)."""
    return [
        s
        for by_az in ec2.subnets.values()
        for s in by_az.values()
        if any(t["key"] == "drill:lab-az" for t in s.get_tags())
    ]


EFFECTS = {
    "RebootDBInstance": _reboot,
    "ModifyDBInstance": _modify,
    "PromoteReadReplica": _promote,
    "CreateDBInstanceReadReplica": _create_replica,
    "RestoreDBInstanceToPointInTime": _restore_pitr,
    "RestoreDBInstanceFromDBSnapshot": _restore_snapshot,
    "DeleteDBInstance": _delete,
    "ChangeResourceRecordSets": _record,
    "ReplaceNetworkAclAssociation": _network,
    "DeleteNetworkAcl": _network,
    "CreateNetworkAclEntry": _network,
    "DeleteNetworkAclEntry": _network,
    "ReplaceNetworkAclEntry": _network,
}
