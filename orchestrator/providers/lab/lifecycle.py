"""``lab up`` / ``down`` / ``reset`` / ``status``: build, inspect and tear down the lab.

``up`` is idempotent: a running lab is checked (:mod:`.health`: roles against
``pg_is_in_recovery()``, standby and replica streaming, nothing stopped or isolated,
the dataset intact) and repaired in place, or rebuilt when it cannot be; anything
half-built (``ready`` never set: a ``lab up`` that was killed) is cleaned away and the
lab is built afresh. A lab is built under its lock and marked ``ready`` last. ``down`` stops
every process the lab started — including SIGSTOPped ones — and checks that no
process and no port is left behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from orchestrator import pgbin
from orchestrator.config import EnvironmentConfig, LabTuning, ProviderKind, Settings
from orchestrator.errors import LabError
from orchestrator.providers.lab import data, helpers, pg, procs, template, vault
from orchestrator.providers.lab.state import (
    Component,
    DamagedLabState,
    LabState,
    ground_truth,
    lab_dir,
    load,
    lock_only,
    save,
)
from orchestrator.testhooks import crashpoint

US_EAST, US_WEST = "us-east-1", "us-west-2"


def _tuning(env: EnvironmentConfig | None) -> dict[str, Any]:
    lab = env.lab if env is not None else LabTuning.model_construct()
    return {name: getattr(lab, name) for name in LabTuning.model_fields}


def _data_dirs(root: Path, in_memory: bool) -> None:
    """``pg/`` and ``restored/`` hold the servers' data directories. On a machine with
    a memory file system they are links into it: PostgreSQL is just as real there, and
    copying clusters (1 300 files each) costs a fraction of what a busy disk charges —
    the difference between ``lab up`` in ~2 s and ~10 s on a shared CI runner."""
    shm = Path("/dev/shm")
    if in_memory and shm.is_dir() and os.access(shm, os.W_OK):
        tag = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:12]
        base = shm / f"drill-lab-{os.getuid()}-{tag}"
        for sub in ("pg", "restored"):
            (base / sub).mkdir(parents=True, exist_ok=True)
            (root / sub).symlink_to(base / sub, target_is_directory=True)
    else:
        for sub in ("pg", "restored"):
            (root / sub).mkdir(parents=True, exist_ok=True)


def _stop_unrecorded(root: Path) -> None:
    """Stop servers started but never recorded (drill died, or the operation failed,
    before the state file had their pid): found through their data directories."""
    for sub in ("pg", "restored"):
        if (root / sub).is_dir():
            for data in (root / sub).iterdir():
                pg.stop_owner(data)


def _load_or_stop_found(root: Path, log: Any) -> LabState | None:
    """The lab's state; when its file is damaged, the lab processes found without it are
    stopped and the lab is treated as not running (`lab up` then builds it afresh)."""
    try:
        return load(root)
    except DamagedLabState as exc:
        _stop_found(root, log, exc.message)
        return None


def _stop_found(root: Path, log: Any, why: str) -> list[str]:
    """Stop the lab's processes without the state file that has their pids (``why``: it
    is damaged): servers found by their data directories, helpers by their logs (each
    writes to ``logs/NAME.log``). Returns the names of the helpers stopped."""
    log(f"lab: {why}: stopping the lab processes found by their data and logs")
    _stop_unrecorded(root)
    helpers = procs.groups_logging_to(root / "logs")
    procs.terminate_many([(pgid, None, signal.SIGTERM) for pgid in helpers])
    return sorted(helpers.values())


def _remove_data(root: Path) -> None:
    _stop_unrecorded(root)
    for sub in ("pg", "vault", "restored", "state.json", "controller.ready", "aws"):
        path = root / sub
        if path.is_symlink():
            target = path.resolve()
            path.unlink()
            shutil.rmtree(target, ignore_errors=True)
            with contextlib.suppress(OSError):
                target.parent.rmdir()  # the per-lab directory, once empty
        elif path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        elif path.exists():
            path.unlink()


def is_running(st: LabState | None) -> bool:
    """A lab runs once it was completely built and one of its processes lives. A half-built
    one (``lab up`` killed on the way: ``ready`` never set) is never taken for running."""
    return (
        st is not None
        and st.ready
        and any(procs.state(c.pid, c.start_ticks) != "dead" for c in st.components.values())
    )


def pending_change(settings: Settings) -> str | None:
    """What :func:`lab_up` would change in the lab now (build, rebuild or repair it),
    found without changing anything; None: it runs and its topology is healthy."""
    from orchestrator.providers.lab import health

    st = load(lab_dir(settings.state_path()))
    if not is_running(st):
        return "the lab is not running (it would be built)"
    assert st is not None
    issues = health.check(st)
    return "; ".join(i.what for i in issues) + " (it would be repaired)" if issues else None


def lab_up(
    settings: Settings, env: EnvironmentConfig | None = None, log: Any = lambda _m: None
) -> LabState:
    """Bring the lab up; a running lab is checked and repaired (or rebuilt); returns it."""
    pgbin.bindir()  # fail first, clearly, when PostgreSQL is missing
    root = lab_dir(settings.state_path())
    tune = _tuning(env)
    with lock_only(root):
        st = _load_or_stop_found(root, log)
        if is_running(st):
            assert st is not None
            if _repair(settings, env, root, st, tune, log):
                return st
            log("lab: rebuilding the lab from scratch")
        elif st is not None and not st.ready:
            log("lab: found a half-built lab (an earlier `lab up` was interrupted); rebuilding it")
        elif st is not None and any(c.desired != "down" for c in st.components.values()):
            log(
                "lab: found every process of the lab gone (a host restart, or killed outside "
                "drill); building it afresh"
            )
        if st is not None:
            _stop_all(root, st)
        try:
            return _build(root, tune, log)
        except BaseException:
            partial = load(root)
            if partial is not None:
                _stop_all(root, partial)
                log("lab: stopped what the unfinished build had started")
            # and its data: in /dev/shm it held ~100 MB of memory until the next `lab up`
            # or `lab down` here — never, if the project's directory went first (the logs
            # stay, to read why the build failed)
            _remove_data(root)
            raise


def _repair(
    settings: Settings,
    env: EnvironmentConfig | None,
    root: Path,
    st: LabState,
    tune: dict[str, Any],
    log: Any,
) -> bool:
    """Check the topology, fix what is wrong in place; False when only a rebuild can."""
    from orchestrator.providers.lab import health
    from orchestrator.providers.lab.ops import Lab

    st.detection_delay_s = tune["detection_delay_s"]
    st.backup_interval_s = tune["backup_interval_s"]
    lab = Lab(settings, env or EnvironmentConfig(provider=ProviderKind.LAB))
    for attempt in range(3):  # resuming stopped parts first, then what only shows once they run
        issues = health.check(st)
        if not issues:
            log(
                "lab: already running; checked: roles, sync standby and replica streaming, "
                "endpoints, nothing isolated or stopped, dataset present"
                + (" — healthy, nothing to repair" if attempt == 0 else " — repaired")
            )
            save(root, st)
            return True
        for issue in issues:
            log(f"lab: check: {issue.what}")
        try:
            health.repair(lab, st, issues, log)
        except LabError as exc:
            log(f"lab: cannot repair in place: {exc.message}")
            save(root, st)
            return False
        finally:
            save(root, st)
    return not health.check(st)


def _build(root: Path, tune: dict[str, Any], log: Any) -> LabState:
    t0 = time.monotonic()
    _remove_data(root)
    logs = root / "logs"
    if logs.is_dir():  # the previous lab's logs stay readable one generation
        shutil.rmtree(root / "logs.prev", ignore_errors=True)
        logs.rename(root / "logs.prev")
    logs.mkdir(parents=True)
    _data_dirs(root, tune["in_memory"])
    (root / "ground-truth.jsonl").write_text("")
    user = pgbin.run_as_user()
    st = LabState(
        created_at=datetime.now(UTC),
        run_as=user.pw_name if user else None,
        detection_delay_s=tune["detection_delay_s"],
        backup_interval_s=tune["backup_interval_s"],
    )
    if user:
        log(f"lab: running as root — PostgreSQL servers run as user {user.pw_name!r}")

    def add(
        name: str,
        kind: str,
        role: str,
        az: str | None,
        region: str | None,
        port: bool = True,
        control: bool = False,
        data_dir: Path | None = None,
    ) -> Component:
        c = Component(
            name=name,
            kind=kind,
            role=role,
            az=az,
            region=region,
            port=pgbin.free_port() if port else None,
            control_port=pgbin.free_port() if control else None,
            data_dir=str(data_dir) if data_dir else None,
        )
        st.components[name] = c
        return c

    pgdir, vdir = root / "pg", root / "vault"
    primary = add(
        "use1-az1", "postgres", "primary", "use1-az1", US_EAST, data_dir=pgdir / "use1-az1"
    )
    standby = add(
        "use1-az2", "postgres", "standby", "use1-az2", US_EAST, data_dir=pgdir / "use1-az2"
    )
    replica = add("usw2", "postgres", "replica", "usw2-az1", US_WEST, data_dir=pgdir / "usw2")
    add("region-link", "proxy", "region_link", None, None, control=True)
    add("db-endpoint", "proxy", "db_endpoint", None, US_EAST, control=True)
    add("global-endpoint", "proxy", "global_endpoint", None, "global", control=True)
    for az in helpers.AZS:
        add(f"app-{az}", "app", "app", az, US_EAST)
    add("lb", "proxy", "load_balancer", None, US_EAST)
    add("controller", "controller", "failover", None, US_EAST, port=False)
    save(root, st)
    crashpoint("lab:build:planned")

    pgdir.mkdir(parents=True, exist_ok=True)
    vault.init(vdir)
    tpl = template.ensure(tune["dataset_rows"], root / "cache", log)
    link = st.comp("region-link")
    for c in (primary, standby, replica):
        pg.copy_cluster(tpl / "data", Path(c.data_dir or ""), vdir / "wal")
    pg.make_standby(Path(standby.data_dir or ""), standby.name, primary.port or 0)
    pg.make_standby(Path(replica.data_dir or ""), replica.name, link.port or 0)
    crashpoint("lab:build:copied")
    for c in st.components.values():  # helpers start while the servers start; the
        if c.kind != "postgres":  # controller only acts once the state is `ready`
            helpers.start(st, root, c)
    save(root, st)
    for c in (primary, standby, replica):
        c.pid, c.start_ticks = pg.start(
            c.name,
            Path(c.data_dir or ""),
            c.port or 0,
            logs / f"{c.name}.log",
            archive=c is not replica,
        )
        save(root, st)
    crashpoint("lab:build:servers")
    vault.add_cold_backup(vdir, tpl / "base.tar", primary.name)
    pg.wait_ready(
        primary.port or 0,
        primary.pid or 0,
        primary.start_ticks,
        primary.name,
        logs / "use1-az1.log",
    )
    st.dataset = data.fingerprint(st.dsn(primary.name))
    pg.set_sync(primary.port or 0, standby.name)
    for c in st.components.values():
        if c.kind in ("proxy", "app"):
            helpers.wait(root, c)
    pg.wait_streaming(primary.port or 0, standby.name, sync=True)
    pg.wait_streaming(primary.port or 0, replica.name)
    crashpoint("lab:build:streaming")
    st.ready = True
    save(root, st)
    helpers.wait(root, st.comp("controller"))
    ground_truth(root, "lab_up", seconds=round(time.monotonic() - t0, 3))
    log(f"lab: up in {time.monotonic() - t0:.1f}s")
    return st


def _stop_all(root: Path, st: LabState) -> None:
    """Stop every process: the controller first (no failover of a lab being torn down),
    then everything else at once — SIGTERM for helpers, SIGQUIT (immediate shutdown)
    for servers, SIGKILL for whatever is left after the grace period."""
    ctl = st.components.get("controller")
    if ctl is not None:
        procs.terminate(ctl.pid, ctl.start_ticks, grace_s=2)
    crashpoint("lab:down:controller")
    procs.terminate_many(
        [
            (c.pid, c.start_ticks, signal.SIGQUIT if c.kind == "postgres" else signal.SIGTERM)
            for c in st.components.values()
            if c.kind != "controller"
        ]
    )
    for c in st.components.values():
        c.desired = "down"
    save(root, st)


def lab_down(settings: Settings, log: Any = lambda _m: None) -> dict[str, Any]:
    """Stop everything the lab started; remove its data. Returns what was stopped."""
    return tear_down(lab_dir(settings.state_path()), log)


def tear_down(root: Path, log: Any = lambda _m: None) -> dict[str, Any]:
    """``lab down`` of the lab whose state lives in ``root`` (``.drill/lab``): also what
    the test suite runs on every lab its tests left behind, so that no server keeps
    running and no data directory stays in /dev/shm once their directories are gone."""
    if not root.exists():
        return {"stopped": [], "left": []}
    with lock_only(root):
        try:
            st = load(root)
        except DamagedLabState as exc:
            stopped = _stop_found(root, log, exc.message)
            _remove_data(root)
            ground_truth(root, "lab_down")
            return {"stopped": stopped, "left": []}
        if st is None:
            return {"stopped": [], "left": []}
        names = [
            c.name for c in st.components.values() if procs.state(c.pid, c.start_ticks) != "dead"
        ]
        _stop_all(root, st)
        _stop_unrecorded(root)
        left = [
            c.name
            for c in st.components.values()
            if (c.pid and procs.group_alive(c.pid))
            or any(p and procs.port_open(p) for p in (c.port, c.control_port))
        ]
        if left:
            raise LabError(
                f"lab down left processes or ports behind: {', '.join(left)}",
                "see .drill/lab/logs/ and stop them by hand",
            )
        _remove_data(root)
        ground_truth(root, "lab_down")
    return {"stopped": names, "left": []}


def lab_reset(
    settings: Settings, env: EnvironmentConfig | None = None, log: Any = lambda _m: None
) -> LabState:
    lab_down(settings)
    return lab_up(settings, env, log)


def status(settings: Settings) -> dict[str, Any]:
    """The ``drill lab status --json`` document (DESIGN section 6, a Contract)."""
    from orchestrator.labaws.lifecycle import status_block

    st = load(lab_dir(settings.state_path()))
    if st is None:
        return {
            "running": False,
            "components": [],
            "endpoints": {"db": None, "global_db": None, "app": None},
            "aws": None,
        }
    comps = []
    for c in st.components.values():
        proc = procs.state(c.pid, c.start_ticks)
        comps.append(
            {
                "name": c.name,
                "kind": c.kind,
                "role": c.role,
                "host": c.host,
                "port": c.port,
                "state": "up" if proc == "running" else "down",
                "pid": c.pid if proc != "dead" else None,
                "process": proc,
                "az": c.az,
                "region": c.region,
            }
        )
    return {
        "running": is_running(st),
        "components": comps,
        "endpoints": st.endpoints(),
        "primary": st.primary,
        "standby": st.standby,
        "isolated": list(st.isolated),
        "global_target": st.global_target,
        "detection_delay_s": st.detection_delay_s,
        "servers_run_as": st.run_as,
        "aws": status_block(lab_dir(settings.state_path())),
    }
