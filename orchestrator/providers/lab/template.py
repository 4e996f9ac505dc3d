"""A cached, shut-down initial cluster: why ``lab up`` takes seconds, not tens of them.

``initdb`` plus three ``pg_basebackup`` runs dominated start-up (≈ 10 s on a busy
2-CPU machine). Instead, the first ``lab up`` builds one cluster — initdb, database
``app``, the known dataset — shuts it down cleanly and keeps it in a cache. Every lab
then *copies* it three times: a cleanly shut-down cluster is a valid starting point
for a primary and for standbys of that primary (same system identifier, same
checkpoint), and its tar is a valid first recovery point for the vault.

The cache key covers the PostgreSQL binaries, the lab's base configuration and the
dataset size. Location: ``$DRILL_LAB_CACHE``, else ``<tmp>/drill-lab-cache-<uid>``
(ignored if another user owns it).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from orchestrator import pgbin
from orchestrator.errors import LabError
from orchestrator.providers.lab import data, pg, procs
from orchestrator.providers.lab.state import APP_DB

TEMPLATE_VERSION = "2"


def cache_root(fallback: Path) -> Path:
    explicit = os.environ.get("DRILL_LAB_CACHE")
    default = Path(tempfile.gettempdir()) / f"drill-lab-cache-{os.getuid()}"
    root = Path(explicit) if explicit else default
    try:
        root.mkdir(mode=0o711, parents=True, exist_ok=True)
        if root.stat().st_uid != os.getuid():
            return fallback
    except OSError:
        return fallback
    return root


def _key(rows: int) -> str:
    version = pgbin.run([pgbin.tool("postgres"), "--version"]).stdout.strip()
    raw = "|".join([TEMPLATE_VERSION, str(pgbin.bindir()), version, pg.BASE_CONF, str(rows)])
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def ensure(rows: int, fallback: Path, log: Any = lambda _m: None) -> Path:
    """Directory holding ``data/`` (shut-down cluster) and ``base.tar`` (its tar)."""
    root = cache_root(fallback)
    final = root / f"lab-template-{_key(rows)}"
    if (final / "ready").exists():
        return final
    log("lab: building the initial cluster (initdb + dataset; cached for later labs)")
    build = Path(tempfile.mkdtemp(prefix=".build-", dir=root))
    try:
        _build(build, rows)
        try:
            os.rename(build, final)
        except OSError:  # another lab built it at the same time: use theirs
            shutil.rmtree(build, ignore_errors=True)
    finally:
        if build.exists() and not (final / "ready").exists():
            shutil.rmtree(build, ignore_errors=True)
    return final


def _build(build: Path, rows: int) -> None:
    build.chmod(0o711)
    cluster = build / "data"
    pg.initdb(cluster)
    port = pgbin.free_port()
    log = build / "build.log"
    pid, ticks = pg.start("template", cluster, port, log, archive=False)
    try:
        pg.wait_ready(port, pid, ticks, "template", log)
        pg.query(port, f"CREATE DATABASE {APP_DB}")
        data.create_app_schema(pg.conninfo(port, APP_DB), rows)
        pg.query(port, "CHECKPOINT")
    finally:
        procs.terminate(pid, ticks, grace_s=30, sig=signal.SIGINT)  # fast, clean shutdown
    if (cluster / "postmaster.pid").exists():
        raise LabError("the initial cluster did not shut down cleanly", f"see {log}")
    with tarfile.open(build / "base.tar", "w") as tar:
        for entry in sorted(cluster.iterdir()):
            tar.add(entry, arcname=entry.name)
    (build / "ready").write_text("ok\n")
