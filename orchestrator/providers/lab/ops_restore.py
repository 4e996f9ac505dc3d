"""Backup and restore actions of the lab: ``backup.create``, ``db.restore`` (to a NEW
instance, latest or point in time) and ``db.delete_restored``."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from orchestrator import pgbin
from orchestrator.errors import LabError
from orchestrator.providers.base import StepContext
from orchestrator.providers.lab import journal, pg, procs, vault
from orchestrator.providers.lab.ops import Lab, op
from orchestrator.providers.lab.state import Component, LabState, ground_truth, locked
from orchestrator.testhooks import crashpoint


@op("backup.create")
def backup_create(lab: Lab, args: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
    st = lab.state()
    primary = st.comp(st.primary)
    ctx.log(f"lab: base backup of {primary.name} into the vault (pg_basebackup)")
    entry = vault.create_backup(lab.root / "vault", primary.port or 0, primary.name)
    ground_truth(lab.root, "backup_created", backup=entry["id"], scheduled=False)
    return {
        "backup_id": entry["id"],
        "source": entry["source"],
        "ended_at": entry["ended_at"],
        "sha256": entry["files"],
    }


def target_time(point: str, ctx: StepContext) -> datetime | None:
    """'latest' → None; 'disaster' → the fault mark; else an ISO timestamp (UTC if naive)."""
    if point == "latest":
        return None
    if point == "disaster":
        mark = ctx.marks.get("disaster") or ctx.marks.get("fault_injected")
        if mark is None:
            raise LabError(
                "point_in_time 'disaster' needs a fault_injected mark before it",
                "mark the fault step (mark: fault_injected) or pass an ISO time",
            )
        return mark if mark.tzinfo else mark.replace(tzinfo=UTC)
    try:
        when = datetime.fromisoformat(point)
    except ValueError:
        raise LabError(
            f"point_in_time {point!r} is not 'latest', 'disaster' or an ISO timestamp"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@op("db.restore")
def restore(lab: Lab, args: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
    target = target_time(str(args.get("point_in_time", "disaster")), ctx)
    vdir = lab.root / "vault"
    st0 = lab.state()
    primary = st0.comp(st0.primary)
    if pg.alive(primary.port or 0):
        vault.wait_archived(vdir, primary.port or 0)  # the newest WAL must be in the vault
    else:
        ctx.log("lab: primary unreachable; restoring from what the vault already holds")
    entry = vault.pick(vdir, target)
    with locked(lab.root) as st:
        st.counter += 1
        name = args.get("new_instance") or f"restored-{st.counter}"
        if name in st.components:
            raise LabError(
                f"an instance named {name!r} already exists",
                "choose another new_instance or delete it with db.delete_restored",
            )
        c = Component(
            name=name,
            kind="postgres",
            role="restored",
            port=pgbin.free_port(),
            region="us-east-1",
            data_dir=str(lab.root / "restored" / name),
        )
        st.components[name] = c
    ctx.log(
        f"lab: restoring backup {entry['id']} into new instance {name} "
        f"(to {target.isoformat() if target else 'latest'})"
    )
    data = Path(c.data_dir or "")
    data.parent.mkdir(parents=True, exist_ok=True)
    vault.restore(vdir, entry, data, target)
    log = lab.root / "logs" / f"{name}.log"
    pid, ticks = pg.start(name, data, c.port or 0, log, archive=False)
    with locked(lab.root) as st:
        st.components[name].pid, st.components[name].start_ticks = pid, ticks
        dsn = st.dsn(name)
    pg.wait_ready(c.port or 0, pid, ticks, name, log, timeout=120, writable=True)
    ground_truth(
        lab.root,
        "restore_done",
        instance=name,
        backup=entry["id"],
        target=target.isoformat() if target else "latest",
    )
    rollback: dict[str, Any] = {"new_instance": name}
    if args.get("keep"):
        rollback["keep"] = True
    return {
        "instance": name,
        "dsn": dsn,
        "backup_id": entry["id"],
        "restored_to": target.isoformat() if target else "latest",
        "rollback_args": rollback,
    }


def remove_instances(lab: Lab, names: list[str]) -> list[str]:
    """Stop restored instances / clones and delete their data."""
    with locked(lab.root) as st:
        return stop_instances(st, names)


def stop_instances(st: LabState, names: list[str]) -> list[str]:
    """:func:`remove_instances` for a caller that holds the lab lock. Idempotent: an
    instance already stopped, or whose data is already gone, is simply forgotten."""
    gone = []
    for name in names:
        c = st.components.get(name)
        if c is None or c.role not in ("restored", "clone"):
            continue
        procs.terminate(c.pid, c.start_ticks, grace_s=3)
        if c.data_dir:
            pg.stop_owner(Path(c.data_dir))  # started, but drill died before its pid was saved
            crashpoint("lab:remove_instance:stopped")
            journal.note("instance", "remove")
            shutil.rmtree(c.data_dir, ignore_errors=True)
        del st.components[name]
        gone.append(name)
    return gone


@op("db.delete_restored")
def delete_restored(lab: Lab, args: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
    name = args.get("new_instance")
    if args.get("keep") or ctx.keep:
        return {"kept": name, "reason": "keep requested"}
    names = [name] if name else [c.name for c in lab.state().by_role("restored")]
    return {"deleted": remove_instances(lab, names)}
