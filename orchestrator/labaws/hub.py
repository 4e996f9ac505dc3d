"""What the emulator's middleware shares: the lab handle, transitions in flight, a worker.

RDS answers a mutating call at once and reports the work through the instance status
(``rebooting``, ``modifying``, ``creating`` → ``available``). A :class:`Transition`
is that status for one instance, held until the lab itself shows the work done (a new
primary that answers, a promoted server out of recovery, a restored server up); only
then does ``DescribeDBInstances`` say ``available`` again. Long lab work (restores,
replica rebuilds, re-protecting the Multi-AZ pair) runs on one worker thread, in order.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.config import EnvironmentConfig, ProviderKind, Settings
from orchestrator.providers.base import StepContext
from orchestrator.providers.lab.state import LabState, lab_dir, load


@dataclass
class Transition:
    status: str  # what DescribeDBInstances reports meanwhile
    done: Callable[[LabState], bool]
    events: tuple[str, str] | None = None  # moto event types: at start, when done
    then: Callable[[], None] | None = None  # queued on the worker once done …
    hold: bool = False  # … with this status kept until it has run (a standby rebuilt)
    started: float = field(default_factory=time.monotonic)


class Hub:
    """One per emulator process."""

    def __init__(self, state_dir: Path, url: str, calls_log: Path) -> None:
        self.settings = Settings(state_dir=str(state_dir), base_dir=state_dir.parent)
        self.env = EnvironmentConfig(provider=ProviderKind.LAB)
        self.root = lab_dir(self.settings.state_path())
        self.url = url
        self.calls_log = calls_log
        self.lock = threading.RLock()
        self.transitions: dict[tuple[str, str], Transition] = {}  # (region, id) → …
        self.failed: dict[tuple[str, str], str] = {}  # work that failed: status "failed"
        self.worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lab-work")
        self.ready = threading.Event()
        self.seen_primary: str | None = None  # the lab's primary at the last sync
        # when the cross-region replica was last seen streaming (ReplicaLag since then)
        self.replica_streamed_at = time.time()

    def state(self) -> LabState:
        st = load(self.root)
        if st is None:
            raise RuntimeError("the lab is not running")
        return st

    def lab(self, action: str, args: dict[str, Any]) -> dict[str, Any]:
        """Run one of the lab's own actions (the same code `--env lab` runs)."""
        from orchestrator.providers.lab.provider import LabProvider

        ctx = StepContext(
            run_id="lab-aws", scenario_id="aws-api", mode="live", deadline_s=600, log=self.log
        )
        return LabProvider("lab", self.env, self.settings).execute(action, args, ctx)

    def background(
        self, what: str, fn: Callable[[], Any], key: tuple[str, str] | None = None
    ) -> Future[Any]:
        def run() -> Any:
            try:
                return fn()
            except Exception as exc:  # the API reports it as the instance's status
                self.log(f"{what} failed: {exc}")
                if key is not None:
                    with self.lock:
                        self.failed[key] = str(exc)
                        self.transitions.pop(key, None)
                return None

        return self.worker.submit(run)

    def begin(self, region: str, ident: str, tr: Transition) -> None:
        with self.lock:
            self.failed.pop((region, ident), None)
            self.transitions[(region, ident)] = tr
        if tr.events:
            from orchestrator.labaws.sync import add_event

            add_event(region, ident, tr.events[0])

    def settle(self, st: LabState) -> None:
        """End every transition whose work the lab shows done."""
        from orchestrator.labaws.sync import add_event

        with self.lock:
            done = [(k, t) for k, t in self.transitions.items() if _check(t, st)]
            for key, tr in done:
                del self.transitions[key]
                if tr.then is not None and tr.hold:
                    self.transitions[key] = _held(tr)
        for (region, ident), tr in done:
            if tr.events:
                add_event(region, ident, tr.events[1])
            if tr.then is not None and tr.hold:
                self.log(f"{ident}: {tr.status} until its work after it is done")
                self.background(f"after {tr.status} of {ident}", tr.then)
                continue
            self.log(f"{ident}: {tr.status} → available ({time.monotonic() - tr.started:.2f}s)")
            if tr.then is not None:
                self.background(f"after {tr.status} of {ident}", tr.then)

    def status_of(self, region: str, ident: str) -> str | None:
        with self.lock:
            if (region, ident) in self.failed:
                return "failed"
            tr = self.transitions.get((region, ident))
            return tr.status if tr else None

    def record(self, call: dict[str, Any]) -> None:
        """Append a call to the emulator's own log (what tests compare plans with)."""
        with self.lock, open(self.calls_log, "a") as fh:
            fh.write(json.dumps(call, default=str) + "\n")

    @staticmethod
    def log(msg: str) -> None:
        print(f"{time.strftime('%H:%M:%S')} {msg}", flush=True)


def _held(tr: Transition) -> Transition:
    """``tr``'s status kept while its ``then`` runs (RDS says ``rebooting`` or
    ``modifying`` until a Multi-AZ pair is whole again, not just its primary)."""
    finished: dict[str, bool] = {}
    then = tr.then
    assert then is not None

    def run() -> None:
        try:
            then()
        finally:  # a rebuild that failed is logged; the primary serves: `available`
            finished["ok"] = True

    tr.then = run
    return Transition(tr.status, lambda _st: "ok" in finished, started=tr.started)


def _check(tr: Transition, st: LabState) -> bool:
    try:
        return tr.done(st)
    except Exception:  # a server mid-restart: not done yet
        return False
