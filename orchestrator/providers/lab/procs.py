"""Processes of the lab: start helpers, tell live from dead or stopped, signal, stop.

Lab processes outlive the command that started them (``drill lab up`` exits, the lab
keeps running), so they are tracked by pid *and* /proc start time — a recycled pid
is never mistaken for a lab process. Each runs in its own session, so a signal to its
process group reaches a PostgreSQL server and all its backends at once.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from orchestrator.errors import LabError
from orchestrator.providers.lab import journal


def _stat(pid: int) -> tuple[str, int] | None:
    """(state letter, start ticks) from /proc, or None when there is no such process."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    rest = raw[raw.rfind(")") + 2 :].split()
    return rest[0], int(rest[19])


def start_ticks(pid: int) -> int | None:
    st = _stat(pid)
    return st[1] if st else None


def state(pid: int | None, ticks: int | None) -> str:
    """``running``, ``stopped`` (SIGSTOP) or ``dead`` (gone, zombie, or pid reused)."""
    if not pid:
        return "dead"
    st = _stat(pid)
    if st is None or st[0] in ("Z", "X") or (ticks is not None and st[1] != ticks):
        return "dead"
    return "stopped" if st[0] in ("T", "t") else "running"


def spawn_python(module: str, args: list[str], log_path: Path) -> tuple[int, int | None]:
    """Start ``python -m module args…`` detached; returns (pid, start ticks)."""
    from orchestrator.testhooks import ENV

    env = {k: v for k, v in os.environ.items() if k != ENV}  # the hook is drill's, not theirs
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd="/",
            env=env,
        )
    return proc.pid, start_ticks(proc.pid)


def signal_group(pid: int | None, ticks: int | None, sig: int) -> bool:
    """Send ``sig`` to the process group led by ``pid``; False if it was already gone."""
    if _signal(pid, ticks, sig):
        journal.note("process", signal.Signals(sig).name)
        return True
    return False


def _signal(pid: int | None, ticks: int | None, sig: int) -> bool:
    """:func:`signal_group` unrecorded: part of a stop, which is recorded as one."""
    if state(pid, ticks) == "dead":
        return False
    assert pid is not None
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:
        os.kill(pid, sig)
    return True


def group_alive(pgid: int) -> bool:
    """Whether any live (non-zombie) process is still in process group ``pgid``."""
    return bool(_live_groups({pgid}))


def terminate(
    pid: int | None, ticks: int | None, grace_s: float = 3.0, sig: int = signal.SIGTERM
) -> None:
    """Stop a process group for good: SIGCONT + ``sig``, then SIGKILL after ``grace_s``."""
    if pid is None:
        return
    if state(pid, ticks) != "dead":
        journal.note("process", "stop")
        _signal(pid, ticks, signal.SIGCONT)
        _signal(pid, ticks, sig)
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and state(pid, ticks) != "dead":
            time.sleep(0.05)
    if group_alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and group_alive(pid):
        time.sleep(0.05)


def terminate_many(targets: list[tuple[int | None, int | None, int]], grace_s: float = 5.0) -> None:
    """:func:`terminate` for many process groups at once: signal all, then wait once."""
    live = [
        (pid, ticks)
        for pid, ticks, sig in targets
        if pid is not None and _signal(pid, ticks, signal.SIGCONT) and _signal(pid, ticks, sig)
    ]
    if live:
        journal.note("process", "stop")
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and any(state(p, t) != "dead" for p, t in live):
        time.sleep(0.05)
    pgids = {pid for pid, _, _ in targets if pid is not None}
    for pgid in _live_groups(pgids):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _live_groups(pgids):
        time.sleep(0.05)


def groups_logging_to(directory: Path) -> dict[int, str]:
    """The process groups whose leader writes its output to a file in ``directory``, with
    that file's name: how the lab's helpers (each started with its output on
    ``logs/NAME.log``) are found when the state file that has their pids is damaged.
    Never drill's own group."""
    prefix = str(directory.resolve()) + os.sep
    own = os.getpgrp()
    found: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            out = os.readlink(f"/proc/{entry}/fd/1")
            raw = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        rest = raw[raw.rfind(")") + 2 :].split()
        pgid = int(rest[2])
        if out.startswith(prefix) and pgid == int(entry) and pgid != own:
            found[pgid] = Path(out).stem
    return found


def _live_groups(pgids: set[int]) -> set[int]:
    """Which of ``pgids`` still have a live (non-zombie) member (one /proc scan)."""
    found: set[int] = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        rest = raw[raw.rfind(")") + 2 :].split()
        if int(rest[2]) in pgids and rest[0] not in ("Z", "X"):
            found.add(int(rest[2]))
    return found


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def port_taken(port: int | None) -> str | None:
    """Why a dead helper cannot listen on its recorded ``port`` again: another process
    holds it (bound or listening) — ``None`` when it is free. Says who when /proc tells."""
    if not port:
        return None
    for _ in range(10):  # the kernel frees a dead process's socket a moment after it died
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the helpers bind
            try:
                s.bind(("127.0.0.1", port))
                return None
            except OSError:
                time.sleep(0.05)
    holder = _port_holder(port)
    return f"its port 127.0.0.1:{port} is taken" + (f" by {holder}" if holder else "")


def _port_holder(port: int) -> str | None:
    """``pid N (command)`` of a process with a socket on local ``port`` (best effort)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[9] != "0":
                    inodes.add(f"socket:[{fields[9]}]")
    for entry in os.listdir("/proc") if inodes else ():
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{entry}/fd"):
                if os.readlink(f"/proc/{entry}/fd/{fd}") in inodes:
                    comm = Path(f"/proc/{entry}/comm").read_text().strip()
                    return f"pid {entry} ({comm})"
    return None


def wait_port(
    port: int, pid: int, ticks: int | None, what: str, log: Path, timeout: float = 15.0
) -> None:
    """Wait until ``port`` accepts connections; fail fast (saying why) if ``pid`` dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(port):
            return
        if state(pid, ticks) == "dead":
            raise LabError(f"{what} exited during start-up: {reason(log)}")
        time.sleep(0.02)
    raise LabError(f"{what} did not listen on 127.0.0.1:{port} within {timeout:g}s: {reason(log)}")


def reason(log: Path) -> str:
    """Why a process failed, in one line, from the end of its ``log``, and where that log
    is: the last error line (a Python exception's, PostgreSQL's FATAL), never the
    traceback — a lab message is one line in ``drill``'s output."""
    try:
        lines = [ln.strip() for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return f"(no log at {log})"
    tail = [ln for ln in lines[-40:] if not ln.startswith("File ")]
    for marks in (("FATAL", "PANIC"), ("Error", "Exception", "ERROR"), ("error",)):
        errors = [ln for ln in tail if any(m in ln for m in marks)]
        if errors:  # PostgreSQL's FATAL over the HINT after it, which says "error" too
            return f"{errors[-1][:300]} (log: {log})"
    return f"{(lines or ['(empty log)'])[-1][:300]} (log: {log})"


def tail(path: Path, chars: int = 600) -> str:
    """The end of a log as it is (for the lab's ground-truth record, not for messages)."""
    try:
        return path.read_text(errors="replace")[-chars:].strip()
    except OSError:
        return "(no log)"
