"""The lab's topology check and repair, run by every ``lab up`` on a lab that is up.

A running lab is not necessarily a healthy one: a drill killed in the middle of a
fault, or of its undo, can leave the primary region SIGSTOPped, ``usw2`` promoted (or
with an empty data directory), no synchronous standby, the global record on the wrong
target, the dataset dropped. Every one of those would make the next drill fail its
preconditions — or worse, run its faults on a topology it does not expect. So ``lab
up`` looks at what is *really* there (processes, ``pg_is_in_recovery()``,
``pg_stat_replication``, the proxies' own settings, the dataset's fingerprint), not at
what ``state.json`` claims, repairs what it can in place (each repair is one of the
lab's own idempotent undos) and rebuilds the lab when it cannot, saying what it did.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass
from typing import Any

from orchestrator.errors import LabError
from orchestrator.providers.lab import data, helpers, pg, procs, proxy
from orchestrator.providers.lab.state import LabState

AZ_DBS = ("use1-az1", "use1-az2")


@dataclass(frozen=True)
class Issue:
    what: str  # for the operator
    fix: str  # resume | restart | reprotect | usw2 | proxies | dataset | cleanup | rebuild


def _in_recovery(port: int | None) -> bool | None:
    try:
        value = pg.query(port or 0, "SELECT pg_is_in_recovery()", timeout=2)
    except LabError:
        return None
    return bool(value)


def check(st: LabState) -> list[Issue]:
    """What is wrong with a running lab (empty: healthy). Changes nothing."""
    if not st.ready or st.dataset is None:
        return [Issue("the lab was never finished building", "rebuild")]
    issues: list[Issue] = []
    for c in st.components.values():
        proc = procs.state(c.pid, c.start_ticks)
        if c.role in ("restored", "clone"):
            issues.append(Issue(f"{c.name}: a {c.role} instance left behind", "cleanup"))
        elif proc == "stopped":
            issues.append(Issue(f"{c.name} is stopped (SIGSTOP)", "resume"))
        elif proc == "dead" and c.kind != "postgres" and c.desired != "down":
            taken = procs.port_taken(c.port) or procs.port_taken(c.control_port)
            if taken:  # it cannot come back where clients and the state expect it
                issues.append(Issue(f"{c.name} is not running and {taken}", "rebuild"))
            else:
                issues.append(Issue(f"{c.name} is not running", "restart"))
    if st.isolated:
        issues.append(Issue(f"still marked isolated: {', '.join(st.isolated)}", "resume"))
    if any(i.fix in ("resume", "restart") for i in issues):
        return issues  # the rest can only be judged once everything runs again
    if st.usw2_promoted:  # clients may have written there: which copy wins is no guess
        what = "usw2 was promoted to a standalone primary (a region promotion not undone)"
        return [*issues, Issue(what, "rebuild")]
    primary = st.components.get(st.primary)
    if primary is None or primary.name not in AZ_DBS or _in_recovery(primary.port) is not False:
        return [
            *issues,
            Issue(f"no writable primary in us-east-1 (state says {st.primary})", "rebuild"),
        ]
    try:
        repl = pg.replication(primary.port or 0)
    except LabError:
        repl = {}
    standby = repl.get(st.standby or "") or {}
    if (
        st.standby is None
        or standby.get("state") != "streaming"
        or standby.get("sync_state") != "sync"
        or _in_recovery(st.comp(st.standby).port) is not True
    ):
        issues.append(Issue(f"{primary.name} has no streaming synchronous standby", "reprotect"))
    usw2 = st.comp("usw2")
    if (
        usw2.role != "replica"
        or (repl.get("usw2") or {}).get("state") != "streaming"
        or _in_recovery(usw2.port) is not True
    ):
        issues.append(Issue("usw2 is not a streaming replica of the primary", "usw2"))
    issues += _proxy_issues(st, primary.port)
    issues += _dataset_issues(st)
    return issues


def _proxy_issues(st: LabState, primary_port: int | None) -> list[Issue]:
    want = {
        "db-endpoint": primary_port,
        "region-link": primary_port,
        "global-endpoint": st.comp("db-endpoint").port,
    }
    issues = []
    for name, target in want.items():
        try:
            got = proxy.control(st.comp(name).control_port or 0, op="get")
        except LabError as exc:
            got = {"error": exc.message}
        if got.get("target") != target or got.get("cut") or got.get("latency_ms"):
            issues.append(
                Issue(f"{name} does not forward to {target} as it should ({got})", "proxies")
            )
    if st.global_target != "db-endpoint":
        issues.append(Issue(f"the global record points at {st.global_target}", "proxies"))
    return issues


def _dataset_issues(st: LabState) -> list[Issue]:
    assert st.dataset is not None
    try:
        seen = data.fingerprint(st.endpoints()["db"], timeout=3)
    except LabError as exc:
        why = exc.message.splitlines()[0]  # the server's "LINE 1: <query>" adds nothing
        return [Issue(f"the known dataset cannot be read ({why})", "dataset")]
    if seen != st.dataset:
        return [
            Issue(
                f"the known dataset changed ({seen.rows} rows, expected {st.dataset.rows})",
                "rebuild",
            )
        ]
    return []


def repair(lab: Any, st: LabState, issues: list[Issue], log: Any) -> None:
    """Fix ``issues`` in place (the caller holds the lab lock and saves ``st``);
    LabError when one cannot be fixed (the caller then rebuilds the lab)."""
    from orchestrator.providers.lab.ops_db import rebuild_usw2, reprotect_locked
    from orchestrator.providers.lab.ops_restore import stop_instances

    fixes = {i.fix for i in issues}
    if "rebuild" in fixes:
        raise LabError("; ".join(i.what for i in issues if i.fix == "rebuild"))
    if "resume" in fixes:  # the order of region.restore: servers, proxies, apps, controller
        order = {"postgres": 0, "proxy": 1, "app": 2, "controller": 3}
        for c in sorted(st.components.values(), key=lambda c: order.get(c.kind, 9)):
            if procs.signal_group(c.pid, c.start_ticks, signal.SIGCONT) and c.desired != "down":
                c.desired = "up"
        st.isolated.clear()
        log("lab: resumed every stopped component; nothing is isolated any more")
    if "restart" in fixes:
        dead = [
            c
            for c in st.components.values()
            if c.kind != "postgres"
            and c.role not in ("restored", "clone")
            and c.desired != "down"
            and procs.state(c.pid, c.start_ticks) == "dead"
        ]
        for c in dead:
            helpers.start(st, lab.root, c)
        for c in dead:
            helpers.wait(lab.root, c)
            log(f"lab: restarted {c.name}")
    if "cleanup" in fixes:
        gone = stop_instances(
            st, [c.name for c in st.components.values() if c.role in ("restored", "clone")]
        )
        log(f"lab: removed left-over instances: {', '.join(gone)}")
    if fixes & {"resume", "restart"}:
        return  # judged again once everything runs (the caller checks again)
    if "reprotect" in fixes:
        out = reprotect_locked(lab, st, log)
        log(
            f"lab: {out['standby']} is the synchronous standby of {out['primary']} again"
            + (" (rebuilt)" if out["rebuilt"] else "")
        )
    if "usw2" in fixes:
        rebuild_usw2(lab, st)
        log("lab: rebuilt usw2 as a streaming replica of the primary")
    if "proxies" in fixes:
        from orchestrator.providers.lab.controller import repoint

        st.global_target = "db-endpoint"
        repoint(st)
        for name in ("region-link",):
            proxy.control(
                st.comp(name).control_port or 0,
                op="set",
                cut=False,
                latency_ms=0,
                bandwidth_kbps=None,
            )
        proxy.control(
            st.comp("global-endpoint").control_port or 0,
            op="set",
            target=st.comp("db-endpoint").port,
        )
        log("lab: endpoints, region link and global record point at the primary again")
    if "dataset" in fixes:
        assert st.dataset is not None
        data.create_dataset(st.endpoints()["db"], rows=st.dataset.rows)
        log(f"lab: re-created the known dataset ({st.dataset.rows} rows)")
