"""The loopback test both the lab and the AWS emulator guard rely on."""

from __future__ import annotations

import pytest

from orchestrator.netguard import is_loopback_host


@pytest.mark.parametrize("host", ["127.0.0.1", "127.5.6.7", "::1", "localhost"])
def test_loopback_hosts_pass(host: str) -> None:
    assert is_loopback_host(host)


@pytest.mark.parametrize(
    "host", ["10.0.1.5", "192.168.1.1", "127.attacker.example", "", "db.internal", "0.0.0.0"]
)
def test_everything_else_is_refused(host: str) -> None:
    assert not is_loopback_host(host)


def test_socket_directories_only_when_allowed() -> None:
    assert is_loopback_host("/var/run/postgresql", sockets=True)
    assert not is_loopback_host("/var/run/postgresql")
