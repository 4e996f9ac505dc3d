"""PostgreSQL servers of the lab: create, start, clone, promote, query, probe.

Servers run as ``postgres`` directly (not via ``pg_ctl``) in their own session so a
signal to the process group is a whole-host failure. Instance-specific settings
(port, name, archiving) go on the command line; shared settings live in
``postgresql.conf`` and travel with base backups, as on a real fleet. The
``synchronous_standby_names`` of a primary travel too — in ``postgresql.auto.conf``
— which is exactly the trap a promoted standby falls into (see :func:`clear_sync`).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import struct
import time
from pathlib import Path
from typing import Any

from orchestrator import pgbin
from orchestrator.errors import LabError
from orchestrator.providers.lab import journal, procs
from orchestrator.providers.lab.state import DB_USER, HOST

BASE_CONF = """
# drill lab
wal_level = replica
max_wal_senders = 10
max_replication_slots = 10
hot_standby = on
wal_keep_size = 256MB
min_wal_size = 4MB
max_wal_size = 64MB
wal_retrieve_retry_interval = 200ms
wal_receiver_status_interval = 1s
archive_mode = on
fsync = off
full_page_writes = on
shared_buffers = 16MB
max_connections = 100
dynamic_shared_memory_type = mmap
log_line_prefix = '%m [%p] '
"""


def conninfo(port: int, dbname: str = "postgres", **extra: str) -> str:
    parts = [f"host={HOST}", f"port={port}", f"dbname={dbname}", f"user={DB_USER}"]
    parts += [f"{k}={v}" for k, v in extra.items()]
    return " ".join(parts)


def stop_owner(data: Path) -> None:
    """Kill the server running on ``data`` per its ``postmaster.pid``, if there is one,
    and release the shared memory it leaves behind.

    drill can die between starting a server and recording its pid; the server then runs
    on unknown to the state. Whoever reuses or removes the directory stops it first."""
    try:
        lines = (data / "postmaster.pid").read_text().splitlines()
    except OSError:
        return
    try:
        pid = int(lines[0])
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        if str(data).encode() in argv:  # that very server, not a reused pid
            procs.terminate(pid, procs.start_ticks(pid), grace_s=0.5, sig=signal.SIGKILL)
    except (OSError, ValueError, IndexError):
        pass
    _release_shmem(lines)


def _release_shmem(pid_file: list[str]) -> None:
    """Remove the System V segment of a server that was killed outright (a SIGKILL runs
    no shutdown to remove it), as named by line 7 of its ``postmaster.pid`` (key, id).

    PostgreSQL removes it itself when it starts again on the same directory; the lab
    removes or rebuilds the directory instead, so every failover (SIGKILL of the
    primary) leaked one segment — until the kernel's limit (``kernel.shmmni``, 4,096)
    was reached and no PostgreSQL server on the machine could start. Only a segment with
    that very key and nothing attached is removed."""
    import ctypes

    try:
        key, shmid = (int(x) for x in pid_file[6].split()[:2])
        table = Path("/proc/sysvipc/shm").read_text().splitlines()[1:]
    except (OSError, ValueError, IndexError):
        return
    for row in table:
        fields = row.split()  # key shmid perms size cpid lpid nattch …
        if fields[:2] == [str(key), str(shmid)] and fields[6] == "0":
            ctypes.CDLL(None, use_errno=True).shmctl(shmid, 0, None)  # 0: IPC_RMID


def make_dir(path: Path) -> Path:
    """An empty directory owned by the server user (0700, as PostgreSQL wants)."""
    if path.exists():
        stop_owner(path)
        shutil.rmtree(path)
    path.mkdir(parents=True, mode=0o700)
    pgbin.hand_over(path)
    return path


def initdb(data: Path) -> None:
    make_dir(data)
    pgbin.run(
        [
            pgbin.tool("initdb"),
            "-D",
            str(data),
            "-U",
            DB_USER,
            "-A",
            "trust",
            "--no-sync",
            "-E",
            "UTF8",
            "--no-instructions",
            "--wal-segsize=1",
        ]
    )
    with open(data / "postgresql.conf", "a") as fh:
        fh.write(BASE_CONF)


def copy_cluster(src: Path, dest: Path, vault_wal: Path) -> None:
    """Copy a shut-down cluster (a valid base for a primary *and* its standbys: same
    system identifier, same checkpoint) and point its archiving at the vault."""
    if dest.exists():
        shutil.rmtree(dest)
    give(dest.parent)  # only the parent: a recursive hand-over would rewalk other clusters
    pgbin.run(["cp", "-a", str(src), str(dest)])
    with open(dest / "postgresql.conf", "a") as fh:
        fh.write(f"archive_command = 'test ! -f {vault_wal}/%f && cp %p {vault_wal}/%f'\n")


def give(*paths: Path) -> None:
    """Hand single files/directories (not their contents) to the server user."""
    user = pgbin.run_as_user()
    if user is not None:
        for path in paths:
            os.chown(path, user.pw_uid, user.pw_gid)


def make_standby(data: Path, app_name: str, upstream_port: int) -> None:
    """Turn a copied data directory into a streaming standby of ``upstream_port``."""
    auto = data / "postgresql.auto.conf"
    keep = auto.read_text() if auto.exists() else ""
    lines = [ln for ln in keep.splitlines() if not ln.startswith("primary_conninfo")]
    lines.append(f"primary_conninfo = '{conninfo(upstream_port, application_name=app_name)}'")
    auto.write_text("\n".join(lines) + "\n")
    (data / "standby.signal").write_text("")
    give(auto, data / "standby.signal")


def start(
    name: str,
    data: Path,
    port: int,
    log: Path,
    archive: bool = True,
    extra: dict[str, str] | None = None,
) -> tuple[int, int | None]:
    """Start ``postgres`` on 127.0.0.1:port; returns (pid, start ticks) once it listens."""
    journal.note("postgres", "start")
    opts = {
        "listen_addresses": HOST,
        "unix_socket_directories": "",
        "cluster_name": name,
        "archive_mode": "on" if archive else "off",
        **(extra or {}),
    }
    args = [pgbin.tool("postgres"), "-D", str(data), "-p", str(port)]
    for k, v in opts.items():
        args += ["-c", f"{k}={v}"]
    proc = pgbin.popen(args, log)
    ticks = procs.start_ticks(proc.pid)
    procs.wait_port(port, proc.pid, ticks, f"PostgreSQL {name}", log, timeout=30)
    return proc.pid, ticks


def wait_ready(
    port: int,
    pid: int,
    ticks: int | None,
    name: str,
    log: Path,
    timeout: float = 30.0,
    writable: bool = False,
) -> None:
    """Wait until the server accepts queries (and, if asked, is out of recovery)."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if procs.state(pid, ticks) == "dead":
            raise LabError(f"PostgreSQL {name} exited: {procs.reason(log)}")
        try:
            in_recovery = query(port, "SELECT pg_is_in_recovery()", timeout=2)
            if not writable or in_recovery is False:
                return
        except LabError as exc:
            last = exc.message
        time.sleep(0.05)
    raise LabError(f"PostgreSQL {name} not ready within {timeout:g}s: {last}")


def query(
    port: int,
    sql: str,
    params: tuple[Any, ...] = (),
    dbname: str = "postgres",
    timeout: float = 5.0,
) -> Any:
    """First column of the first row (or None); LabError on any failure."""
    rows = query_all(port, sql, params, dbname, timeout)
    return rows[0][0] if rows else None


def query_all(
    port: int,
    sql: str,
    params: tuple[Any, ...] = (),
    dbname: str = "postgres",
    timeout: float = 5.0,
) -> list[tuple[Any, ...]]:
    import psycopg

    try:
        with psycopg.connect(
            conninfo(port, dbname), connect_timeout=max(2, int(timeout)), autocommit=True
        ) as conn:
            conn.execute(f"SET statement_timeout = {int(timeout * 1000)}")
            cur = conn.execute(sql, params)
            return list(cur.fetchall()) if cur.description else []
    except psycopg.Error as exc:
        raise LabError(f"query on 127.0.0.1:{port} failed: {str(exc).strip()}") from None


def alive(port: int, timeout: float = 0.3) -> bool:
    """Does a postmaster answer on ``port``? (SSLRequest → 'S'/'N'; no auth, no backend.)

    Connection refused (killed) and no answer (SIGSTOP, hung host) both count as dead.
    """
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall(struct.pack("!II", 8, 80877103))
            return s.recv(1) in (b"S", b"N")
    except OSError:
        return False


def basebackup_standby(src_port: int, data: Path, app_name: str, upstream_port: int) -> None:
    """Clone a running server into ``data`` and make it a streaming standby.

    ``upstream_port`` is where it will stream from (e.g. the region link proxy).
    """
    journal.note("postgres", "pg_basebackup")
    make_dir(data)
    pgbin.run(
        [
            pgbin.tool("pg_basebackup"),
            "-d",
            conninfo(src_port),
            "-D",
            str(data),
            "-X",
            "stream",
            "-c",
            "fast",
            "--no-sync",
        ],
        timeout=120,
    )
    make_standby(data, app_name, upstream_port)


def promote(port: int) -> None:
    """Promote a standby and wait until it accepts writes."""
    journal.note("postgres", "pg_promote")
    if not query(port, "SELECT pg_promote(true, 30)", timeout=35):
        raise LabError(f"promotion of 127.0.0.1:{port} did not finish in 30 s")
    clear_sync(port)


def clear_sync(port: int) -> None:
    """The known trap: a promoted standby inherits ``synchronous_standby_names`` from its
    old primary and every commit then waits for a standby that does not exist. Clear it."""
    journal.note("postgres", "synchronous_standby_names")
    query(port, "ALTER SYSTEM RESET synchronous_standby_names")
    query(port, "SELECT pg_reload_conf()")


def set_sync(port: int, standby: str) -> None:
    journal.note("postgres", "synchronous_standby_names")
    query(port, f"ALTER SYSTEM SET synchronous_standby_names = '\"{standby}\"'")
    query(port, "SELECT pg_reload_conf()")


def replication(port: int) -> dict[str, dict[str, Any]]:
    """pg_stat_replication of a primary by application name."""
    rows = query_all(
        port,
        "SELECT application_name, state, sync_state, "
        "EXTRACT(EPOCH FROM replay_lag)::float8, "
        "pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::float8 "
        "FROM pg_stat_replication",
        timeout=3,
    )
    return {
        r[0]: {"state": r[1], "sync_state": r[2], "replay_lag_s": r[3], "lag_bytes": r[4]}
        for r in rows
    }


def wait_streaming(
    primary_port: int, app_name: str, timeout: float = 60.0, sync: bool = False
) -> None:
    """Until ``app_name`` streams from the primary (and is its synchronous standby with
    ``sync``). Idle, that takes a second or two; the timeout is for a machine under heavy
    load (a CI runner's parallel suites: 20 s was once not enough for the replica)."""
    deadline = time.monotonic() + timeout
    seen: dict[str, Any] = {}
    while time.monotonic() < deadline:
        try:
            seen = replication(primary_port).get(app_name) or {}
        except LabError:
            seen = {}
        if seen.get("state") == "streaming" and (not sync or seen.get("sync_state") == "sync"):
            return
        time.sleep(0.05)
    raise LabError(
        f"{app_name} is not streaming from 127.0.0.1:{primary_port} "
        f"after {timeout:g}s (last: {seen or 'no connection'})"
    )
