"""Loopback only, for the test process: a connect, a datagram or a name lookup that would
leave 127.0.0.0/8 is refused, and the test during which it happened fails.

Why both: the refusal stops the traffic before it is sent (a name lookup would ask the
resolver in /etc/resolv.conf, which on this machine is a 10.x address), and since the
code under test may swallow the error (botocore treats an unreachable endpoint as "no
credentials here" and moves on), the test is failed afterwards as well.

Only this Python process is covered: the servers and CLIs the tests start as
subprocesses, and C libraries such as libpq, are covered by the strace audit
(tools/loopback_audit.sh, docs/loopback-audit.md).
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Callable
from typing import Any

_LOCAL_NAMES = frozenset({"localhost", "localhost.", ""})
"""Names a lookup may ask for: resolved from /etc/hosts, or the wildcard of a bind."""

violations: list[str] = []
"""What was refused, oldest first; tests/conftest.py fails the test that caused it."""
_lock = threading.Lock()
_saved: dict[tuple[object, str], Any] = {}


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
    return message


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


def install() -> None:
    """Guard this process's sockets and lookups (idempotent)."""
    for owner, name, guard in _GUARDS:
        if (owner, name) not in _saved:
            _saved[(owner, name)] = getattr(owner, name)
            setattr(owner, name, guard(_saved[(owner, name)]))


def uninstall() -> None:
    """Put the real functions back."""
    for (owner, name), real in _saved.items():
        setattr(owner, name, real)
    _saved.clear()
