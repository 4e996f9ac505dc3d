"""free_port hands out loopback ports that outgoing connections cannot take meanwhile."""

from __future__ import annotations

import socket

import pytest

from orchestrator import pgbin


def test_ports_are_below_the_ephemeral_range_distinct_and_bindable() -> None:
    low, _ = pgbin._ephemeral_range()
    ports = [pgbin.free_port() for _ in range(50)]
    assert len(set(ports)) == len(ports)
    assert all(1024 <= p < low for p in ports)
    for port in ports[:5]:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", port))


def test_a_port_in_use_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        picks = iter([taken, taken, 20001])

        class Picks:
            def randrange(self, low: int, high: int) -> int:
                return next(picks)

        monkeypatch.setattr(pgbin.random, "Random", Picks)
        monkeypatch.setattr(pgbin, "_HANDED_OUT", set())
        assert pgbin.free_port() == 20001
