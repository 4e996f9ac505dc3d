"""Loopback only, for the test process: a connect, a datagram or a name lookup that would
leave 127.0.0.0/8 is refused, and the test during which it happened fails.

Why both: the refusal stops the traffic before it is sent (a name lookup would ask the
resolver in /etc/resolv.conf, which on this machine is a 10.x address), and since the
code under test may swallow the error (botocore treats an unreachable endpoint as "no
credentials here" and moves on), the test is failed afterwards as well.

The Python processes the tests start (drill, chaos, the moto server, the lab's
controller) install it too, through tests/childguard/sitecustomize.py: their refusals go
to the file named by ``LOOPBACK_GUARD_LOG``, which the test process reads after each
test. Other programs (PostgreSQL, Chromium) and C libraries such as libpq are covered by
the strace audit (scripts/loopback-audit, docs/loopback-audit.md).
"""

from __future__ import annotations

import ipaddress
import os
import socket
import sys
import threading
from collections.abc import Callable
from typing import Any

_LOCAL_NAMES = frozenset({"localhost", "localhost.", ""})
"""Names a lookup may ask for: resolved from /etc/hosts, or the wildcard of a bind."""

LOG_ENV = "LOOPBACK_GUARD_LOG"
"""Names the file the guarded subprocesses append their refusals to, a line each."""
violations: list[str] = []
"""What was refused, oldest first; tests/conftest.py fails the test that caused it."""
_lock = threading.Lock()
_saved: dict[tuple[object, str], Any] = {}
_log: str | None = None
_reported = 0  # of violations, by new_refusals()
_log_read = 0  # bytes of the subprocesses' log, by new_refusals()


def is_loopback(host: object) -> bool:
    """Is ``host`` a numeric loopback address (127.0.0.0/8, ::1, ::ffff:127.x.y.z)?"""
    if not isinstance(host, str):
        return False
    try:
        addr = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped.is_loopback
    return addr.is_loopback


def _lookup_is_local(host: object) -> bool:
    """A name lookup that needs no resolver: a numeric address (of any kind: binds
    and parsing ask for those) or localhost."""
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    if host.lower() in _LOCAL_NAMES:
        return True
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


def _refuse(what: str) -> str:
    message = f"loopback only: refused {what} (tests/sockguard.py)"
    with _lock:
        violations.append(message)
        if _log is not None:
            line = f"{message} in pid {os.getpid()}: {' '.join(sys.argv)}"[:1000]
            with open(_log, "a", encoding="utf-8") as log:  # one short append: atomic
                log.write(line.replace("\n", " ") + "\n")
    return message


def new_refusals() -> list[str]:
    """What this process refused, then what the guarded subprocesses logged, since the
    last call."""
    global _reported, _log_read
    with _lock:
        fresh, _reported = violations[_reported:], len(violations)
    path = os.environ.get(LOG_ENV)
    if path and os.path.exists(path):
        with open(path, "rb") as log:
            log.seek(_log_read)
            data = log.read()
        _log_read += len(data)
        fresh += data.decode("utf-8", "replace").splitlines()
    return fresh


def _inet_target(sock: socket.socket, address: object) -> object | None:
    """The host an AF_INET/AF_INET6 address names; None for other families."""
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return None
    if isinstance(address, tuple) and address:
        host = address[0]
        return host.decode("ascii", "replace") if isinstance(host, bytes) else host
    return address


def _guard_connect(real: Callable[..., Any]) -> Callable[..., Any]:
    def connect(self: socket.socket, address: Any) -> Any:
        host = _inet_target(self, address)
        if host is not None and not is_loopback(host):
            raise ConnectionRefusedError(_refuse(f"connect to {address!r}"))
        return real(self, address)

    return connect


def _guard_sendto(real: Callable[..., Any]) -> Callable[..., Any]:
    def sendto(self: socket.socket, data: Any, *args: Any) -> Any:
        host = _inet_target(self, args[-1])
        if host is not None and not is_loopback(host):
            raise ConnectionRefusedError(_refuse(f"datagram to {args[-1]!r}"))
        return real(self, data, *args)

    return sendto


def _guard_lookup(real: Callable[..., Any]) -> Callable[..., Any]:
    def lookup(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not _lookup_is_local(host):
            raise socket.gaierror(socket.EAI_NONAME, _refuse(f"name lookup of {host!r}"))
        return real(host, *args, **kwargs)

    return lookup


_GUARDS: list[tuple[object, str, Callable[[Callable[..., Any]], Callable[..., Any]]]] = [
    (socket.socket, "connect", _guard_connect),
    (socket.socket, "connect_ex", _guard_connect),
    (socket.socket, "sendto", _guard_sendto),
    (socket, "getaddrinfo", _guard_lookup),
    (socket, "gethostbyname", _guard_lookup),
    (socket, "gethostbyname_ex", _guard_lookup),
]


def install(log: str | None = None) -> None:
    """Guard this process's sockets and lookups (idempotent); with ``log``, also append
    each refusal to that file (a subprocess's, for the test process to read)."""
    global _log
    _log = log
    for owner, name, guard in _GUARDS:
        if (owner, name) not in _saved:
            _saved[(owner, name)] = getattr(owner, name)
            setattr(owner, name, guard(_saved[(owner, name)]))


def uninstall() -> None:
    """Put the real functions back."""
    for (owner, name), real in _saved.items():
        setattr(owner, name, real)
    _saved.clear()
