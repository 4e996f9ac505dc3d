"""The backup vault (AWS Backup analogue): base backups + WAL archive, point-in-time restore.

Layout under ``.drill/lab/vault/``: ``wal/`` (filled by every primary's
``archive_command``), ``base/<id>/`` (``pg_basebackup -Ft`` tars) and
``manifest.json`` listing each recovery point with its time window, timeline and the
sha256 of every file. A restore verifies those checksums before using a byte, then
replays the archive into a NEW instance (never touching the source), stopping at the
requested time — e.g. just before a ``DROP TABLE``.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tarfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from orchestrator import pgbin
from orchestrator.errors import LabError
from orchestrator.providers.lab import journal, pg


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def manifest(vault: Path) -> dict[str, Any]:
    path = vault / "manifest.json"
    if not path.exists():
        return {"backups": []}
    doc: dict[str, Any] = json.loads(path.read_text())
    return doc


def _save_manifest(vault: Path, doc: dict[str, Any]) -> None:
    tmp = vault / "manifest.json.tmp"
    tmp.write_text(json.dumps(doc, indent=1))
    tmp.replace(vault / "manifest.json")


def init(vault: Path) -> None:
    (vault / "base").mkdir(parents=True, exist_ok=True)
    pg.make_dir(vault / "wal")
    pgbin.hand_over(vault / "base")


def create_backup(
    vault: Path, source_port: int, source: str, label: str = "on-demand"
) -> dict[str, Any]:
    """Take a base backup of the server on ``source_port`` into the vault; record it."""
    journal.note("vault", "backup")
    started = datetime.now(UTC)
    backup_id = f"{started:%Y%m%dT%H%M%S%f}"
    target = pg.make_dir(vault / "base" / backup_id)
    pgbin.run(
        [
            pgbin.tool("pg_basebackup"),
            "-d",
            pg.conninfo(source_port),
            "-D",
            str(target),
            "-Ft",
            "-X",
            "stream",
            "-c",
            "fast",
            "--no-sync",
            "--manifest-checksums=SHA256",
        ],
        timeout=300,
    )
    ended = datetime.now(UTC)
    files = {p.name: _sha256(p) for p in sorted(target.iterdir()) if p.is_file()}
    timeline = pg.query(source_port, "SELECT timeline_id FROM pg_control_checkpoint()")
    entry = {
        "id": backup_id,
        "label": label,
        "source": source,
        "started_at": started.isoformat(),
        "ended_at": ended.isoformat(),
        "timeline": timeline,
        "files": files,
    }
    doc = manifest(vault)
    doc["backups"].append(entry)
    _save_manifest(vault, doc)
    return entry


def add_cold_backup(vault: Path, tar: Path, source: str) -> dict[str, Any]:
    """Record the tar of a cleanly shut-down cluster as a recovery point (lab up)."""
    now = datetime.now(UTC)
    backup_id = f"{now:%Y%m%dT%H%M%S%f}"
    target = vault / "base" / backup_id
    target.mkdir(parents=True)
    shutil.copyfile(tar, target / "base.tar")
    pgbin.hand_over(target)
    entry = {
        "id": backup_id,
        "label": "lab-up (cold copy of the initial cluster)",
        "source": source,
        "started_at": now.isoformat(),
        "ended_at": now.isoformat(),
        "timeline": 1,
        "files": {"base.tar": _sha256(target / "base.tar")},
    }
    doc = manifest(vault)
    doc["backups"].append(entry)
    _save_manifest(vault, doc)
    return entry


def verify(vault: Path, entry: dict[str, Any]) -> None:
    """Check every file of a recovery point against its recorded sha256."""
    base = vault / "base" / entry["id"]
    for name, digest in entry["files"].items():
        path = base / name
        if not path.is_file():
            raise LabError(f"backup {entry['id']}: {name} is missing from the vault")
        if _sha256(path) != digest:
            raise LabError(
                f"backup {entry['id']}: {name} fails its sha256 check (corrupt)",
                "take a fresh backup with `backup.create`",
            )


def pick(vault: Path, target: datetime | None) -> dict[str, Any]:
    """The newest recovery point that finished before ``target`` (or the newest)."""
    backups = manifest(vault)["backups"]
    if target is not None:
        backups = [b for b in backups if datetime.fromisoformat(b["ended_at"]) < target]
    if not backups:
        when = f" finished before {target.isoformat()}" if target else ""
        raise LabError(
            f"no recovery point{when} in the vault",
            "take one with the `backup.create` action before the fault",
        )
    return dict(backups[-1])


def wait_archived(vault: Path, primary_port: int, timeout: float = 20.0) -> str:
    """Close the current WAL segment on the primary and wait until it is in the vault.

    A tiny commit first guarantees a commit record *after* any target time, so recovery
    can find its stop point instead of running off the end of the archive.
    """
    pg.query(primary_port, "CREATE TABLE IF NOT EXISTS drill_lab_tick (at timestamptz)")
    pg.query(primary_port, "INSERT INTO drill_lab_tick VALUES (now())")
    segment = pg.query(primary_port, "SELECT pg_walfile_name(pg_switch_wal())")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (vault / "wal" / segment).exists():
            return str(segment)
        time.sleep(0.05)
    raise LabError(
        f"WAL segment {segment} was not archived within {timeout:g}s",
        "check archive_command in the primary's log under .drill/lab/",
    )


def restore(vault: Path, entry: dict[str, Any], data: Path, target: datetime | None) -> None:
    """Lay out a new data directory from ``entry`` that recovers to ``target`` then promotes."""
    journal.note("vault", "restore")
    verify(vault, entry)
    if data.exists():
        shutil.rmtree(data)
    data.mkdir(parents=True, mode=0o700)
    base = vault / "base" / entry["id"]
    with tarfile.open(base / "base.tar") as tar:
        tar.extractall(data, filter="fully_trusted")
    wal_tar = base / "pg_wal.tar"
    if wal_tar.exists():
        with tarfile.open(wal_tar) as tar:
            tar.extractall(data / "pg_wal", filter="fully_trusted")
    for leftover in ("standby.signal", "postmaster.pid"):
        (data / leftover).unlink(missing_ok=True)
    lines = [
        f"restore_command = 'cp {vault}/wal/%f %p'",
        "recovery_target_timeline = 'latest'",
        "recovery_target_action = 'promote'",
        "synchronous_standby_names = ''",
    ]
    if target is not None:
        lines.append(f"recovery_target_time = '{target.isoformat()}'")
        lines.append("recovery_target_inclusive = false")
    with open(data / "postgresql.auto.conf", "a") as fh:
        fh.write("\n# drill lab restore\n" + "\n".join(lines) + "\n")
    (data / "recovery.signal").write_text("")
    data.chmod(0o700)
    pgbin.hand_over(data)
