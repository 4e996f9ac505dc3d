"""Per-environment run locks.

A second drill on the same environment is refused. The lock is one the operating
system (or PostgreSQL) releases when its holder dies, which is also how crash
recovery knows a ``running`` run is orphaned: if its environment's lock can be
taken, nobody is running it any more.

* SQLite evidence store → ``fcntl.flock`` on ``<state_dir>/locks/<env>.lock``.
* PostgreSQL evidence store → a session advisory lock, so runners on several
  machines sharing one database exclude each other too.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orchestrator.config import Settings
    from orchestrator.evidence.writer import EvidenceDB


#: The descriptors of the locks this process holds (a lock file; a PostgreSQL session's
#: socket), closed in any process forked from it (:func:`_not_in_a_forked_child`).
_HELD: set[int] = set()


def _not_in_a_forked_child() -> None:
    """A process forked from drill without exec — a background worker a python activity
    started (``multiprocessing``), a library's daemon — shares the lock's open file (or the
    socket of the session holding the advisory lock), and the lock lives as long as any
    process holds that: drill killed, the worker kept the dead run's lock, so the run
    never awaited recovery while it lived (`drill recover`: "a live drill's"; `drill run`:
    "already in use"). The copy closes its descriptors of them: the lock stays drill's
    own, released when drill ends or dies. (psycopg closes a connection only in the
    process that opened it: the copy's never sends anything on the socket.)"""
    for fd in _HELD:
        with contextlib.suppress(OSError):
            os.close(fd)
    _HELD.clear()


os.register_at_fork(after_in_child=_not_in_a_forked_child)

#: The lock every environment driving the local lab shares (``lab``, ``lab-aws``, any
#: other ``provider: lab``): one lab, so one drill at a time on it.
LOCAL_LAB = "local-lab"


def lock_scope(settings: Settings, env: str) -> str:
    """The name of what a run on ``env`` really locks: the local lab, or the environment."""
    from orchestrator.labaws.env import ENV_NAME

    cfg = settings.environments.get(env)
    if env == ENV_NAME or (cfg is not None and cfg.provider == "lab"):
        return LOCAL_LAB
    return env


class EnvLock:
    """Non-blocking exclusive lock on one environment (``scope``: what it stands on, see
    :func:`lock_scope`; the environment's own name by default)."""

    def __init__(self, db: EvidenceDB, state_dir: Path, env: str, scope: str | None = None) -> None:
        self.db, self.env = db, env
        self.scope = scope or env
        self.path = state_dir / "locks" / f"{self.scope}.lock"
        self._fd: int | None = None
        self._conn: Any = None
        self._socket = -1  # the descriptor of _conn's socket

    @property
    def _key(self) -> int:
        digest = hashlib.sha256(f"drill-env:{self.scope}".encode()).digest()
        return int.from_bytes(digest[:8], "big", signed=True)

    def try_acquire(self, holder: dict[str, Any] | None = None) -> bool:
        if self.db.is_postgres:
            conn = self.db.connect()  # its own session: the lock lives as long as it does
            got = conn.execute("SELECT pg_try_advisory_lock(%s)", (self._key,)).fetchone()[0]
            if not got:
                conn.close()
                return False
            self._conn, self._socket = conn, conn.fileno()
            _HELD.add(self._socket)  # the session (and its lock) lives while a process has it
            return True
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:  # a directory in its place, locks/ a file: was an internal error
            from orchestrator.errors import UsageError

            folder = self.path.parent
            where, why = (
                (folder, "not a directory")
                if folder.exists() and not folder.is_dir()
                else (Path(exc.filename or self.path), exc.strerror or str(exc))
            )
            raise UsageError(
                f"the run lock of {self.scope} cannot be opened: {where}: {why}; nothing "
                "was started",
                f"drill keeps its locks as files in the directory {folder}: move what is "
                "in their place aside, then run again",
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        _HELD.add(fd)
        if holder is not None:
            self.note(holder)
        return True

    def note(self, holder: dict[str, Any]) -> None:
        """Write down who holds the lock and why (shown to whoever is refused it)."""
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, json.dumps(holder).encode(), 0)

    def holder(self) -> dict[str, Any] | None:
        """Who holds the lock, as far as we know (SQLite backend only)."""
        try:
            from orchestrator.smallfiles import read_small

            data: dict[str, Any] = json.loads(read_small(self.path) or b"null")
            return data
        except (OSError, ValueError):
            return None

    def release(self) -> None:
        if self._conn is not None:
            _HELD.discard(self._socket)
            try:
                self._conn.execute("SELECT pg_advisory_unlock(%s)", (self._key,))
            except Exception:  # a session the server lost holds no lock any more
                pass
            finally:
                self._conn.close()
                self._conn = None
        if self._fd is not None:
            _HELD.discard(self._fd)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
