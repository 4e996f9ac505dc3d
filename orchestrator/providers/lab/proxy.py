"""A controllable TCP proxy: the database endpoint, the global endpoint, the region link.

Run as ``python -m orchestrator.providers.lab.proxy --name N --port P --control C
[--target PORT]``. It forwards bytes and never answers on the server's behalf, so a
client sees a real outage: with no target or a cut link new connections are closed at
once; an upstream that refuses makes the client's connection close; a hung upstream
hangs the client. Repointing drops existing connections (as a DNS change plus an RDS
failover would) so clients reconnect to the new target.

Control channel (one JSON object per line on 127.0.0.1:C): ``{"op": "get"}`` or
``{"op": "set", "target": PORT|null, "cut": bool, "latency_ms": int,
"bandwidth_kbps": int|null, "drop": bool}``; the reply is the proxy's settings.
Latency is added per chunk with a delivery queue, so it delays without capping
throughput; bandwidth throttles by sleeping bytes/rate after each chunk.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import socket
import time
from typing import Any

HOST = "127.0.0.1"


class Proxy:
    def __init__(self, name: str, target: int | None) -> None:
        self.name = name
        self.target = target
        self.cut = False
        self.latency_ms = 0
        self.bandwidth_kbps: int | None = None
        self.conns: set[asyncio.StreamWriter] = set()

    def settings(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "target": self.target,
            "cut": self.cut,
            "latency_ms": self.latency_ms,
            "bandwidth_kbps": self.bandwidth_kbps,
            "connections": len(self.conns) // 2,
        }

    def drop_all(self) -> None:
        for w in list(self.conns):
            w.transport.abort()
        self.conns.clear()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        target = self.target
        if self.cut or target is None:
            writer.transport.abort()
            return
        try:
            up_r, up_w = await asyncio.wait_for(asyncio.open_connection(HOST, target), 2.0)
        except (OSError, TimeoutError):
            writer.transport.abort()
            return
        for w in (writer, up_w):
            sock = w.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.conns.update((writer, up_w))
        try:
            await asyncio.gather(self.pipe(reader, up_w), self.pipe(up_r, writer))
        finally:
            for w in (writer, up_w):
                self.conns.discard(w)
                w.transport.abort()

    async def pipe(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                due, data = await queue.get()
                if not data:
                    return
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                dst.write(data)
                await dst.drain()
                if self.bandwidth_kbps:
                    await asyncio.sleep(len(data) / (self.bandwidth_kbps * 125.0))

        task = asyncio.create_task(deliver())
        try:
            while True:
                data = await src.read(65536)
                queue.put_nowait((time.monotonic() + self.latency_ms / 1000.0, data))
                if not data:
                    break
            await task
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            task.cancel()
            dst.transport.abort()

    async def control(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                msg = json.loads(line)
                if msg.get("op") == "set":
                    self.apply(msg)
                writer.write((json.dumps(self.settings()) + "\n").encode())
                await writer.drain()
        except (OSError, ValueError):
            pass
        finally:
            writer.close()

    def apply(self, msg: dict[str, Any]) -> None:
        moved = "target" in msg and msg["target"] != self.target
        if "target" in msg:
            self.target = int(msg["target"]) if msg["target"] is not None else None
        if "cut" in msg:
            self.cut = bool(msg["cut"])
        if "latency_ms" in msg:
            self.latency_ms = int(msg["latency_ms"])
        if "bandwidth_kbps" in msg:
            self.bandwidth_kbps = msg["bandwidth_kbps"] or None
        if moved or self.cut or msg.get("drop"):
            self.drop_all()


def control(port: int, timeout: float = 3.0, **msg: Any) -> dict[str, Any]:
    """Send one control message to a proxy; return its settings afterwards."""
    from orchestrator.errors import LabError
    from orchestrator.providers.lab import journal

    if msg.get("op") == "set":
        journal.note("proxy", "set")

    try:
        with socket.create_connection((HOST, port), timeout=timeout) as s:
            s.sendall((json.dumps(msg) + "\n").encode())
            buf = b""
            while not buf.endswith(b"\n"):
                chunk = s.recv(4096)
                if not chunk:
                    break
                buf += chunk
    except OSError as exc:
        raise LabError(
            f"proxy control on 127.0.0.1:{port} unreachable: {exc}",
            "is the lab running? see `drill lab status`",
        ) from None
    reply: dict[str, Any] = json.loads(buf or b"{}")
    return reply


async def serve(name: str, port: int, control_port: int, target: int | None) -> None:
    proxy = Proxy(name, target)
    data = await asyncio.start_server(proxy.handle, HOST, port, backlog=512)
    ctl = await asyncio.start_server(proxy.control, HOST, control_port)
    async with data, ctl:
        await asyncio.gather(data.serve_forever(), ctl.serve_forever())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--name", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--control", type=int, required=True)
    p.add_argument("--target", type=int, default=None)
    a = p.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(a.name, a.port, a.control, a.target))


if __name__ == "__main__":
    main()
