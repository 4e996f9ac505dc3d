"""Fault and repair actions of the lab: AZ and region loss, the region link, the global
DNS record, and the dropped-table corruption case.

An isolated AZ or region is SIGSTOPped, not killed: exactly like a network partition,
its processes keep their state and clients hang rather than get a clean refusal.
The controller sees a silent primary either way and fails over.
"""

from __future__ import annotations

import signal
import time
from typing import Any

from orchestrator.errors import LabError
from orchestrator.providers.base import StepContext
from orchestrator.providers.lab import data, helpers, procs, proxy
from orchestrator.providers.lab.ops import Lab, component_for, op, require_live
from orchestrator.providers.lab.state import (
    DATASET_TABLE,
    Component,
    LabState,
    ground_truth,
    locked,
)
from orchestrator.testhooks import crashpoint

REGION = "us-east-1"


def _members(st: LabState, az: str | None) -> list[Component]:
    """Components of one AZ (or, with None, of the whole primary region)."""
    if az is not None:
        return [
            c for c in st.components.values() if c.az == az and c.role not in ("restored", "clone")
        ]
    return [c for c in st.components.values() if c.region == REGION and c.role not in ("restored",)]


PRIMARY_AZ = "primary"  # alias: the AZ hosting the primary database when the action runs


def _check_az(az: str) -> None:
    if az not in helpers.AZS:
        raise LabError(
            f"unknown AZ {az!r}",
            f"the lab has {', '.join(helpers.AZS)} (or `{PRIMARY_AZ}`: the AZ "
            "of the current primary)",
        )


def wait_stopped(members: list[Any], timeout_s: float = 3.0) -> None:
    """SIGSTOP is delivered asynchronously: return only once every member is really
    stopped (or gone), so the fault is complete when the action reports it done."""
    deadline = time.monotonic() + timeout_s
    for c in members:
        if c.desired != "stopped":
            continue
        while procs.state(c.pid, c.start_ticks) == "running":
            if time.monotonic() > deadline:
                raise LabError(f"{c.name} (pid {c.pid}) did not stop after SIGSTOP")
            time.sleep(0.005)


def primary_az(st: LabState) -> str:
    """The AZ hosting the primary right now (it moves with every failover)."""
    az = st.comp(st.primary).az
    if az not in helpers.AZS:
        raise LabError(
            f"the primary is {st.primary}, which is in no us-east-1 AZ ({az or 'none'})",
            "name the AZ to isolate explicitly",
        )
    return str(az)


@op("az.isolate")
def az_isolate(lab: Lab, args: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
    require_live(ctx, "az.isolate")
    requested = str(args.get("az") or PRIMARY_AZ)
    if requested != PRIMARY_AZ:
        _check_az(requested)
    with locked(lab.root) as st:
        az = primary_az(st) if requested == PRIMARY_AZ else requested
        members = _members(st, az)
        ground_truth(
            lab.root,
            "fault_injected",
            action="az.isolate",
            az=az,
            components=[c.name for c in members],
        )
        for c in members:
            if procs.signal_group(c.pid, c.start_ticks, signal.SIGSTOP):
                c.desired = "stopped"
        wait_stopped(members)
        crashpoint("lab:az.isolate:stopped")
        if az not in st.isolated:
            st.isolated.append(az)
    how = f" (the primary's AZ: {st.primary})" if requested == PRIMARY_AZ else ""
    ctx.log(f"lab: SIGSTOP everything in {az}{how}: {', '.join(c.name for c in members)}")
    return {
        "az": az,
        "requested": requested,
        "stopped": [c.name for c in members],
        "rollback_args": {"az": az},
    }


@op("az.restore")
def az_restore(lab: Lab, args: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
    from orchestrator.providers.lab.ops_db import reprotect_locked

    requested = str(args.get("az") or PRIMARY_AZ)
    if requested != PRIMARY_AZ:
        _check_az(requested)
    with locked(lab.root) as st:
        if requested == PRIMARY_AZ:
            # the rollback normally gets the resolved AZ; if drill died before it could
            # record it, the AZ to bring back is the one isolated (the primary has moved)
            # — or, if it died before even the state said so, the one really stopped
            lost = [a for a in st.isolated if a in helpers.AZS] or [
                a
                for a in helpers.AZS
                if any(procs.state(c.pid, c.start_ticks) == "stopped" for c in _members(st, a))
            ]
            az = lost[0] if lost else primary_az(st)
        else:
            az = requested
        resumed = []
        for c in _members(st, az):
            if c.kind != "postgres" and procs.state(c.pid, c.start_ticks) == "dead":
                helpers.start(st, lab.root, c)
                helpers.wait(lab.root, c)
            elif procs.signal_group(c.pid, c.start_ticks, signal.SIGCONT):
                c.desired = "up"
            resumed.append(c.name)
            crashpoint("lab:az.restore:partial")
        if az in st.isolated:
            st.isolated.remove(az)
        ground_truth(lab.root, "az_restored", az=az)
        out = reprotect_locked(lab, st, ctx.log) if not st.region_isolated() else {}
    return {"az": az, "resumed": resumed, "reprotect": out}


@op("region.isolate")
def region_isolate(lab: Lab, args: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
    require_live(ctx, "region.isolate")
    with locked(lab.root) as st:
        members = sorted(_members(st, None), key=lambda c: c.kind != "controller")
        ground_truth(
            lab.root,
            "fault_injected",
            action="region.isolate",
            region=REGION,
            components=[c.name for c in members],
        )
        for c in members:  # the controller first: a dead region does not fail itself over
            if procs.signal_group(c.pid, c.start_ticks, signal.SIGSTOP):
                c.desired = "stopped"
        wait_stopped(members)
        crashpoint("lab:region.isolate:stopped")
        if REGION not in st.isolated:
            st.isolated.append(REGION)
    ctx.log(f"lab: SIGSTOP the whole of {REGION}: {', '.join(c.name for c in members)}")
    return {"region": REGION, "stopped": [c.name for c in members]}


@op("region.restore")
def region_restore(lab: Lab, args: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
    with locked(lab.root) as st:
        order = {"postgres": 0, "proxy": 1, "app": 2, "controller": 3}
        resumed = []
        for c in sorted(_members(st, None), key=lambda c: order.get(c.kind, 9)):
            # every stopped member, whatever the state says: drill may have died between
            # the SIGSTOP and recording it (SIGCONT to a running process changes nothing)
            stopped = procs.state(c.pid, c.start_ticks) == "stopped"
            if (stopped or c.desired == "stopped") and procs.signal_group(
                c.pid, c.start_ticks, signal.SIGCONT
            ):
                c.desired = "up" if c.desired == "stopped" else c.desired
                resumed.append(c.name)
                crashpoint("lab:region.restore:partial")
        if REGION in st.isolated:
            st.isolated.remove(REGION)
        ground_truth(lab.root, "region_restored", region=REGION)
    return {
        "region": REGION,
        "resumed": resumed,
        "note": "usw2 stays primary until db.rebuild_replica" if st.usw2_promoted else "",
    }


def _link(lab: Lab, args: dict[str, Any]) -> Component:
    if args.get("link", "region") != "region":
        raise LabError(f"unknown link {args.get('link')!r}", "the lab has one link: region")
    return lab.state().comp("region-link")


@op("link.cut")
def link_cut(lab: Lab, args: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
    link = _link(lab, args)
    ground_truth(lab.root, "fault_injected", action="link.cut")
    return {"link": "region", **proxy.control(link.control_port or 0, op="set", cut=True)}


@op("link.latency")
def link_latency(lab: Lab, args: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
    link = _link(lab, args)
    ground_truth(
        lab.root,
        "fault_injected",
        action="link.latency",
        latency_ms=args.get("latency_ms"),
        bandwidth_kbps=args.get("bandwidth_kbps"),
    )
    return {
        "link": "region",
        **proxy.control(
            link.control_port or 0,
            op="set",
            latency_ms=int(args.get("latency_ms", 200)),
            bandwidth_kbps=args.get("bandwidth_kbps"),
        ),
    }


@op("link.restore")
def link_restore(lab: Lab, args: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
    link = _link(lab, args)
    return {
        "link": "region",
        **proxy.control(
            link.control_port or 0, op="set", cut=False, latency_ms=0, bandwidth_kbps=None
        ),
    }


@op("dns.point")
def dns_point(lab: Lab, args: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
    to = str(args.get("to", "dr_replica"))
    if ctx.mode == "isolated":  # production's record is left alone: answer with the clone
        clones = lab.state().by_role("clone")
        if not clones:
            raise LabError(
                "isolated mode: no promoted clone to point at",
                "run db.promote_replica (isolated) first",
            )
        return {"to": to, "dsn": lab.state().dsn(clones[-1].name), "isolated": True}
    with locked(lab.root) as st:
        name = "db-endpoint" if to in ("primary_db", "primary", "db") else component_for(st, to)
        previous = st.global_target
        proxy.control(
            st.comp("global-endpoint").control_port or 0, op="set", target=st.comp(name).port
        )
        crashpoint("lab:dns.point:switched")
        st.global_target = name
        ground_truth(lab.root, "dns_repointed", record="global", target=name)
        return {"to": to, "target": name, "previous": previous, "dsn": st.endpoints()["global_db"]}


@op("data.drop_table")
def drop_table(lab: Lab, args: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
    require_live(ctx, "data.drop_table")
    table = args.get("table", DATASET_TABLE)
    ground_truth(lab.root, "fault_injected", action="data.drop_table", table=table)
    data.drop(lab.state().endpoints()["db"], table)
    return {"table": table, "dropped": True}


@op("data.recreate_table")
def recreate_table(lab: Lab, args: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
    table = args.get("table", DATASET_TABLE)
    if table != DATASET_TABLE:
        raise LabError(f"the lab can only re-create its known dataset {DATASET_TABLE!r}")
    st = lab.state()
    dsn = st.endpoints()["db"]
    try:
        data.fingerprint(dsn, table)
        return {"table": table, "recreated": False, "note": "table exists"}
    except LabError:
        pass
    if st.dataset is None:
        raise LabError(
            "the lab has no known dataset to re-create", "rebuild the lab with `drill lab reset`"
        )
    crashpoint("lab:data.recreate_table:before")
    data.create_dataset(dsn, table, st.dataset.rows)
    return {"table": table, "recreated": True}
