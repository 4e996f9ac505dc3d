"""The probes: one attempt each, raising on failure, never hanging.

Registered by kind (``tcp``, ``sql``, ``http``, ``dataset``) so an observer is
assembled from names. Every attempt is bounded: psycopg's ``connect_timeout`` for
the connection (libpq's minimum is 2 s, so the probe loop additionally declares an
attempt failed at its own, shorter deadline), a server-side ``statement_timeout``,
and a client-side watchdog that shuts the socket down if the server stops answering
mid-query (a SIGSTOPped server never fires its own timeout). HTTP uses
``http.client`` directly so no ``*_proxy`` variable can send a probe elsewhere.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from orchestrator.errors import first_line
from orchestrator.measure.ledger import CREATE_TABLE, HEARTBEAT_TABLE, Ledger
from orchestrator.registry import Registry


class ProbeFailed(Exception):
    """One attempt failed; the message is kept (deduplicated) in the series."""


class Probe(Protocol):
    name: str

    def attempt(self) -> None:
        """One probe attempt; raise on failure."""


def dsn_host_port(dsn: str) -> tuple[str, int]:
    from psycopg.conninfo import conninfo_to_dict

    params = conninfo_to_dict(dsn)
    return str(params.get("host") or "127.0.0.1"), int(params.get("port") or 5432)


@contextmanager
def pg_connect(dsn: str, deadline_s: float) -> Iterator[Any]:
    """A short-lived autocommit connection whose socket is cut at the deadline."""
    import psycopg

    stmt_ms = max(100, int(deadline_s * 1000))
    try:
        conn = psycopg.connect(
            dsn,
            autocommit=True,
            connect_timeout=max(2, int(deadline_s)),
            options=f"-c statement_timeout={stmt_ms}",
        )
    except psycopg.Error as exc:
        raise ProbeFailed(_short(exc)) from None
    watchdog = threading.Timer(deadline_s, _cut, (conn,))
    watchdog.daemon = True
    watchdog.start()
    try:
        yield conn
    except psycopg.Error as exc:
        raise ProbeFailed(_short(exc)) from None
    finally:
        watchdog.cancel()
        with contextlib.suppress(Exception):  # closing a broken connection may fail
            conn.close()


def _cut(conn: Any) -> None:
    """Shut the connection's socket down so a blocked query returns with an error."""
    try:
        sock = socket.socket(fileno=socket.dup(conn.fileno()))
    except Exception:
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    finally:
        sock.close()


def _short(exc: BaseException) -> str:
    return first_line(exc)[:160]


@dataclass
class TcpProbe:
    """TCP connect to the endpoint: the listener (proxy / DNS target) answers."""

    name: str
    target: str
    deadline_s: float

    def attempt(self) -> None:
        host, port = dsn_host_port(self.target)
        try:
            with socket.create_connection((host, port), timeout=self.deadline_s):
                pass
        except OSError as exc:
            raise ProbeFailed(f"tcp: {exc.strerror or exc}") from None


@dataclass
class HeartbeatProbe:
    """SQL write + read through the endpoint; every acknowledged write goes to the ledger."""

    name: str
    target: str
    deadline_s: float
    ledger: Ledger

    def ensure_table(self) -> None:
        with pg_connect(self.target, max(self.deadline_s, 5.0)) as conn:
            conn.execute(CREATE_TABLE)

    def attempt(self) -> None:
        seq = self.ledger.next_seq()
        with pg_connect(self.target, self.deadline_s) as conn:
            sent = time.time()
            try:
                conn.execute(
                    f"INSERT INTO {HEARTBEAT_TABLE} (writer, seq, client_ts) VALUES (%s, %s, %s)",
                    (self.ledger.writer, seq, sent),
                )
            except Exception:
                # the INSERT (autocommit: its COMMIT) may or may not have happened
                self.ledger.indeterminate(seq)
                raise
            self.ledger.acked(seq, sent, time.time())
            row = conn.execute(
                f"SELECT seq FROM {HEARTBEAT_TABLE} WHERE writer = %s AND seq = %s",
                (self.ledger.writer, seq),
            ).fetchone()
            if row is None:
                raise ProbeFailed("sql: acknowledged write not readable")


@dataclass
class DatasetProbe:
    """The known dataset is readable (used on restored instances)."""

    name: str
    target: str
    deadline_s: float
    table: str = "drill_dataset"

    def attempt(self) -> None:
        with pg_connect(self.target, self.deadline_s) as conn:
            conn.execute(f"SELECT count(*) FROM {self.table}").fetchone()


@dataclass
class HttpProbe:
    """HTTP GET through the load balancer / global endpoint: 2xx or 3xx is healthy."""

    name: str
    target: str
    deadline_s: float

    def attempt(self) -> None:
        import http.client

        url = urlsplit(self.target)
        conn = http.client.HTTPConnection(
            url.hostname or "127.0.0.1", url.port or 80, timeout=self.deadline_s
        )
        try:
            conn.request("GET", url.path or "/")
            status = conn.getresponse().status
        except (OSError, http.client.HTTPException) as exc:
            raise ProbeFailed(f"http: {_short(exc)}") from None
        finally:
            conn.close()
        if not 200 <= status < 400:
            raise ProbeFailed(f"http: status {status}")


ProbeFactory = Callable[..., Probe]
PROBES: Registry[ProbeFactory] = Registry("probe")
PROBES.register("tcp", TcpProbe)
PROBES.register("sql", HeartbeatProbe)
PROBES.register("dataset", DatasetProbe)
PROBES.register("http", HttpProbe)
