"""The lab's Python helper processes: proxies, app instances, load balancer, controller.

Their command lines are derived from the lab state alone, so ``lab up`` can restart a
helper that died with exactly the ports and targets it had.
"""

from __future__ import annotations

import time
from pathlib import Path

from orchestrator.errors import LabError
from orchestrator.providers.lab import journal, procs
from orchestrator.providers.lab.state import Component, LabState

PKG = "orchestrator.providers.lab"
AZS = ("use1-az1", "use1-az2")


def proxy_target(st: LabState, name: str) -> int | None:
    """Where a proxy forwards to right now, from the state."""
    if name == "db-endpoint" or name == "region-link":
        primary = st.components.get(st.primary)
        return primary.port if primary is not None and primary.desired == "up" else None
    if name == "global-endpoint":
        target = st.components.get(st.global_target)
        return target.port if target is not None else None
    return None


def command(st: LabState, root: Path, c: Component) -> tuple[str, list[str]]:
    """(module, args) that start helper ``c``."""
    if c.kind == "proxy" and c.role == "load_balancer":
        backends = [f"{a.name}={a.port}" for a in st.components.values() if a.kind == "app"]
        return f"{PKG}.lb", ["--port", str(c.port)] + [
            x for b in backends for x in ("--backend", b)
        ] + [x for name in st.deregistered for x in ("--out", name)]
    if c.kind == "proxy":
        args = ["--name", c.name, "--port", str(c.port), "--control", str(c.control_port)]
        target = proxy_target(st, c.name)
        if target is not None:
            args += ["--target", str(target)]
        return f"{PKG}.proxy", args
    if c.kind == "app":
        return f"{PKG}.app", [
            "--name",
            c.name,
            "--az",
            c.az or "",
            "--port",
            str(c.port),
            "--dsn",
            st.dsn("db-endpoint"),
        ]
    if c.kind == "controller":
        return f"{PKG}.controller", ["--root", str(root)]
    if c.kind == "aws":  # `lab up --aws`: orchestrator/labaws
        return "orchestrator.labaws.server", [
            "--state-dir",
            str(root.parent),
            "--port",
            str(c.port),
        ]
    raise ValueError(f"{c.name} is not a helper")


def start(st: LabState, root: Path, c: Component) -> None:
    """Start helper ``c`` and record its pid in the state file at once (does not wait for
    its port). At once, not when the operation that started it ends: one that fails or
    is killed after this point (``az.restore`` played by a recovery, whose re-protect
    then fails) would lose the pid, and the helper would outlive ``lab down``, holding
    its port — `lab down left processes behind`, to be killed by hand."""
    from orchestrator.providers.lab.state import save

    journal.note("process", "start")
    module, args = command(st, root, c)
    c.pid, c.start_ticks = procs.spawn_python(module, args, root / "logs" / f"{c.name}.log")
    c.desired = "up"
    save(root, st)


def wait(root: Path, c: Component, timeout: float = 20.0) -> None:
    """Wait until helper ``c`` serves (its ports listen; the controller has ticked)."""
    assert c.pid is not None
    if c.kind == "aws":
        from orchestrator.labaws.lifecycle import wait_ready

        return wait_ready(root, c, max(timeout, 60.0))
    if c.kind == "controller":
        ready = root / "controller.ready"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ready.exists() and ready.read_text().strip() == str(c.pid):
                return
            if procs.state(c.pid, c.start_ticks) == "dead":
                break
            time.sleep(0.02)
        why = procs.reason(root / "logs" / "controller.log")
        raise LabError(f"the failover controller did not start: {why}")
    for port in (c.port, c.control_port):
        if port:
            procs.wait_port(port, c.pid, c.start_ticks, c.name, root / "logs" / f"{c.name}.log")
