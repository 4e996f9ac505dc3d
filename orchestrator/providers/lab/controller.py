"""The failover controller: the lab's RDS Multi-AZ brain.

Run as ``python -m orchestrator.providers.lab.controller --root .drill/lab``. Every
100 ms it asks the primary's postmaster for an answer (:func:`pg.alive`); it does
not care *why* the primary is gone — SIGKILL by drill, ``kill -9`` by hand, a
SIGSTOPped AZ. Once the primary has been silent for ``detection_delay_s`` it:

1. fences the old primary (SIGKILL its process group: no split brain on resume);
2. promotes the synchronous standby and clears its inherited
   ``synchronous_standby_names`` (the known trap that blocks every write);
3. repoints the database endpoint and the region link at the new primary;

and logs each step to the ground-truth log. A silent standby is dropped from
``synchronous_standby_names`` after the same delay, so the primary keeps taking
writes (RDS replaces a lost standby without blocking); ``db.reprotect`` brings the
pair back. Base backups are also taken here every ``backup_interval_s``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import threading
import time
from pathlib import Path

from orchestrator.errors import LabError
from orchestrator.providers.lab import pg, procs, proxy, vault
from orchestrator.providers.lab.state import Component, LabState, ground_truth, load, locked

TICK_S = 0.1


def failover(root: Path, expected_primary: str, reason: str, quiet: bool = False) -> str | None:
    """Promote the standby in place of ``expected_primary``; the new primary's name."""
    with locked(root) as st:
        if st.primary != expected_primary or st.region_isolated():
            return None
        old = st.comp(st.primary)
        if pg.alive(old.port or 0, timeout=0.5):
            return None  # came back while we waited for the lock
        standby = st.components.get(st.standby or "")
        if standby is None or not pg.alive(standby.port or 0):
            if not quiet:
                ground_truth(root, "failover_impossible", primary=old.name, reason="no standby")
            return None
        ground_truth(root, "primary_death_detected", primary=old.name, reason=reason)
        procs.signal_group(old.pid, old.start_ticks, signal.SIGKILL)
        old.role, old.desired = "failed", "down"
        _promote_resilient(root, standby)
        ground_truth(root, "promotion_done", new_primary=standby.name)
        st.primary, st.standby = standby.name, None
        standby.role = "primary"
        repoint(st)
        ground_truth(root, "endpoint_repointed", target=standby.name, port=standby.port)
        return standby.name


def _promote_resilient(root: Path, standby: Component) -> None:
    """Promote; if the server died on the way (seen under heavy load), restart it from its
    data directory — crash recovery, still a standby — and promote once more."""
    try:
        pg.promote(standby.port or 0)
        return
    except LabError as exc:
        if procs.state(standby.pid, standby.start_ticks) != "dead":
            raise
        log = root / "logs" / f"{standby.name}.log"
        ground_truth(
            root,
            "promotion_retry",
            standby=standby.name,
            error=exc.message,
            log=procs.tail(log, 1500),
        )
    procs.terminate(standby.pid, standby.start_ticks, grace_s=0.5, sig=signal.SIGKILL)
    standby.pid, standby.start_ticks = pg.start(
        standby.name, Path(standby.data_dir or ""), standby.port or 0, log
    )
    pg.wait_ready(standby.port or 0, standby.pid, standby.start_ticks, standby.name, log)
    pg.promote(standby.port or 0)


def repoint(st: LabState) -> None:
    """Point the database endpoint and the region link at the current primary."""
    port = st.comp(st.primary).port
    proxy.control(st.comp("db-endpoint").control_port or 0, op="set", target=port)
    if not st.usw2_promoted:
        proxy.control(st.comp("region-link").control_port or 0, op="set", target=port)


def degrade(root: Path, expected_standby: str) -> None:
    """The standby is gone: stop waiting for it, so the primary keeps accepting writes."""
    with locked(root) as st:
        if st.standby != expected_standby:
            return
        pg.clear_sync(st.comp(st.primary).port or 0)
        st.comp(expected_standby).role = "lost"
        st.standby = None
        ground_truth(root, "standby_lost", standby=expected_standby)


class Controller:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.silent_since: dict[str, float] = {}
        self.last_backup = time.monotonic()
        self.backup_thread: threading.Thread | None = None
        self.stuck: str | None = None  # a dead primary with no standby to promote

    def watch(self, name: str, port: int, delay: float) -> bool:
        """True once ``name`` has been silent for ``delay`` seconds."""
        if pg.alive(port):
            self.silent_since.pop(name, None)
            if self.stuck == name:
                self.stuck = None
            return False
        now = time.monotonic()
        if name not in self.silent_since:
            self.silent_since[name] = now
            if self.stuck != name:
                ground_truth(self.root, "unreachable", component=name)
        return now - self.silent_since[name] >= delay

    def tick(self) -> bool:
        """One look at the primary (and standby); False while the lab is not built yet."""
        st = load(self.root)
        if st is None or not st.ready:
            return False
        if st.region_isolated():
            return True
        primary = st.comp(st.primary)
        if primary.desired != "down" and self.watch(
            primary.name, primary.port or 0, st.detection_delay_s
        ):
            quiet = self.stuck == primary.name
            if failover(self.root, primary.name, "primary unreachable", quiet) is None:
                self.stuck = primary.name  # retried every delay, reported once
            else:
                self.stuck = None
            self.silent_since.clear()
            return True
        if st.standby and self.watch(
            st.standby, st.comp(st.standby).port or 0, st.detection_delay_s
        ):
            degrade(self.root, st.standby)
        if time.monotonic() - self.last_backup > st.backup_interval_s and not (
            self.backup_thread and self.backup_thread.is_alive()
        ):
            self.last_backup = time.monotonic()
            self.backup_thread = threading.Thread(
                target=self._backup, args=(primary.port or 0, primary.name), daemon=True
            )
            self.backup_thread.start()
        return True

    def _backup(self, port: int, name: str) -> None:
        try:
            entry = vault.create_backup(self.root / "vault", port, name, "scheduled")
            ground_truth(self.root, "backup_created", backup=entry["id"], scheduled=True)
        except LabError as exc:
            ground_truth(self.root, "backup_failed", error=exc.message)

    def run(self) -> None:
        first = True
        while True:
            try:
                if self.tick() and first:  # `lab up` returns once the controller watches
                    (self.root / "controller.ready").write_text(str(os.getpid()))
                    first = False
            except LabError as exc:
                ground_truth(self.root, "controller_error", error=exc.message)
                time.sleep(0.5)
            time.sleep(TICK_S)


def _exit(*_: object) -> None:
    raise SystemExit(0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--root", required=True)
    a = p.parse_args()
    signal.signal(signal.SIGTERM, _exit)
    with contextlib.suppress(OSError):  # a control plane is not starved by its tenants:
        os.nice(-5)  # keeps detection timing honest on a busy machine (root only)
    Controller(Path(a.root)).run()


if __name__ == "__main__":
    main()
