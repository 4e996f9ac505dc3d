"""Test-only fault hook: drill stops itself at a named point of its own work.

Crash safety cannot be tested by killing drill "at about the right moment": a sleep
picks a different moment on every machine. Instead the engine, the recovery and the
lab call :func:`crashpoint` at each boundary that matters (before and after every
step, inside every rollback, at each stage of ``lab up``, during recovery), and the
crash-test suite names one of them:

    DRILL_TEST_CRASH_AT="POINT[@N][=ACTION]"

``POINT`` is an :mod:`fnmatch` pattern over the point names (``step:az-loss:3:end``,
``rollback:db.reprotect:start``, ``lab:build:servers``…); ``ACTION`` is ``kill``
(SIGKILL, the default: nothing of drill runs afterwards), ``int`` / ``term`` (the
signal, handled as an operator's Ctrl-C or ``kill`` would be) or ``raise`` (an
exception that is not drill's own, as a bug would raise); ``@N`` picks the Nth time a
matching point is reached (default: the first). The hook fires once per process and
says so on stderr first, so a test can tell that its point was reached.
Unset — always, outside tests — it costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal
import sys
from fnmatch import fnmatchcase

ENV = "DRILL_TEST_CRASH_AT"
_fired: list[str] = []
_hits: list[str] = []


class InjectedFault(RuntimeError):
    """What ``=raise`` raises: deliberately not a DrillError (an "internal error")."""


def crashpoint(name: str) -> None:
    """Stop here if the test hook names this point (see the module docstring)."""
    spec = os.environ.get(ENV)
    if not spec or _fired:
        return
    where, _, action = spec.partition("=")
    pattern, _, nth = where.partition("@")
    if not fnmatchcase(name, pattern):
        return
    _hits.append(name)
    if len(_hits) < int(nth or 1):
        return
    _fired.append(name)
    action = action or "kill"
    sys.stderr.write(f"drill: test hook: {action} at {name}\n")
    sys.stderr.flush()
    if action == "raise":
        raise InjectedFault(f"injected fault at {name}")
    sig = {
        "kill": signal.SIGKILL,
        "int": signal.SIGINT,
        "term": signal.SIGTERM,
        "hup": signal.SIGHUP,
    }.get(action)
    if sig is None:
        raise InjectedFault(f"{ENV}: unknown action {action!r} (kill, int, term, hup, raise)")
    os.kill(os.getpid(), sig)
