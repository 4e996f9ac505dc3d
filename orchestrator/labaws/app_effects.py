"""EC2 calls on the app tier's instances → the lab's app processes.

Stopping an app instance is the classic Chaos Toolkit experiment
(``chaosaws.ec2.actions.stop_instances``). moto answered ``stopping`` and the lab's app
kept serving; the next ``DescribeInstances`` said ``running`` again (the sync copies
the lab's truth into moto): the experiment "succeeded" with no fault at all. Now:

* ``StopInstances`` / ``TerminateInstances`` of an app instance → its process is
  SIGSTOPped, as an isolated AZ's are: the load balancer's health check stops
  answering for it and it routes to the other AZ; ``DescribeInstances`` says
  ``stopped`` (``terminated`` for a terminate, which ``drill lab up`` repairs, as an
  ASG would replace the instance);
* ``StartInstances`` → SIGCONT (or a fresh process if it died), unless its AZ is
  isolated: a network-cut AZ stays cut, as in AWS;
* ``RebootInstances`` (chaosaws's ``restart_instances``) → its process shut down
  (SIGTERM) and started again: the load balancer's health check takes it out until it
  answers, and ``DescribeInstances`` says ``running`` throughout, as EC2 does. A
  stopped one, or one in an isolated AZ, is left as it is. (moto answered and nothing
  restarted.)

* ``DeregisterTargets`` / ``RegisterTargets`` on the lab's target group → the app
  leaves / rejoins the load balancer's rotation (it keeps running), as an ALB drains a
  deregistered target. (moto answered and the load balancer went on routing to it.)

Instances are found by their ``Name`` tag, the app component's name (seed.py).
"""

from __future__ import annotations

import signal
from typing import TYPE_CHECKING, Any

from orchestrator.labaws import ACCOUNT, REGION

if TYPE_CHECKING:
    from collections.abc import Callable

    from orchestrator.labaws.hub import Hub
    from orchestrator.labaws.middleware import Call
    from orchestrator.providers.lab.state import Component, LabState


def _names() -> dict[str, str]:
    """Instance id → its ``Name`` tag (a lab app component's name), in us-east-1."""
    from moto.ec2.models import ec2_backends

    out = {}
    for reservation in ec2_backends[ACCOUNT][REGION].reservations.values():
        for inst in reservation.instances:
            tags = {t["key"]: t["value"] for t in inst.get_tags()}
            out[inst.id] = str(tags.get("Name", ""))
    return out


def _apps_named(call: Call) -> list[str]:
    """The lab app components the call's ``InstanceId.N`` parameters name."""
    if call.region != REGION:
        return []
    ids = {str(v) for k, v in call.params.items() if k.startswith("InstanceId.")}
    return [name for iid, name in _names().items() if iid in ids]


def _stop(hub: Hub, call: Call) -> None:
    from orchestrator.providers.lab import procs
    from orchestrator.providers.lab.ops_faults import wait_stopped
    from orchestrator.providers.lab.state import ground_truth, locked

    names = _apps_named(call)
    if not names:
        return
    with locked(hub.root) as st:
        stopped = []
        for c in st.by_role("app"):
            if c.name in names and procs.signal_group(c.pid, c.start_ticks, signal.SIGSTOP):
                c.desired = "stopped"
                stopped.append(c)
        wait_stopped(stopped)
        if stopped:
            ground_truth(hub.root, "fault_injected", action=call.operation, components=names)
    hub.log(f"lab: {call.operation}: SIGSTOP {', '.join(c.name for c in stopped) or 'nothing'}")


def _each_named_app(
    hub: Hub,
    call: Call,
    act: Callable[[LabState, Component], bool | None],
    done_as: str,
    kept_as: str,
) -> None:
    """Apply ``act`` to each lab app the call names, under the lab's lock, and log what
    happened: ``act`` returns True (done), False (left as it is: the log says ``kept_as``)
    or None (nothing to say, e.g. a signal to a process that was gone)."""
    from orchestrator.providers.lab.state import locked

    names = _apps_named(call)
    if not names:
        return
    done: list[str] = []
    kept: list[str] = []
    with locked(hub.root) as st:
        for c in st.by_role("app"):
            if c.name not in names:
                continue
            outcome = act(st, c)
            if outcome is not None:
                (done if outcome else kept).append(c.name)
    hub.log(
        f"lab: {call.operation}: {done_as} {', '.join(done) or 'nothing'}"
        + (f"; {', '.join(kept)} {kept_as}" if kept else "")
    )


def _start(hub: Hub, call: Call) -> None:
    from orchestrator.providers.lab import helpers, procs

    def resume(st: LabState, c: Component) -> bool | None:
        if c.az in st.isolated or st.region_isolated():
            return False  # its AZ is cut: it comes back with the AZ
        if procs.state(c.pid, c.start_ticks) == "dead":
            helpers.start(st, hub.root, c)
            helpers.wait(hub.root, c)
            return True
        if procs.signal_group(c.pid, c.start_ticks, signal.SIGCONT):
            c.desired = "up"
            return True
        return None

    _each_named_app(hub, call, resume, "resumed", "left stopped: its AZ is isolated")


def _reboot(hub: Hub, call: Call) -> None:
    from orchestrator.providers.lab import helpers, procs
    from orchestrator.providers.lab.state import ground_truth

    def restart(st: LabState, c: Component) -> bool:
        if c.desired != "up" or c.az in st.isolated or st.region_isolated():
            return False
        ground_truth(hub.root, "fault_injected", action=call.operation, target=c.name)
        procs.terminate(c.pid, c.start_ticks)
        helpers.start(st, hub.root, c)
        helpers.wait(hub.root, c)
        return True

    _each_named_app(hub, call, restart, "restarted", "left as is: stopped or its AZ isolated")


def _targets(hub: Hub, call: Call) -> None:
    """The load balancer's rotation follows the lab's target group as moto now holds it
    (after a ``RegisterTargets`` / ``DeregisterTargets``): a deregistered app keeps
    running and gets no new requests, as an ALB drains it."""
    import json
    import urllib.request

    from moto.elbv2.models import elbv2_backends

    from orchestrator.labaws import TARGET_GROUP
    from orchestrator.providers.lab.state import locked

    arn = str(call.params.get("TargetGroupArn") or "")
    group = elbv2_backends[ACCOUNT][REGION].target_groups.get(arn)
    if call.region != REGION or group is None or group.name != TARGET_GROUP:
        return
    names = _names()
    registered = {names.get(iid) for iid in group.targets}
    with locked(hub.root) as st:
        st.deregistered = sorted(c.name for c in st.by_role("app") if c.name not in registered)
        lb = st.comp("lb")
        request = urllib.request.Request(
            f"http://{lb.host}:{lb.port}/lb/targets",
            data=json.dumps({"out": st.deregistered}).encode(),
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=5) as resp:
            resp.read()
    hub.log(f"lab: {call.operation}: out of rotation: {', '.join(st.deregistered) or 'none'}")


EFFECTS: dict[str, Any] = {
    "StopInstances": _stop,
    "TerminateInstances": _stop,
    "StartInstances": _start,
    "RebootInstances": _reboot,
    "RegisterTargets": _targets,
    "DeregisterTargets": _targets,
}
