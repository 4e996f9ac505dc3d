"""Lab timings: `lab up`, Multi-AZ failover (detection delay 1 s), point-in-time restore.

Targets (issue 4): lab up ≤ 10 s; failover complete ≤ detection delay + 2 s.
Failover time is measured from the outside, as a client sees it: from the SIGKILL of
the primary to the first write acknowledged through the database endpoint (a client
retrying every 20 ms). The lab's ground-truth log breaks it down (detection,
promotion, repoint) as a cross-check only. Each failover is followed by db.reprotect
so the next one starts from a healthy Multi-AZ pair.

    .venv/bin/python benchmarks/lab_timings.py [--ups 3] [--failovers 5] [--restores 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from orchestrator.config import EnvironmentConfig, ProviderKind, Settings
from orchestrator.providers.base import StepContext
from orchestrator.providers.lab import lab_down, lab_up, pg
from orchestrator.providers.lab.probes import timed_write
from orchestrator.providers.lab.provider import LabProvider

DELAY_S = 1.0


def ctx(marks: dict[str, datetime] | None = None) -> StepContext:
    return StepContext(
        run_id="bench", scenario_id="bench", mode="live", deadline_s=120, marks=marks or {}
    )


def bench_up(n: int) -> list[float]:
    samples = []
    for _ in range(n):
        with tempfile.TemporaryDirectory() as tmp:
            settings = Settings(state_dir=str(Path(tmp) / ".drill"), base_dir=Path(tmp))
            t0 = time.perf_counter()
            lab_up(settings, EnvironmentConfig(provider=ProviderKind.LAB))
            samples.append(time.perf_counter() - t0)
            lab_down(settings)
    return samples


def _ground_truth(root: Path, since: float) -> dict[str, float]:
    out: dict[str, float] = {}
    for line in (root / "ground-truth.jsonl").read_text().splitlines():
        ev = json.loads(line)
        if ev["mono"] >= since and ev["event"] not in out:
            out[ev["event"]] = ev["mono"] - since
    return out


def bench_failover(provider: LabProvider, root: Path, n: int) -> list[dict[str, float]]:
    rows = []
    for _ in range(n):
        endpoint = provider._lab().state().endpoints()["db"]
        st = provider._lab().state()
        old_port = st.comp(st.primary).port or 0
        t0 = time.monotonic()
        provider.execute("db.failover", {"target": "primary_db", "wait": False}, ctx())
        while pg.alive(old_port, timeout=0.2):  # the bench's own view: when it went silent
            time.sleep(0.005)
        silent = time.monotonic() - t0
        while not timed_write(endpoint, 1.0)[0]:
            time.sleep(0.02)
        client = time.monotonic() - t0
        gt = _ground_truth(root, t0)
        rows.append(
            {
                "client_write_s": client,
                "silent_s": silent,
                "unreachable_s": gt.get("unreachable", float("nan")),
                "detected_s": gt.get("primary_death_detected", float("nan")),
                "promoted_s": gt.get("promotion_done", float("nan")),
                "repointed_s": gt.get("endpoint_repointed", float("nan")),
            }
        )
        provider.execute("db.reprotect", {}, ctx())
    return rows


def bench_restore(provider: LabProvider, n: int) -> list[float]:
    samples = []
    provider.execute("backup.create", {}, ctx())
    for _ in range(n):
        marks = {"fault_injected": datetime.now(UTC)}
        t0 = time.perf_counter()
        out: dict[str, Any] = provider.execute(
            "db.restore", {"point_in_time": "disaster"}, ctx(marks)
        )
        samples.append(time.perf_counter() - t0)
        provider.execute("db.delete_restored", out["rollback_args"], ctx())
    return samples


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ups", type=int, default=3)
    p.add_argument("--failovers", type=int, default=5)
    p.add_argument("--restores", type=int, default=3)
    a = p.parse_args()
    ups = bench_up(a.ups)
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(state_dir=str(Path(tmp) / ".drill"), base_dir=Path(tmp))
        env = EnvironmentConfig(provider=ProviderKind.LAB, lab={"detection_delay_s": DELAY_S})
        lab_up(settings, env)
        provider = LabProvider("lab", env, settings)
        try:
            fails = bench_failover(provider, settings.state_path() / "lab", a.failovers)
            restores = bench_restore(provider, a.restores)
        finally:
            lab_down(settings)
    med = statistics.median
    client = [r["client_write_s"] for r in fails]
    print("| measurement | median (s) | min-max (s) | target | met |")
    print("|---|---|---|---|---|")
    print(
        f"| lab up (fresh) | {med(ups):.2f} | {min(ups):.2f}-{max(ups):.2f} | ≤ 10 | "
        f"{'yes' if med(ups) <= 10 else 'NO'} |"
    )
    print(
        f"| failover: SIGKILL → first acked write via endpoint (delay {DELAY_S:g} s) | "
        f"{med(client):.2f} | {min(client):.2f}-{max(client):.2f} | ≤ {DELAY_S + 2:g} | "
        f"{'yes' if max(client) <= DELAY_S + 2 else 'NO'} |"
    )
    for key in ("silent_s", "unreachable_s", "detected_s", "promoted_s", "repointed_s"):
        vals = [r[key] for r in fails]
        print(
            f"| ground truth: {key[:-2]} after SIGKILL | {med(vals):.2f} | "
            f"{min(vals):.2f}-{max(vals):.2f} | — | — |"
        )
    print(
        f"| PITR restore into a new instance | {med(restores):.2f} | "
        f"{min(restores):.2f}-{max(restores):.2f} | — | — |"
    )
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"\n(n: up {a.ups}, failover {a.failovers}, restore {a.restores}; "
        f"{os.cpu_count()} CPUs, load average at the end {load})"
    )


if __name__ == "__main__":
    main()
