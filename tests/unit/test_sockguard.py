"""The test process's loopback guard (tests/sockguard.py) refuses before anything is
sent: each check below hands the guard a recorder instead of the real socket call, so a
broken guard could not send traffic either. Addresses are from TEST-NET (RFC 5737)."""

from __future__ import annotations

import _socket
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import sockguard


@pytest.fixture
def calls() -> Iterator[list[tuple[Any, ...]]]:
    """What reached the 'real' call; the refusals the checks provoke are taken back
    so that the autouse guard fixture does not fail these tests for them."""
    assert sockguard.new_refusals() == []
    yield []
    sockguard.new_refusals()


def _recorder(calls: list[tuple[Any, ...]]) -> Any:
    return lambda *args, **kwargs: calls.append(args)


@pytest.mark.parametrize("family", [socket.AF_INET, socket.AF_INET6])
def test_a_connect_beyond_loopback_is_refused_and_recorded(
    family: socket.AddressFamily, calls: list[tuple[Any, ...]]
) -> None:
    target = ("192.0.2.1", 53) if family == socket.AF_INET else ("2001:db8::1", 53, 0, 0)
    connect = sockguard._guard_connect(_recorder(calls))
    with (
        socket.socket(family, socket.SOCK_DGRAM) as sock,
        pytest.raises(ConnectionRefusedError, match="loopback only"),
    ):
        connect(sock, target)
    assert calls == []
    assert repr(target) in sockguard.violations[-1]


def test_loopback_connects_and_other_families_pass(calls: list[tuple[Any, ...]]) -> None:
    connect = sockguard._guard_connect(_recorder(calls))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as v4:
        connect(v4, ("127.0.0.1", 9))
        connect(v4, ("127.45.6.7", 9))
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as v6:
        connect(v6, ("::1", 9, 0, 0))
        connect(v6, ("::ffff:127.0.0.1", 9, 0, 0))
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as unix:
        connect(unix, "/tmp/.s.PGSQL.5432")
    assert len(calls) == 5


def test_a_datagram_beyond_loopback_is_refused(calls: list[tuple[Any, ...]]) -> None:
    sendto = sockguard._guard_sendto(_recorder(calls))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        with pytest.raises(ConnectionRefusedError):
            sendto(sock, b"x", ("192.0.2.1", 53))
        with pytest.raises(ConnectionRefusedError):
            sendto(sock, b"x", 0, ("192.0.2.1", 53))
        sendto(sock, b"x", ("127.0.0.1", 9))
    assert len(calls) == 1


@pytest.mark.parametrize("name", ["db.example.com", "127.attacker.example", "metadata"])
def test_a_name_lookup_that_needs_a_resolver_is_refused(
    name: str, calls: list[tuple[Any, ...]]
) -> None:
    lookup = sockguard._guard_lookup(_recorder(calls))
    with pytest.raises(socket.gaierror, match="loopback only"):
        lookup(name, 443)
    assert calls == []


@pytest.mark.parametrize("host", [None, "", "localhost", "127.0.0.1", "::1", "0.0.0.0"])
def test_lookups_that_need_no_resolver_pass(host: str | None, calls: list[Any]) -> None:
    sockguard._guard_lookup(_recorder(calls))(host, 443)
    assert calls == [(host, 443)]


def test_the_guard_is_installed_in_the_test_process() -> None:
    assert socket.socket.connect is not _socket.socket.connect
    assert socket.socket.sendto is not _socket.socket.sendto
    assert socket.getaddrinfo is not _socket.getaddrinfo


CHILD = """
import _socket, socket, sys
if socket.getaddrinfo is _socket.getaddrinfo:  # unguarded: try nothing
    sys.exit(3)
try:
    socket.getaddrinfo("db.example.invalid", 443)
except socket.gaierror as exc:
    print(exc)
"""


def test_a_python_subprocess_is_guarded_and_its_refusal_reported(tmp_path: Path) -> None:
    """A Python process started by a test inherits the guard (tests/childguard), and
    what it refuses reaches the test process."""
    assert sockguard.new_refusals() == []
    proc = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, cwd=tmp_path, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert "loopback only" in proc.stdout
    refused = sockguard.new_refusals()
    assert len(refused) == 1
    assert "name lookup of 'db.example.invalid'" in refused[0]
