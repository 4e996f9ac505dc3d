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
  isolated: a network-cut AZ stays cut, as in AWS.

Instances are found by their ``Name`` tag, the app component's name (seed.py).
"""

from __future__ import annotations

import signal
from typing import TYPE_CHECKING, Any

from orchestrator.labaws import ACCOUNT, REGION

if TYPE_CHECKING:
    from orchestrator.labaws.hub import Hub
    from orchestrator.labaws.middleware import Call


def _apps_named(call: Call) -> list[str]:
    """The lab app components the call's ``InstanceId.N`` parameters name."""
    from moto.ec2.models import ec2_backends

    if call.region != REGION:
        return []
    ids = {str(v) for k, v in call.params.items() if k.startswith("InstanceId.")}
    names = []
    for reservation in ec2_backends[ACCOUNT][REGION].reservations.values():
        for inst in reservation.instances:
            if inst.id in ids:
                tags = {t["key"]: t["value"] for t in inst.get_tags()}
                names.append(str(tags.get("Name", "")))
    return names


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


def _start(hub: Hub, call: Call) -> None:
    from orchestrator.providers.lab import helpers, procs
    from orchestrator.providers.lab.state import locked

    names = _apps_named(call)
    if not names:
        return
    started, kept = [], []
    with locked(hub.root) as st:
        for c in st.by_role("app"):
            if c.name not in names:
                continue
            if c.az in st.isolated or st.region_isolated():
                kept.append(c.name)  # its AZ is cut: it comes back with the AZ
            elif procs.state(c.pid, c.start_ticks) == "dead":
                helpers.start(st, hub.root, c)
                helpers.wait(hub.root, c)
                started.append(c.name)
            elif procs.signal_group(c.pid, c.start_ticks, signal.SIGCONT):
                c.desired = "up"
                started.append(c.name)
    hub.log(
        f"lab: StartInstances: resumed {', '.join(started) or 'nothing'}"
        + (f"; {', '.join(kept)} left stopped: its AZ is isolated" if kept else "")
    )


EFFECTS: dict[str, Any] = {
    "StopInstances": _stop,
    "TerminateInstances": _stop,
    "StartInstances": _start,
}
