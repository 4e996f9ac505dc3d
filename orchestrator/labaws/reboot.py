"""``RebootDBInstance`` without ``ForceFailover``: the primary restarts in place.

That is the reboot ``chaosaws.rds.actions.reboot_db_instance`` makes by default, and
RDS's answer to it on a Multi-AZ instance: the engine on the primary is shut down and
started again in the same AZ — clients see a short outage, nothing fails over. The lab
answered ``available`` and did nothing, so the experiment "succeeded" with no fault.

Now the primary's PostgreSQL gets a fast shutdown and starts again on its data
directory (its synchronous standby reconnects), ``rebooting`` until it answers through
the database endpoint, with RDS's two events. For that while the primary is marked
``desired: down``, which the lab's failover controller leaves alone — as RDS does not
fail over a reboot it was asked for.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import TYPE_CHECKING

from orchestrator.errors import LabError
from orchestrator.labaws import PRIMARY_ID, REGION
from orchestrator.labaws.hub import Transition

if TYPE_CHECKING:
    from orchestrator.labaws.hub import Hub
    from orchestrator.providers.lab.state import LabState


def reboot_in_place(hub: Hub, status: str = "rebooting") -> None:
    """Restart the primary in place; ``status`` meanwhile (``modifying`` for a class
    change RDS applies by rebooting)."""
    from orchestrator.providers.lab import pg
    from orchestrator.providers.lab.state import locked

    with locked(hub.root) as st:
        if st.region_isolated():
            hub.log(f"reboot of {PRIMARY_ID}: its region is isolated, nothing to reboot")
            return
        name = st.primary
        st.comp(name).desired = "down"  # saved before anything stops: the controller waits
    finished: dict[str, bool] = {}

    def work() -> None:
        try:
            _restart(hub, name)
        finally:
            finished["ok"] = True

    def done(now: LabState) -> bool:
        return "ok" in finished and pg.alive(now.comp("db-endpoint").port or 0)

    hub.begin(
        REGION,
        PRIMARY_ID,
        Transition(status, done, ("DRILL_REBOOT_START", "DRILL_REBOOT_DONE")),
    )
    hub.background(f"reboot of {name}", work, (REGION, PRIMARY_ID))


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
    ground_truth(hub.root, "primary_restarted", primary=name)
    if st.standby:  # writes wait for the synchronous standby: `available` once it is back
        try:
            pg.wait_streaming(c.port or 0, st.standby, sync=True)
        except LabError as exc:
            hub.log(f"reboot of {name}: {exc.message}")
