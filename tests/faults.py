"""Real, small faults for engine tests: files that appear and must be cleaned up.

Used as Chaos Toolkit python activities (``module: tests.faults``) by test
experiments and runbooks. A "fault" leaves a marker file behind; its rollback
removes it — so a test can see on disk whether rollbacks really ran.
"""

from __future__ import annotations

import time
from pathlib import Path


def touch(path: str) -> bool:
    Path(path).write_text("fault injected\n")
    return True


def remove(path: str) -> bool:
    Path(path).unlink(missing_ok=True)
    Path(path + ".rolled-back").write_text("rolled back\n")
    return True


def fail(message: str = "boom") -> bool:
    raise RuntimeError(message)


def pause(seconds: float = 30.0) -> bool:
    time.sleep(seconds)
    return True


def exists(path: str) -> bool:
    return Path(path).exists()


def remove_with_key(path: str, password: str) -> bool:
    """A rollback that needs a secret: it only undoes the fault given the right one
    (the file ``PATH.key`` holds it) — so a test sees that recovery had the real value."""
    if password != Path(path + ".key").read_text():
        raise RuntimeError("wrong password for the rollback")
    return remove(path)
