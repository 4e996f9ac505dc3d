"""The lab's TCP proxy as its own process: forwards, cuts, repoints (no PostgreSQL needed)."""

from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator import pgbin
from orchestrator.providers.lab import procs, proxy


class Echo(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, tag: bytes) -> None:
        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                while data := self.request.recv(1024):
                    self.request.sendall(tag + data)

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def port(self) -> int:
        return int(self.server_address[1])


@pytest.fixture
def running(tmp_path: Path) -> Iterator[tuple[int, int, Echo, Echo]]:
    a, b = Echo(b"a:"), Echo(b"b:")
    port, control = pgbin.free_port(), pgbin.free_port()
    pid, ticks = procs.spawn_python(
        "orchestrator.providers.lab.proxy",
        ["--name", "t", "--port", str(port), "--control", str(control), "--target", str(a.port)],
        tmp_path / "proxy.log",
    )
    procs.wait_port(control, pid, ticks, "proxy", tmp_path / "proxy.log")
    try:
        yield port, control, a, b
    finally:
        procs.terminate(pid, ticks, grace_s=1)
        a.shutdown()
        b.shutdown()


def _closed(sock: socket.socket) -> bool:
    """The peer closed (FIN) or reset (RST) the connection."""
    try:
        return sock.recv(1024) == b""
    except ConnectionResetError:
        return True


def _ask(sock: socket.socket, msg: bytes) -> bytes:
    sock.sendall(msg)
    return sock.recv(1024)


def test_forwards_and_repoints_dropping_old_connections(
    running: tuple[int, int, Echo, Echo],
) -> None:
    port, control, _a, b = running
    old = socket.create_connection(("127.0.0.1", port), timeout=5)
    assert _ask(old, b"x") == b"a:x"
    settings = proxy.control(control, op="set", target=b.port)
    assert settings["target"] == b.port
    assert _closed(old)  # the old connection was dropped, as a failover does
    with socket.create_connection(("127.0.0.1", port), timeout=5) as new:
        assert _ask(new, b"y") == b"b:y"


def test_cut_refuses_until_restored(running: tuple[int, int, Echo, Echo]) -> None:
    port, control, _a, _b = running
    proxy.control(control, op="set", cut=True)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        assert _closed(s)  # closed at once: no answer on the server's behalf
    proxy.control(control, op="set", cut=False)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        assert _ask(s, b"z") == b"a:z"
    assert proxy.control(control, op="get")["cut"] is False
