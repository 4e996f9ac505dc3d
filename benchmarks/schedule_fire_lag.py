"""Fire lag of `drill scheduler run` with 1,000 schedules (target: p99 ≤ 1 s).

Fire lag = ``claimed_at - scheduled_at`` of each fire row: how late the scheduler
claims a fire after its scheduled instant (APScheduler wake-up, job store query,
exactly-once claim in the evidence DB). The drill run itself is not part of it: the
launcher here returns at once, so the numbers isolate the scheduler. (A real fire
then starts a `drill run` child process, ~1-3 s of Python start-up; see
cli_startup.py.)

1,000 ``every INTERVAL`` schedules are created with their anchors spread evenly over
one interval, so fires arrive at a steady 1000/INTERVAL per second, and the service
runs for DURATION seconds. SQLite by default; ``--database postgresql+psycopg://…``
for PostgreSQL.

    .venv/bin/python benchmarks/schedule_fire_lag.py [--schedules 1000] [--interval 10]
        [--duration 30] [--database URL]
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from orchestrator.config import EnvironmentConfig, ProviderKind, Settings
from orchestrator.evidence.enums import utcnow
from orchestrator.evidence.store import EvidenceStore
from orchestrator.notify.webhook import WebhookNotifier
from orchestrator.schedule.launcher import RunRequest, RunResult
from orchestrator.schedule.records import Schedule, ScheduleFire
from orchestrator.schedule.service import SchedulerService


class ReturnAtOnce:
    """Launcher that starts nothing: isolates the scheduler's own lag."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()

    def run(self, req: RunRequest) -> RunResult:
        with self._lock:
            self.count += 1
        return RunResult(0, {"run_id": None, "status": "succeeded", "scenarios": []})

    def signal_all(self, sig: int) -> int:
        return 0

    def close(self) -> None:
        """The service closes its launcher when it stops; nothing is running here."""


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--schedules", type=int, default=1000)
    ap.add_argument("--interval", type=float, default=10.0)
    ap.add_argument("--duration", type=float, default=30.0)
    ap.add_argument("--database", default=None)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="drill-bench-sched-"))
    try:
        measure(args, tmp)
    finally:  # the SQLite store of the run (it was left behind in /tmp)
        shutil.rmtree(tmp, ignore_errors=True)


def measure(args: argparse.Namespace, tmp: Path) -> None:
    url = args.database or f"sqlite:///{tmp}/evidence.db"
    settings = Settings(
        database=url,
        base_dir=tmp,
        environments={"lab": EnvironmentConfig(provider=ProviderKind.LAB)},
    )
    store = EvidenceStore(url)
    now = utcnow()
    first = now + timedelta(seconds=5)  # time for the service to start
    rows = [
        Schedule(
            id=f"s-bench-{i:04d}",
            target="bench",
            env="lab",
            kind="interval",
            expr=f"{args.interval:g}",
            start_at=first + timedelta(seconds=args.interval * i / args.schedules),
            created_by="bench",
            created_at=now,
        )
        for i in range(args.schedules)
    ]
    store.db.write(*rows)
    launcher = ReturnAtOnce()
    svc = SchedulerService(
        settings,
        store,
        launcher=launcher,
        notifier=WebhookNotifier([]),
        poll_s=2.0,
        compliance_every_s=1e9,
        max_workers=16,
    )
    t_start = time.monotonic()
    svc.start()
    startup_s = time.monotonic() - t_start
    time.sleep(max(0.0, (first - utcnow()).total_seconds()) + args.duration)
    svc.stop()
    fires: list[ScheduleFire] = store.db.records(ScheduleFire)
    lags = [f.lag_s for f in fires if f.lag_s is not None and f.status == "succeeded"]
    result: dict[str, Any] = {
        "database": "postgresql" if url.startswith("postgresql") else "sqlite",
        "schedules": args.schedules,
        "interval_s": args.interval,
        "duration_s": args.duration,
        "startup_s": round(startup_s, 3),
        "fires": len(fires),
        "succeeded": len(lags),
        "not_run": len(fires) - len(lags),
        "expected_fires": int(args.schedules * args.duration / args.interval),
        "lag_p50_s": round(statistics.median(lags), 4) if lags else None,
        "lag_p99_s": round(pct(lags, 0.99), 4) if lags else None,
        "lag_max_s": round(max(lags), 4) if lags else None,
        "machine": f"{platform.machine()} {platform.python_implementation()} "
        f"{platform.python_version()}",
    }
    print(json.dumps(result, indent=2))
    print(
        f"| {result['database']} | {args.schedules} | every {args.interval:g}s | "
        f"{result['fires']} ({result['not_run']} not run) | {result['lag_p50_s']} s | "
        f"{result['lag_p99_s']} s | {result['lag_max_s']} s |"
    )


if __name__ == "__main__":
    main()
