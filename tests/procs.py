"""The child processes of a process, from /proc (Linux): to check a forked worker is gone."""

from __future__ import annotations

import os
from pathlib import Path


def children(pid: int | None = None) -> set[int]:
    """Every child (zombies included, until reaped) of ``pid`` (this process)."""
    tasks = Path(f"/proc/{os.getpid() if pid is None else pid}/task")
    return {int(c) for t in tasks.iterdir() for c in (t / "children").read_text().split()}
