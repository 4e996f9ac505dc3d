"""Find PostgreSQL server binaries and run them safely, also when we are root.

PostgreSQL refuses to run as root. When drill runs as root (as CI does), servers
and their tools run as an unprivileged user (``postgres`` if it exists, else
``nobody``), and every directory they use is handed to that user. Binaries are found
through ``$DRILL_PG_BINDIR``, ``pg_config --bindir`` or ``/usr/lib/postgresql/*/bin``.
"""

from __future__ import annotations

import glob
import os
import pwd
import random
import shutil
import socket
import subprocess
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from orchestrator.errors import ConfigError, LabError

INSTALL_HINT = (
    "install the PostgreSQL server: `apt-get install -y postgresql` (Debian/Ubuntu), "
    "`dnf install postgresql-server` (Fedora/RHEL) or `brew install postgresql`; "
    "or set DRILL_PG_BINDIR"
)


def _has_server(bindir: Path) -> bool:
    return (bindir / "postgres").is_file() and (bindir / "initdb").is_file()


@lru_cache(maxsize=1)
def bindir() -> Path:
    """Directory holding ``postgres``, ``initdb``, ``pg_ctl``, ``pg_basebackup``…"""
    candidates: list[Path] = []
    explicit = os.environ.get("DRILL_PG_BINDIR")
    if explicit:  # an explicit choice is not second-guessed by a search elsewhere
        if _has_server(Path(explicit)):
            return Path(explicit)
        raise LabError(
            f"PostgreSQL server binaries (postgres, initdb) not found in "
            f"DRILL_PG_BINDIR={explicit}",
            INSTALL_HINT,
        )
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=5, check=False
            ).stdout.strip()
            if out:
                candidates.append(Path(out))
        except (OSError, subprocess.SubprocessError):
            pass
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda p: int(p.split("/")[-2]) if p.split("/")[-2].isdigit() else 0,
        reverse=True,
    )
    candidates += [Path(p) for p in versions]
    candidates += [Path("/usr/pgsql-16/bin"), Path("/usr/local/bin"), Path("/usr/bin")]
    for c in candidates:
        if _has_server(c):
            return c
    raise LabError("PostgreSQL server binaries (postgres, initdb) not found", INSTALL_HINT)


def tool(name: str) -> str:
    path = bindir() / name
    if not path.is_file():
        raise LabError(f"PostgreSQL tool {name!r} not found in {bindir()}", INSTALL_HINT)
    return str(path)


@lru_cache(maxsize=1)
def run_as_user() -> pwd.struct_passwd | None:
    """The unprivileged account servers run as when we are root; None otherwise."""
    if os.geteuid() != 0:
        return None
    chosen = os.environ.get("DRILL_PG_USER")
    if chosen:  # a misspelt user used to fall back to `postgres` without a word
        try:
            return pwd.getpwnam(chosen)
        except KeyError:
            raise ConfigError(
                f"DRILL_PG_USER={chosen}: no such user",
                "name an existing unprivileged user for the lab's servers, or unset it "
                "(then `postgres`, else `nobody`)",
            ) from None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise LabError(
        "running as root and no unprivileged user (postgres/nobody) exists",
        "create one (`useradd -r postgres`) or set DRILL_PG_USER",
    )


def hand_over(path: Path) -> None:
    """Give ``path`` (recursively) and its parents' traversal to the server user."""
    user = run_as_user()
    if user is None:
        return
    for root, dirs, files in os.walk(path):
        os.chown(root, user.pw_uid, user.pw_gid)
        for f in files:
            os.chown(os.path.join(root, f), user.pw_uid, user.pw_gid, follow_symlinks=False)
        for d in dirs:
            os.chown(os.path.join(root, d), user.pw_uid, user.pw_gid, follow_symlinks=False)
    os.chown(path, user.pw_uid, user.pw_gid)
    parent = path.resolve().parent
    while parent != parent.parent:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            os.chmod(parent, mode | 0o001)  # traversal only, no listing
        parent = parent.parent


def _demote() -> Any:
    user = run_as_user()
    if user is None:
        return None

    def fn() -> None:
        os.setgid(user.pw_gid)
        os.initgroups(user.pw_name, user.pw_gid)
        os.setuid(user.pw_uid)

    return fn


def pg_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = env.get("LC_ALL", "C.UTF-8")
    user = run_as_user()
    if user is not None:
        env["HOME"] = user.pw_dir if os.path.isdir(user.pw_dir) else "/tmp"
        env["USER"] = env["LOGNAME"] = user.pw_name
    return env


def run(
    args: Sequence[str], check: bool = True, timeout: float = 120, input_text: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a PostgreSQL tool as the server user; raise LabError with its stderr.

    In a session of its own: a terminal's Ctrl-C goes to the whole foreground group, and
    drill, which stops in order and lets the rollback in progress finish, must be the
    only one to hear it — a pg_basebackup re-creating the standby died of it."""
    try:
        proc = subprocess.run(
            list(args),
            capture_output=True,
            text=True,
            timeout=timeout,
            preexec_fn=_demote(),
            env=pg_env(),
            input=input_text,
            cwd="/",
            check=False,
            start_new_session=True,
        )
    except subprocess.TimeoutExpired:
        raise LabError(f"{Path(args[0]).name} timed out after {timeout:g}s") from None
    if check and proc.returncode != 0:
        raise LabError(
            f"{Path(args[0]).name} failed (exit {proc.returncode}): "
            f"{(proc.stderr or proc.stdout).strip()[-800:]}"
        )
    return proc


def popen(args: Sequence[str], log_path: Path) -> subprocess.Popen[bytes]:
    """Start a long-running server process as the server user, in its own session."""
    log = open(log_path, "ab")  # noqa: SIM115 - handed to the child
    try:
        return subprocess.Popen(
            list(args),
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=_demote(),
            env=pg_env(),
            cwd="/",
            start_new_session=True,
        )
    finally:
        log.close()


_HANDED_OUT: set[int] = set()


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


def free_port(host: str = "127.0.0.1") -> int:
    """A currently free TCP port on loopback, for a server started a moment later.

    Why not the kernel's pick (bind to port 0): that comes from the ephemeral range, which
    every outgoing connection draws from too — a client socket opened between this call
    and the server's bind (the lab connects to PostgreSQL all through start-up) could
    take the port. Ports are drawn below that range instead, never twice per process.
    """
    low, _ = _ephemeral_range()
    lowest = max(1024, low - 12000)
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(lowest, low) if low - lowest >= 1000 else 0
        if port in _HANDED_OUT:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
            port = int(s.getsockname()[1])
        _HANDED_OUT.add(port)
        return port
    raise LabError(f"no free TCP port on {host}", "stop some local servers and try again")
