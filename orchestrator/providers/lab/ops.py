"""Plumbing shared by the lab's action and probe implementations: the op registry,
the lab handle, target resolution, and waiting that honours aborts."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.config import EnvironmentConfig, Settings
from orchestrator.errors import Aborted, LabError
from orchestrator.netguard import dsn_problem, looks_like_dsn
from orchestrator.providers.base import StepContext
from orchestrator.providers.lab import procs
from orchestrator.providers.lab.state import APP_DB, LabState, lab_dir, load


@dataclass
class Lab:
    """A handle on one lab: where its state lives and how it is tuned."""

    settings: Settings
    env: EnvironmentConfig

    @property
    def root(self) -> Path:
        return lab_dir(self.settings.state_path())

    def state(self) -> LabState:
        st = load(self.root)
        if st is None:
            raise LabError("the lab is not running", "start it with `drill lab up`")
        return st


Op = Callable[[Lab, dict[str, Any], StepContext], dict[str, Any]]
OPS: dict[str, Op] = {}


def op(name: str) -> Callable[[Op], Op]:
    """Register the lab implementation of provider-neutral action/probe ``name``."""

    def deco(fn: Op) -> Op:
        if name in OPS:
            raise ValueError(f"lab op {name!r} registered twice")
        OPS[name] = fn
        return fn

    return deco


# role names used by runbooks → lab components
ROLE_ALIASES = {
    "primary_db": "primary",
    "db_primary": "primary",
    "dr_replica": "usw2",
    "standby": "standby",
}


def component_for(st: LabState, role: str) -> str:
    """The component a role name (or a component name) stands for, right now."""
    name = ROLE_ALIASES.get(role, role)
    if name == "primary":
        return st.primary
    if name == "standby":
        if st.standby is None:
            raise LabError("the primary has no standby now", "run `db.reprotect` first")
        return st.standby
    if name not in st.components:
        known = ", ".join(["primary_db", "dr_replica", "standby", *sorted(st.components)])
        raise LabError(f"unknown lab target {role!r}", f"known: {known}")
    return name


#: the names a step's ``target`` may use on the lab besides roles and component names
ENDPOINT_TARGETS = ("db", "global_db", "app", "restored", "clone")
#: the lab's database servers, named before the lab has ever run
SERVERS = ("use1-az1", "use1-az2", "usw2")


def unknown_target(args: dict[str, Any], st: LabState | None) -> LabError | None:
    """Why a step's ``target`` names nothing on the lab, or None. Actions such as
    ``db.failover`` act on whatever is primary, so a misspelt role (``primry_db``)
    was planned and run without a word, where the AWS provider refuses it."""
    target = args.get("target")
    if not isinstance(target, str) or looks_like_dsn(target):
        return None
    names = st.components if st is not None else SERVERS
    if target in ROLE_ALIASES or target in ENDPOINT_TARGETS or target in names:
        return None
    known = ", ".join([*ROLE_ALIASES, *ENDPOINT_TARGETS, *SERVERS])
    return LabError(
        f"target {target!r} is no role, endpoint or server of the lab",
        f"known: {known} (or a loopback DSN)",
    )


def check_loopback_dsn(dsn: str) -> str:
    """A DSN given by a user must name a loopback host: the lab talks to nothing else
    (:func:`orchestrator.netguard.dsn_problem` says what is checked)."""
    problem = dsn_problem(dsn)
    if problem:
        raise LabError(problem)
    return dsn


def dsn_for(st: LabState, target: str) -> str:
    """A libpq DSN for a probe/verify target: db | global_db | restored | role | DSN."""
    if looks_like_dsn(target):
        return check_loopback_dsn(target)
    if target == "db":
        return st.endpoints()["db"]
    if target == "global_db":
        return st.endpoints()["global_db"]
    if target == "clone":  # isolated mode: the newest promoted clone
        clones = [c for c in st.components.values() if c.role == "clone"]
        if not clones:
            raise LabError(
                "no promoted clone exists", "run `db.promote_replica` in isolated mode first"
            )
        return st.dsn(clones[-1].name, APP_DB)
    if target == "restored":
        restored = [c for c in st.components.values() if c.role == "restored"]
        if not restored:
            raise LabError("no restored instance exists", "run `db.restore` first")
        return st.dsn(restored[-1].name, APP_DB)
    return st.dsn(component_for(st, target), APP_DB)


def wait_for(
    what: str, check: Callable[[], bool], ctx: StepContext | None, timeout: float
) -> float:
    """Poll ``check`` every 50 ms until true; returns seconds waited. Abort-aware."""
    t0 = time.monotonic()
    deadline = t0 + (ctx.deadline_s if ctx and ctx.deadline_s else timeout)
    while True:
        if check():
            return time.monotonic() - t0
        if ctx is not None and ctx.should_abort():
            raise Aborted(f"aborted while waiting for {what}")
        if time.monotonic() > deadline:
            raise LabError(f"timed out waiting for {what}")
        time.sleep(0.05)


def require_live(ctx: StepContext, action: str) -> None:
    if ctx.mode == "isolated":
        raise LabError(
            f"{action} disrupts the environment and is not run in isolated mode",
            "run the drill with --mode live, or leave this step out in isolated mode",
        )


def require_controller(st: LabState) -> None:
    c = st.components.get("controller")
    if c is None or procs.state(c.pid, c.start_ticks) != "running":
        raise LabError(
            "the lab's failover controller is not running",
            "restart it with `drill lab up` (it restarts dead helpers)",
        )
