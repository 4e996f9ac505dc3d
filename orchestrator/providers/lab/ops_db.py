"""Database actions of the lab: failover, re-protect, replica promotion and rebuild.

A forced failover is a real crash — SIGKILL of the primary's whole process group —
and the failover itself is left to the lab's controller, exactly as ``RebootDBInstance
--force-failover`` leaves it to RDS; the action then waits until a client write
through the endpoint succeeds.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

from orchestrator.errors import LabError
from orchestrator.providers.base import StepContext
from orchestrator.providers.lab import controller, pg, procs, proxy
from orchestrator.providers.lab.ops import Lab, op, require_controller, require_live, wait_for
from orchestrator.providers.lab.probes import timed_write
from orchestrator.providers.lab.state import LabState, ground_truth, locked
from orchestrator.testhooks import crashpoint

AZ_DBS = ("use1-az1", "use1-az2")


@op("db.failover")
def failover(lab: Lab, args: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
    require_live(ctx, "db.failover")
    st = lab.state()
    require_controller(st)
    if st.standby is None:
        raise LabError(
            "the primary has no standby to fail over to",
            "run `db.reprotect` first (a Multi-AZ pair is needed)",
        )
    old = st.comp(st.primary)
    ground_truth(
        lab.root,
        "fault_injected",
        action="db.failover",
        target=old.name,
        signal="SIGKILL",
        pid=old.pid,
    )
    ctx.log(f"lab: SIGKILL postgres process group of {old.name} (pid {old.pid})")
    procs.signal_group(old.pid, old.start_ticks, signal.SIGKILL)
    out: dict[str, Any] = {
        "old_primary": old.name,
        "new_primary": None,
        "method": "SIGKILL; controller failover",
    }
    if not args.get("wait", True):
        return out
    wait_for(
        "the controller to promote the standby", lambda: lab.state().primary != old.name, ctx, 60
    )
    endpoint = lab.state().endpoints()["db"]
    waited = wait_for(
        "a write through the database endpoint", lambda: timed_write(endpoint, 2.0)[0], ctx, 60
    )
    out["new_primary"] = lab.state().primary
    out["writable_after_s"] = round(waited, 3)
    return out


def _standby_ok(primary_port: int, name: str) -> bool:
    try:
        row = pg.replication(primary_port).get(name) or {}
    except LabError:
        return False
    return row.get("state") == "streaming"


def reprotect_locked(lab: Lab, st: LabState, log: Any) -> dict[str, Any]:
    """Give the current primary a synchronous standby in the other AZ (caller holds lock)."""
    primary = st.comp(st.primary)
    if primary.name not in AZ_DBS:
        raise LabError(f"the primary is {primary.name}; re-protect needs it in us-east-1")
    other = st.comp(AZ_DBS[1 - AZ_DBS.index(primary.name)])
    logs = lab.root / "logs"
    rebuilt = False
    if not (
        procs.state(other.pid, other.start_ticks) == "running"
        and _standby_ok(primary.port or 0, other.name)
    ):
        log(f"lab: rebuilding {other.name} as standby of {primary.name} (pg_basebackup)")
        procs.terminate(other.pid, other.start_ticks, grace_s=0.5, sig=signal.SIGKILL)
        crashpoint("lab:reprotect:killed")
        pg.basebackup_standby(
            primary.port or 0, Path(other.data_dir or ""), other.name, primary.port or 0
        )
        crashpoint("lab:reprotect:copied")
        other.pid, other.start_ticks = pg.start(
            other.name, Path(other.data_dir or ""), other.port or 0, logs / f"{other.name}.log"
        )
        crashpoint("lab:reprotect:started")
        pg.wait_streaming(primary.port or 0, other.name)
        rebuilt = True
    pg.set_sync(primary.port or 0, other.name)
    pg.wait_streaming(primary.port or 0, other.name, sync=True)
    other.role, other.desired, st.standby = "standby", "up", other.name
    out: dict[str, Any] = {"primary": primary.name, "standby": other.name, "rebuilt": rebuilt}
    if not st.usw2_promoted and "us-west-2" not in st.isolated:
        controller.repoint(st)
        try:
            pg.wait_streaming(primary.port or 0, "usw2", timeout=5)
        except LabError:
            log("lab: usw2 did not follow the new primary; rebuilding it")
            rebuild_usw2(lab, st)
            out["usw2_rebuilt"] = True
    ground_truth(lab.root, "reprotected", **out)
    return out


def _primary_settled(lab: Lab) -> bool:
    st = lab.state()
    primary = st.comp(st.primary)
    return procs.state(primary.pid, primary.start_ticks) == "running" and pg.alive(
        primary.port or 0
    )


@op("db.reprotect")
def reprotect(lab: Lab, args: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
    # A failover may still be in flight — e.g. the run was interrupted right after the
    # primary was killed, before the controller promoted the standby. Re-protecting now
    # would rebuild (kill) the very standby the controller is about to promote, so wait
    # for a live primary first. Not abort-aware on purpose: this runs as a rollback.
    wait_for(
        "a live primary (a failover may be in progress)", lambda: _primary_settled(lab), None, 90
    )
    with locked(lab.root) as st:
        return reprotect_locked(lab, st, ctx.log)


def rebuild_usw2(lab: Lab, st: LabState) -> None:
    """Re-create the cross-region replica from the current primary, over the region link."""
    usw2, link = st.comp("usw2"), st.comp("region-link")
    primary = st.comp(st.primary)
    proxy.control(link.control_port or 0, op="set", target=primary.port)
    procs.terminate(usw2.pid, usw2.start_ticks, grace_s=0.5, sig=signal.SIGKILL)
    crashpoint("lab:rebuild_usw2:killed")
    pg.basebackup_standby(link.port or 0, Path(usw2.data_dir or ""), "usw2", link.port or 0)
    crashpoint("lab:rebuild_usw2:copied")
    usw2.pid, usw2.start_ticks = pg.start(
        "usw2",
        Path(usw2.data_dir or ""),
        usw2.port or 0,
        lab.root / "logs" / "usw2.log",
        archive=False,
    )
    pg.wait_streaming(primary.port or 0, "usw2")
    usw2.role, usw2.desired, st.usw2_promoted = "replica", "up", False


@op("db.promote_replica")
def promote_replica(lab: Lab, args: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
    if ctx.mode == "isolated":
        return _promote_clone(lab, ctx)
    with locked(lab.root) as st:
        usw2 = st.comp("usw2")
        if not st.usw2_promoted:
            ground_truth(lab.root, "fault_injected", action="db.promote_replica", target="usw2")
            ctx.log("lab: promoting usw2 (pg_promote; clearing synchronous_standby_names)")
            pg.promote(usw2.port or 0)
            st.usw2_promoted, usw2.role = True, "primary"
            ground_truth(lab.root, "promotion_done", new_primary="usw2")
        dsn = st.dsn("usw2")
    if args.get("wait", True):
        wait_for("usw2 to accept writes", lambda: timed_write(dsn, 2.0)[0], ctx, 60)
    return {"instance": "usw2", "dsn": dsn}


def _promote_clone(lab: Lab, ctx: StepContext) -> dict[str, Any]:
    """Isolated mode: clone usw2 (pg_basebackup from the replica) and promote the clone."""
    ctx.log("lab: isolated mode — cloning usw2 and promoting the clone")
    with locked(lab.root) as st:
        c = clone_replica_locked(lab, st)
        pg.promote(c.port or 0)
        dsn = st.dsn(c.name)
    wait_for(f"{c.name} to accept writes", lambda: timed_write(dsn, 2.0)[0], ctx, 60)
    return {"instance": c.name, "dsn": dsn, "isolated": True}


def clone_replica_locked(lab: Lab, st: LabState, name: str | None = None) -> Any:
    """A new server replicating from usw2 (pg_basebackup from the replica), role
    ``clone``, in recovery until promoted (caller holds the lock). Also the AWS-shaped
    lab's ``CreateDBInstanceReadReplica`` of a new instance."""
    from orchestrator import pgbin
    from orchestrator.providers.lab.state import Component

    if name is None:
        st.counter += 1
        name = f"usw2-clone-{st.counter}"
    usw2 = st.comp("usw2")
    data = lab.root / "restored" / name
    data.parent.mkdir(parents=True, exist_ok=True)
    pg.basebackup_standby(usw2.port or 0, data, name, usw2.port or 0)
    c = Component(
        name=name,
        kind="postgres",
        role="clone",
        port=pgbin.free_port(),
        az="usw2-az1",
        region="us-west-2",
        data_dir=str(data),
    )
    st.components[name] = c
    log = lab.root / "logs" / f"{name}.log"
    c.pid, c.start_ticks = pg.start(name, data, c.port or 0, log, archive=False)
    pg.wait_ready(c.port or 0, c.pid, c.start_ticks, name, log)
    return c


@op("db.rebuild_replica")
def rebuild_replica(lab: Lab, args: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
    st0 = lab.state()
    if ctx.mode == "isolated":
        from orchestrator.providers.lab.ops_restore import remove_instances

        gone = remove_instances(lab, [c.name for c in st0.by_role("clone")])
        return {"removed_clones": gone, "isolated": True}
    if st0.region_isolated():
        from orchestrator.providers.lab.ops_faults import region_restore

        ctx.log("lab: the primary region is isolated; restoring it before rebuilding usw2")
        region_restore(lab, {}, ctx)
    with locked(lab.root) as st:
        ctx.log("lab: rebuilding usw2 from the primary over the region link (pg_basebackup)")
        rebuild_usw2(lab, st)
        ground_truth(lab.root, "replica_rebuilt", target="usw2", primary=st.primary)
        return {"instance": "usw2", "primary": st.primary, "dsn": st.dsn("usw2")}
