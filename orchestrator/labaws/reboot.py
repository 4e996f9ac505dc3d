"""``RebootDBInstance`` without ``ForceFailover``: the primary restarts in place.

That is the reboot ``chaosaws.rds.actions.reboot_db_instance`` makes by default, and
RDS's answer to it on a Multi-AZ instance: the engine on the primary is shut down and
started again in the same AZ — clients see a short outage, nothing fails over. The lab
answered ``available`` and did nothing, so the experiment "succeeded" with no fault.

Now the primary's PostgreSQL gets a fast shutdown and starts again on its data
directory (its synchronous standby reconnects), ``rebooting`` until it answers through
the database endpoint, with RDS's two events. For that while the primary is marked
``desired: down``, which the lab's failover controller leaves alone — as RDS does not
fail over a reboot it was asked for. The replica, a restored instance and a clone
restart the same way (``rebooting`` until their own server answers): their reboot was
answered ``available`` with nothing restarted.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import TYPE_CHECKING

from orchestrator.errors import LabError
from orchestrator.labaws import PRIMARY_ID, REGION, REPLICA_ID
from orchestrator.labaws.hub import Transition

if TYPE_CHECKING:
    from orchestrator.labaws.hub import Hub
    from orchestrator.providers.lab.state import LabState


def reboot_in_place(
    hub: Hub, status: str = "rebooting", ident: str = PRIMARY_ID, region: str = REGION
) -> None:
    """Restart instance ``ident``'s server in place; ``status`` meanwhile (``modifying``
    for a class change RDS applies by rebooting). The replica, a restored instance or a
    clone restart the same way (answered ``available`` with nothing restarted before);
    a server that is stopped (its AZ or region isolated) is left as it is."""
    from orchestrator.providers.lab import pg
    from orchestrator.providers.lab.state import locked

    with locked(hub.root) as st:
        name = _server(st, ident)
        if name is None or st.comp(name).desired != "up":  # (an isolated AZ or region)
            hub.log(f"reboot of {ident}: no running lab server, nothing to reboot")
            return
        st.comp(name).desired = "down"  # saved before anything stops: the controller waits
    finished: dict[str, bool] = {}

    def work() -> None:
        try:
            _restart(hub, name)
        finally:
            finished["ok"] = True

    def done(now: LabState) -> bool:
        port = now.comp("db-endpoint" if ident == PRIMARY_ID else name).port
        return "ok" in finished and pg.alive(port or 0)

    hub.begin(
        region,
        ident,
        Transition(status, done, ("DRILL_REBOOT_START", "DRILL_REBOOT_DONE")),
    )
    hub.background(f"reboot of {name}", work, (region, ident))


def _server(st: LabState, ident: str) -> str | None:
    """The lab server behind instance ``ident``."""
    if ident == PRIMARY_ID:
        return st.primary
    name = "usw2" if ident == REPLICA_ID else ident
    comp = st.components.get(name)
    return name if comp is not None and comp.kind == "postgres" else None


def _restart(hub: Hub, name: str) -> None:
    """Fast shutdown (SIGINT), start on the same data directory, back to ``up``."""
    from orchestrator.providers.lab import pg, procs
    from orchestrator.providers.lab.state import ground_truth, locked

    failed: Exception | None = None
    with locked(hub.root) as st:
        c = st.comp(name)
        ground_truth(hub.root, "fault_injected", action="RebootDBInstance", target=name)
        procs.terminate(c.pid, c.start_ticks, grace_s=10.0, sig=signal.SIGINT)
        hub.log(f"lab: reboot of {name}: shut down, starting it again")
        try:
            c.pid, c.start_ticks = pg.start(
                c.name, Path(c.data_dir or ""), c.port or 0, hub.root / "logs" / f"{name}.log"
            )
        except Exception as exc:  # it stays down: the controller, watching again, fails over
            failed = exc
        c.desired = "up"  # saved with the lock either way
    if failed is not None:
        raise failed
    if name != st.primary:
        return
    ground_truth(hub.root, "primary_restarted", primary=name)
    if st.standby:  # writes wait for the synchronous standby: `available` once it is back
        try:
            pg.wait_streaming(c.port or 0, st.standby, sync=True)
        except LabError as exc:
            hub.log(f"reboot of {name}: {exc.message}")
