"""Run one piece of CPU-bound work in a forked process (the evidence export renders its
HTML and PDF reports there while it writes the other files): on a 2-core machine this
takes ~1.5 s off a quarter's export. Nothing but the result is pickled — the child
inherits its input — and the child never touches the parent's database connections.

Only a process with one thread forks: a fork copies the locks other threads hold at that
moment (an import under way, a log or stream write, a template cache) and the child, in
which those threads do not exist, waits for them forever. ``drill serve`` builds an
export in a worker thread beside the event loop's: there the work is done in-process.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from contextlib import suppress
from typing import TypeVar

T = TypeVar("T")


def in_child(work: Callable[[], T], parallel: bool = True) -> Callable[[], T]:
    """Start ``work`` in a forked child (POSIX) and return a function that waits for its
    result; without fork, when not ``parallel``, or when this process has other threads
    (the child could wait forever on a lock one of them held), run it here. The child
    inherits its input (only the result is pickled), must not use the parent's database
    connections (open its own) and leaves with ``os._exit``; an error in it is raised here (a Ctrl-C
    in it as KeyboardInterrupt, so the command says "interrupted", not that it failed).

    Call the returned function exactly once, also when the parent fails meanwhile
    (``try/finally``): it reaps the child."""
    if not parallel or not hasattr(os, "fork") or threading.active_count() > 1:
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
                payload = pickle.dumps(("ok", work()), protocol=pickle.HIGHEST_PROTOCOL)
            except KeyboardInterrupt:  # Ctrl-C reaches the whole process group
                payload = pickle.dumps(("interrupted", None))
            except BaseException as exc:
                payload = pickle.dumps(("failed", f"{exc.__class__.__name__}: {exc}"))
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
        outcome, value = pickle.loads(payload)
        if outcome == "interrupted":
            raise KeyboardInterrupt
        if outcome != "ok":
            raise RuntimeError(f"the worker process failed: {value}")
        return value

    return wait


def abandon(wait: Callable[[], object]) -> None:
    """Reap the child of ``wait`` for a parent that is failing: the parent's exception is
    the one to tell (after a Ctrl-C both were interrupted), not what the child says."""
    with suppress(Exception, KeyboardInterrupt):
        wait()
