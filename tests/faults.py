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
    """Undo ``touch``; each play appends a line to ``PATH.rolled-back`` (replays count)."""
    Path(path).unlink(missing_ok=True)
    with open(path + ".rolled-back", "a") as fh:
        fh.write("rolled back\n")
    return True


def hold_until(path: str, release: str) -> bool:
    """Say "I am here" (``path``), then block until ``release`` exists: a test holds an
    activity exactly as long as it needs, with no sleep picking the moment."""
    Path(path).write_text("holding\n")
    while not Path(release).exists():
        time.sleep(0.02)
    return True


def touch_when(path: str, started: str, release: str) -> bool:
    """A slow fault: say it started (``started``), wait for ``release``, then inject it
    (``path``) and say it is done (``PATH.done``) — a fault that lands late, as a python
    activity or a lab operation in progress does after a stop."""
    Path(started).write_text("started\n")
    while not Path(release).exists():
        time.sleep(0.02)
    touch(path)
    Path(path + ".done").write_text("done\n")
    return True


def fail(message: str = "boom") -> bool:
    raise RuntimeError(message)


def pause(seconds: float = 30.0) -> bool:
    time.sleep(seconds)
    return True


def exists(path: str) -> bool:
    return Path(path).exists()


def fill(path: str) -> bool:
    """Fill the file system holding ``path`` (a real "disk full": ENOSPC)."""
    chunk = b"\0" * 65536
    try:
        with open(path, "ab") as fh:
            while True:
                fh.write(chunk)
                fh.flush()
    except OSError:
        return True


def remove_with_key(path: str, password: str) -> bool:
    """A rollback that needs a secret: it only undoes the fault given the right one
    (the file ``PATH.key`` holds it) — so a test sees that recovery had the real value."""
    if password != Path(path + ".key").read_text():
        raise RuntimeError("wrong password for the rollback")
    return remove(path)


def raise_error(kind: str = "ValueError", message: str = "boom") -> bool:
    """An exception that is neither drill's nor chaoslib's ActivityFailed: a bug in an
    activity (``kind``: a builtin exception class name)."""
    import builtins

    raise getattr(builtins, kind)(message)


def reject_undecodable(directory: str) -> bool:
    """Fail on a file whose name is not UTF-8, naming it as ``os.listdir`` gives it (a lone
    surrogate in the text of the message)."""
    import os

    name = os.fsdecode(b"report-\xff.csv")
    raise ValueError(f"unexpected file in {directory}: {name}")


class LibraryStop(BaseException):
    """A library's own exception that is not an ``Exception`` (as gevent's, trio's
    Cancelled or a test framework's Failed are): ``except Exception`` lets it through."""


def raise_base(kind: str = "LibraryStop", message: str = "stopped") -> bool:
    """Raise a ``BaseException`` that is not an ``Exception``: ``GeneratorExit``, a
    ``KeyboardInterrupt`` the activity raises itself, or :class:`LibraryStop`."""
    import builtins

    raise (LibraryStop if kind == "LibraryStop" else getattr(builtins, kind))(message)


def damage(path: str) -> bool:
    """Overwrite the head of an SQLite file, of its WAL and of its shared index: every
    later read and write fails ("file is not a database"), as a store damaged under a
    running drill does."""
    for name in (path, path + "-wal", path + "-shm"):
        target = Path(name)
        if target.exists():
            with open(target, "r+b") as fh:
                fh.write(b"\xff" * min(4096, target.stat().st_size))
    return True


def stop_postgres(data: str) -> bool:
    """Stop a PostgreSQL server at once (``pg_ctl -m immediate``): its clients lose it."""
    from orchestrator import pgbin

    pgbin.run([pgbin.tool("pg_ctl"), "-D", data, "-m", "immediate", "stop"])
    return True


def interrupt() -> bool:
    """Ctrl-C, sent by the run to itself at this very step: an abort at a known point."""
    import os
    import signal

    os.kill(os.getpid(), signal.SIGINT)
    return True


def _idle() -> None:
    """A background worker: off drill's output (a reader of it waits for its end), for an
    hour."""
    import os

    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    time.sleep(3600)


def start_worker(pidfile: str) -> int:
    """Start a background worker (``multiprocessing``, forked without exec: a load
    generator an activity leaves running) and return; its pid is written to ``pidfile``.
    It lives until it is killed."""
    import multiprocessing

    worker = multiprocessing.get_context("fork").Process(target=_idle)
    worker.start()
    Path(pidfile).write_text(str(worker.pid))
    return worker.pid or 0


def fork() -> bool:
    """``os.fork()`` with no exec, returning in both processes (a library that forks
    a worker and lets the copy return by mistake)."""
    import os

    os.fork()
    return True


def silence() -> bool:
    """Replace ``sys.stdout`` and ``sys.stderr`` for good, as a library silencing its
    output may."""
    import os
    import sys

    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - kept open: that is the point
    sys.stderr = open(os.devnull, "w")  # noqa: SIM115
    return True


def close_std() -> bool:
    """Close stdout and stderr of the whole process, as a library that daemonizes may."""
    import os

    os.close(1)
    os.close(2)
    return True


def chdir(path: str) -> bool:
    """Change the working directory of the whole process, as a library may."""
    import os

    os.chdir(path)
    return True


def reset_signals() -> bool:
    """What a library may do as it is loaded or set up (a server SDK, a CLI's main): put
    SIGTERM back to its default and SIGINT to Python's KeyboardInterrupt."""
    import signal

    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    return True


def signal_in_gc(sig: str = "SIGTERM") -> bool:
    """Send ``sig`` to this process from inside a weakref callback run by the garbage
    collector: a handler that stops work by raising loses that raise there ("Exception
    ignored in …"), as when a real signal lands in a library's clean-up."""
    import gc
    import os
    import signal
    import weakref

    class Thing:
        pass

    thing = Thing()
    ref = weakref.ref(thing, lambda _ref: os.kill(os.getpid(), signal.Signals[sig]))
    del thing
    gc.collect()
    return ref() is None


def nested(levels: int = 5000) -> dict[str, object]:
    """A mapping nested ``levels`` deep (a parsed tree, a linked structure)."""
    top: dict[str, object] = {}
    inner = top
    for _ in range(levels):
        child: dict[str, object] = {}
        inner["a"] = child
        inner = child
    return top
