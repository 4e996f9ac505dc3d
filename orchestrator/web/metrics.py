"""Prometheus metrics of drill health, for `drill serve` and the scheduler's health port.

A custom collector reads the evidence store on every scrape (the store is the truth,
so two scrapers or a restarted server never disagree), through the same builders as
`drill status --json` and `drill runs show --json`. Labels: ``drill`` and ``env``,
plus ``scenario`` on the per-scenario RTO/RPO/objective gauges (the drill's last run).
``env`` is the environment of the run a number comes from: the last success may have
been on another environment than the last run.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric

if TYPE_CHECKING:
    from pathlib import Path

    from orchestrator.config import Settings
    from orchestrator.errors import DrillError
    from orchestrator.evidence.writer import EvidenceDB

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: Fire lag buckets (seconds): a healthy scheduler claims a fire within a second or two.
#: How long a dashboard read waits for a lock another session holds on the PostgreSQL
#: store (then 503 "busy"): under a Prometheus scrape's default 10 s timeout.
LOCK_WAIT_S = 5.0
LAG_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


@dataclass
class Sources:
    """Where the numbers come from; opened lazily by the server or the scheduler."""

    settings: Callable[[], Settings]
    db: Callable[[], EvidenceDB]
    now: Callable[[], datetime]
    #: the SQLite file of the evidence database while it does not exist (``db`` is then
    #: an empty store: the dashboard creates none), else None
    store_missing: Callable[[], Path | None] = lambda: None

    #: the SQLite file was there and went (removed or replaced) while this process read it
    store_gone: Callable[[], bool] = lambda: False
    #: (run id, env, the recover command) of each run whose drill died without closing it
    orphans: Callable[[], list[tuple[str, str, str]]] = lambda: []

    def explain(self, exc: Exception) -> DrillError | None:
        """What a read's failure means in drill's words (:meth:`EvidenceDB.explain`: a
        lock waited out, the schema migrated under this process by a newer drill or
        altered outside drill), else None — the dashboard's pages and the scheduler's
        health port say the same."""
        try:
            return self.db().explain(exc)
        except Exception:  # the store cannot say: the caller's plain error
            return None

    @classmethod
    def open(cls, config: str | None) -> Sources:
        """Read-only sources over drill.yaml ``config``, with connections of their own.

        A SQLite file removed or replaced while served is let go: its open connection
        would read the unlinked file for good, the runs recorded since in the new one
        never shown. The pages then read what is there now: an empty store (and say it
        went), or the new file.

        Quiet: the CLI's one-line notice about runs awaiting `drill recover` is for a
        terminal, not for every request of a server."""
        import sys
        import threading

        from orchestrator.commands.common import AppState, empty_store
        from orchestrator.evidence.enums import utcnow

        st = AppState(config=config)
        lock = threading.Lock()  # (requests are served by several threads)
        settings = st.settings()
        opened: list[EvidenceDB] = []  # the real store, once it exists
        empty: list[EvidenceDB] = []
        gone: list[Path] = []  # the file, once an opened one went

        def missing() -> Path | None:
            return None if opened else st.store_missing()

        def let_go_if_changed() -> None:
            if not opened or opened[0].is_postgres or not opened[0].file_changed():
                return
            old = opened.pop()
            st._db = None  # the next open reads the file there now
            st.store_checked = False
            with contextlib.suppress(Exception):
                old.close()
            if st.store_missing() is not None:
                gone[:] = [old.sqlite_path]
                sys.stderr.write(
                    f"drill serve: the evidence database {old.sqlite_path} was removed while "
                    "served: its runs are not shown (restore it from a backup)\n"
                )
            else:
                sys.stderr.write(
                    f"drill serve: the evidence database {old.sqlite_path} was replaced "
                    "while served: reading the new file\n"
                )

        def db() -> EvidenceDB:
            with lock:
                let_go_if_changed()
                if missing() is not None:  # read-only: made by the first run, not here
                    if not empty:
                        empty.append(empty_store())
                    return empty[0]
                if not opened:
                    opened.append(st.db(warn=False))
                    opened[0].reconnect = True  # a server outlives a restart of its database
                    opened[0].limit_lock_waits(LOCK_WAIT_S)  # and says a lock, not hangs
                    gone.clear()
                return opened[0]

        def store_missing() -> Path | None:
            with lock:
                let_go_if_changed()
                return missing()

        def orphans() -> list[tuple[str, str, str]]:
            from orchestrator.engine.recovery import awaiting_recovery, protected

            store = db()
            found = []
            for run in awaiting_recovery(settings, store):  # (only tries the env's lock)
                yes = " --yes" if protected(settings, run.env, store) else ""
                found.append((run.id, run.env, f"drill recover --env {run.env}{yes}"))
            return found

        return cls(
            orphans=orphans,
            settings=lambda: settings,
            db=db,
            now=utcnow,
            store_missing=store_missing,
            store_gone=lambda: bool(gone) and store_missing() is not None,
        )


def _success_env(db: EvidenceDB, d: dict[str, Any], last: dict[str, Any] | None, env: str) -> str:
    """The environment the drill last succeeded on: its label must say where that success
    was, not where the last (perhaps failed) run went."""
    if last is not None and d["last_success_run_id"] == last["run_id"]:
        return env
    from orchestrator.evidence.records import Run

    run = db.get(Run, d["last_success_run_id"])
    return str(run.env) if run is not None else env


def _schedulers_up(db: EvidenceDB, now: datetime) -> int:
    """How many scheduler instances fire: nothing else says when none does, until a
    quarter has passed without its drill (``drill_overdue``)."""
    from orchestrator.schedule.models import firing

    rows = db.query("SELECT state, heartbeat_at FROM scheduler_instance WHERE state != 'stopped'")
    return sum(firing(state, _naive_utc(beat), now) for state, beat in rows)


def _naive_utc(value: datetime | str) -> datetime:
    """A heartbeat as the ORM stores it (naive UTC; text on SQLite), made aware."""
    found = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return found.replace(tzinfo=UTC)


def _ts(text: str | None) -> float | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() if text else None


class DrillCollector:
    """Every metric of DESIGN section 15, computed at scrape time."""

    def __init__(self, sources: Sources) -> None:
        self.sources = sources

    def collect(self) -> Iterator[Metric]:
        from orchestrator.engine.results import run_document
        from orchestrator.schedule.schedules import list_docs
        from orchestrator.views import fire_lags, open_findings_by_drill, status_document

        src = self.sources
        status = status_document(src.settings(), src.db(), src.now())
        g = {
            name: GaugeMetricFamily(name, doc, labels=labels)
            for name, doc, labels in (
                (
                    "drill_last_run_timestamp_seconds",
                    "Start of the drill's last run (Unix time).",
                    ["drill", "env"],
                ),
                (
                    "drill_last_success_timestamp_seconds",
                    "Start of the drill's last successful run (Unix time).",
                    ["drill", "env"],
                ),
                (
                    "drill_overdue",
                    "1 when the drill's cadence period passed without a success.",
                    ["drill", "env"],
                ),
                (
                    "drill_rto_seconds",
                    "Measured RTO of each scenario in the drill's last run.",
                    ["drill", "env", "scenario"],
                ),
                (
                    "drill_rpo_seconds",
                    "Measured RPO of each scenario in the drill's last run.",
                    ["drill", "env", "scenario"],
                ),
                (
                    "drill_objective_met",
                    "1 when the scenario passed and met its RTO/RPO objectives in the "
                    "drill's last run (one without objectives, such as an experiment: "
                    "passed), 0 when it missed one or failed; also 1 when they were met, "
                    "or its steady state held, but a rollback then failed (not a pass: "
                    "the run is rollback_failed, with a critical finding counted in "
                    "drill_open_findings); absent when it was not judged (aborted, drill "
                    "died, skipped, a dry run).",
                    ["drill", "env", "scenario"],
                ),
                (
                    "drill_open_findings",
                    "Findings not yet closed (0 for a drill with runs and none open).",
                    ["drill", "env"],
                ),
                (
                    "drill_scheduler_running",
                    "Scheduler instances up and firing: heartbeat within a minute, neither "
                    "stopped nor stalled (`drill scheduler status`'s running).",
                    [],
                ),
                (
                    "drill_schedules_pending",
                    "Active schedules with a fire still to come (`drill schedule list`).",
                    [],
                ),
            )
        }
        # every drill with runs has an open-findings series, 0 once its findings are
        # closed: an alert or graph on it saw "no data" instead of 0
        open_findings = open_findings_by_drill(src.db())
        for d in status["drills"]:
            last: dict[str, Any] | None = None
            if d["last_run_id"]:
                last = run_document(src.db(), d["last_run_id"])
            env = d["env"] or (last["env"] if last else "")
            labels = [d["drill"], env]
            if (t := _ts(d["last_run"])) is not None:
                g["drill_last_run_timestamp_seconds"].add_metric(labels, t)
            if (t := _ts(d["last_success"])) is not None:
                g["drill_last_success_timestamp_seconds"].add_metric(
                    [d["drill"], _success_env(src.db(), d, last, env)], t
                )
            g["drill_overdue"].add_metric(labels, 1.0 if d["overdue"] else 0.0)
            if d["last_run_id"]:
                open_findings.setdefault((d["drill"], env), 0)
            emitted: set[str] = set()
            for sc in (last or {}).get("scenarios", []):
                if sc["id"] in emitted:  # a run from before scenario ids had to be unique:
                    continue  # a second series with the same labels fails the whole scrape
                emitted.add(sc["id"])
                sc_labels = [*labels, sc["id"]]
                if sc["rto_s"] is not None:
                    g["drill_rto_seconds"].add_metric(sc_labels, sc["rto_s"])
                if sc["rpo_s"] is not None:
                    g["drill_rpo_seconds"].add_metric(sc_labels, sc["rpo_s"])
                if sc["met"] is not None:
                    g["drill_objective_met"].add_metric(sc_labels, 1.0 if sc["met"] else 0.0)
        for (drill, env), n in sorted(open_findings.items()):
            g["drill_open_findings"].add_metric([drill, env], float(n))
        g["drill_scheduler_running"].add_metric([], float(_schedulers_up(src.db(), src.now())))
        pending = [d for d in list_docs(src.db(), src.now()) if d["next_fire_at"]]
        g["drill_schedules_pending"].add_metric([], float(len(pending)))
        yield from g.values()
        yield self._lag_histogram(fire_lags(src.db()))

    @staticmethod
    def _lag_histogram(lags: list[tuple[str, str, float]]) -> HistogramMetricFamily:
        h = HistogramMetricFamily(
            "drill_scheduler_fire_lag_seconds",
            "How late scheduled fires started (claimed - scheduled).",
            labels=["drill", "env"],
        )
        by: dict[tuple[str, str], list[float]] = defaultdict(list)
        for target, env, lag in lags:
            by[(target, env)].append(lag)
        for (drill, env), values in sorted(by.items()):
            buckets = [(str(b), float(sum(v <= b for v in values))) for b in LAG_BUCKETS]
            buckets.append(("+Inf", float(len(values))))
            h.add_metric([drill, env], buckets, sum(values))
        return h


def render(sources: Sources) -> bytes:
    """The Prometheus text exposition of :class:`DrillCollector` (one fresh registry)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DrillCollector(sources))
    return generate_latest(registry)
