"""`drill scheduler run | status`: the long-running service and its health."""

from __future__ import annotations

import logging
import signal
import threading
from typing import Annotated, Any

import typer

from orchestrator.commands.common import err_console, out_console, print_json, state

app = typer.Typer(
    help="The scheduler service that fires schedules and game days.", no_args_is_help=True
)


class _RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        from orchestrator.secrets import redact_text

        return redact_text(super().format(record))


@app.command("run")
def run_cmd(
    ctx: typer.Context,
    poll: Annotated[
        float, typer.Option(min=0.05, max=3600.0, help="seconds between schedule reconciliations")
    ] = 2.0,
    misfire_grace: Annotated[
        str, typer.Option(help="a fire late by more than this is recorded as missed")
    ] = "5m",
    on_stop: Annotated[
        str,
        typer.Option(
            help="on SIGTERM/SIGINT: rollback (running drills abort and roll back) or finish"
        ),
    ] = "rollback",
    health_port: Annotated[
        int | None,
        typer.Option(
            min=0,
            max=65535,
            help="serve GET /health and /metrics on 127.0.0.1:PORT (0 picks a free port)",
        ),
    ] = None,
    max_workers: Annotated[
        int, typer.Option(min=1, max=1024, help="fires that may run at once")
    ] = 16,
) -> None:
    """Run the scheduler until SIGTERM/SIGINT (several may share a PostgreSQL DB).

    Logs go to stderr. Stopping never abandons a running drill: it is rolled back
    (default) or allowed to finish (--on-stop finish), and the service waits for it.
    """
    from orchestrator.durations import parse_duration
    from orchestrator.errors import UsageError
    from orchestrator.schedule.service import MIN_MISFIRE_GRACE_S, SchedulerService

    if on_stop not in ("rollback", "finish"):
        raise UsageError("--on-stop must be rollback or finish")
    try:
        grace = parse_duration(misfire_grace)
    except ValueError as exc:
        raise UsageError(f"--misfire-grace: {exc}") from None
    if grace < MIN_MISFIRE_GRACE_S:
        raise UsageError(
            f"--misfire-grace {misfire_grace} is too short",
            "the shortest is 1s (a fire's lateness is counted in whole seconds)",
        )
    if poll <= 0:
        raise UsageError("--poll must be positive")
    handler = logging.StreamHandler()
    handler.setFormatter(_RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for name in ("drill", "apscheduler"):
        lg = logging.getLogger(name)
        lg.addHandler(handler)
        lg.setLevel(logging.INFO if name == "drill" else logging.WARNING)
    app_state = state(ctx)
    health: Any = None
    if health_port is not None:  # bound first: a port in use is refused before anything runs
        from orchestrator.schedule.health import HealthServer
        from orchestrator.web import metrics

        sources = metrics.Sources.open(app_state.config)
        health = HealthServer(
            lambda: service.health(),
            health_port,
            metrics=lambda: metrics.render(sources),
            explain=sources.explain,
        )
    try:
        _recover_on_start(app_state)
        service = SchedulerService(
            app_state.settings(),
            app_state.store(),
            poll_s=poll,
            misfire_grace_s=grace,
            on_stop=on_stop,
            max_workers=max_workers,
        )
        if health is not None:
            health.start()
            service.health_url = health.url
            err_console().print(f"health: {health.url}")
        _serve(service, on_stop)
    finally:
        if health is not None:
            health.stop()


def _serve(service: Any, on_stop: str) -> None:
    """Run ``service`` until SIGTERM/SIGINT."""
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        logging.getLogger("drill.scheduler").info(
            "%s received: stopping (running drills: %s)", signal.Signals(signum).name, on_stop
        )
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    service.run(stop)


def _recover_on_start(app_state: Any) -> None:
    """Runs orphaned by a dead drill (or a dead service) are recovered before anything
    fires: their rollbacks restore the environment a scheduled drill is about to use."""
    from orchestrator.engine.recovery import recover_all
    from orchestrator.engine.signals import AbortState, abort_on_signals, shielded

    log = logging.getLogger("drill.scheduler")
    stop = AbortState()
    with abort_on_signals(stop), shielded(stop):
        for run in recover_all(
            app_state.settings(),
            app_state.db(warn=False, write=True),
            app_state.provider_for,
            log.warning,
            lambda: stop.requested,
        ):
            log.warning("recovered run %s on %s: %s", run.id, run.env, run.status)
    if stop.requested:  # a stop during the recovery: the service does not start
        from orchestrator.errors import Aborted

        raise Aborted(f"scheduler stopped during its start-up recovery ({stop.reason})")


@app.command("status")
def status_cmd(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON document")] = False,
) -> None:
    """Scheduler instances (heartbeats) and the most recent fires."""

    from sqlmodel import col, select

    from orchestrator.engine.results import iso
    from orchestrator.evidence.enums import utcnow
    from orchestrator.schedule.models import GONE_AFTER, SchedulerInstance, firing
    from orchestrator.schedule.records import ScheduleFire

    now = utcnow()
    app_state = state(ctx)
    with app_state.store().session() as s:
        insts = list(
            s.exec(
                select(SchedulerInstance)
                .order_by(col(SchedulerInstance.started_at).desc())
                .limit(20)
            )
        )
    fires: list[ScheduleFire] = app_state.db().records(
        ScheduleFire, order="scheduled_at DESC", limit=20
    )
    alive = [i for i in insts if i.state != "stopped" and now - i.heartbeat_at < GONE_AFTER]
    up = [i for i in alive if firing(i.state, i.heartbeat_at, now)]  # stalled: beats, no fires
    doc: dict[str, Any] = {
        "running": bool(up),
        "instances": [
            {
                "id": i.id,
                "host": i.host,
                "pid": i.pid,
                "state": i.state,
                "alive": i in alive,
                "started_at": iso(i.started_at),
                "heartbeat_at": iso(i.heartbeat_at),
                "fires": i.fires,
                "health_url": i.health_url,
            }
            for i in insts
        ],
        "recent_fires": [
            {
                "schedule_id": f.schedule_id,
                "target": f.target,
                "env": f.env,
                "scheduled_at": iso(f.scheduled_at),
                "status": f.status,
                "run_id": f.launched_run_id,
                "reason": f.reason,
                "lag_s": f.lag_s,
                "claimed_by": f.claimed_by,
            }
            for f in fires
        ],
    }
    if as_json:
        print_json(doc)
        return
    console = out_console()
    console.print(
        f"scheduler: {'running' if up else 'not running'} ({len(up)} live instance(s)"
        + (f", {len(alive) - len(up)} stalled: restart them" if len(alive) > len(up) else "")
        + ")"
    )
    # one line per instance / fire, however narrow the terminal: lines that grep finds
    for i in doc["instances"][:5]:
        # one silent for a minute is dead (killed, host lost) whatever it last wrote
        shown = i["state"] if i["alive"] or i["state"] == "stopped" else "gone"
        console.print(
            f"  {i['id']:<40} {shown:<9} heartbeat {i['heartbeat_at']} fires {i['fires']}",
            soft_wrap=True,
        )
    if fires:
        console.print("recent fires:")
        for f in doc["recent_fires"]:
            console.print(
                f"  {f['scheduled_at']} {f['target']:<20} {f['status']:<11} "
                + " ".join(x for x in (f["run_id"], f["reason"]) if x),
                soft_wrap=True,
            )
