"""Run one piece of CPU-bound work in a forked process (the evidence export renders its
reports there; ``verify`` hashes part of the tables there): on a 2-core machine this
halves the wall time of the big cases. Nothing but the result is pickled — the child
inherits its input — and the child never touches the parent's database connections.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def in_child(work: Callable[[], T], parallel: bool = True) -> Callable[[], T]:
    """Start ``work`` in a forked child (POSIX) and return a function that waits for its
    result; without fork, or when not ``parallel``, run it here. The child inherits its
    input (only the result is pickled), must not use the parent's database connections
    (open its own) and leaves with ``os._exit``; an error in it is raised here.

    Call the returned function exactly once, also when the parent fails meanwhile
    (``try/finally``): it reaps the child."""
    if not parallel or not hasattr(os, "fork"):
        result = work()
        return lambda: result
    import pickle

    rfd, wfd = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        os.close(rfd)
        os.close(wfd)
        result = work()
        return lambda: result
    if pid == 0:  # child
        code = 0
        try:
            os.close(rfd)
            try:
                payload = pickle.dumps((True, work()), protocol=pickle.HIGHEST_PROTOCOL)
            except BaseException as exc:
                payload = pickle.dumps((False, f"{exc.__class__.__name__}: {exc}"))
            with os.fdopen(wfd, "wb") as pipe:
                pipe.write(payload)
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    os.close(wfd)

    def wait() -> T:
        with os.fdopen(rfd, "rb") as pipe:
            payload = pipe.read()
        os.waitpid(pid, 0)
        if not payload:
            raise RuntimeError("the worker process died")
        ok, value = pickle.loads(payload)
        if not ok:
            raise RuntimeError(f"the worker process failed: {value}")
        return value
    return wait


class WorkQueue:
    """Item numbers ``0…n-1`` that a process and its forked workers take one at a time,
    first come, first served — so whichever runs faster does more (the machine may slow
    one down, an estimate may be off), and both finish within about one item of each
    other.

    A pipe filled before the fork: a read of 4 bytes from a pipe is atomic, and once the
    numbers run out every reader sees end-of-file. Create it before :func:`in_child`;
    close it after the worker is reaped.
    """

    _MAX_ITEMS = 4096  # 16 KiB: well inside a pipe's buffer, so filling it never blocks

    def __init__(self, n: int) -> None:
        import struct

        if not 0 <= n <= self._MAX_ITEMS:
            raise ValueError(f"a WorkQueue holds at most {self._MAX_ITEMS} items, not {n}")
        self._rfd, wfd = os.pipe()
        try:
            data = b"".join(struct.pack("<I", i) for i in range(n))
            while data:
                data = data[os.write(wfd, data):]
        finally:
            os.close(wfd)

    def take(self) -> int | None:
        """The next item's number, or None when none are left."""
        data = os.read(self._rfd, 4)
        return int.from_bytes(data, "little") if len(data) == 4 else None

    def drain(self) -> None:
        """Take every item left (the workers stop after their current one)."""
        while self.take() is not None:
            pass

    def close(self) -> None:
        os.close(self._rfd)
