"""A throwaway real PostgreSQL server for tests (loopback only).

Used for the PostgreSQL evidence-store tests, the scheduler HA test and anything
else that needs a real server. When ``DRILL_TEST_PG_DSN`` is set (as `.ci/run` does
after starting one) that server is used instead of starting a new one.
"""

from __future__ import annotations

import shutil
import tempfile
import time
import uuid
from pathlib import Path

from orchestrator import pgbin


class PgServer:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="drill-pgtest-"))
        self.data = self.dir / "data"
        self.port = pgbin.free_port()
        self.user = "drill"

    def start(self) -> PgServer:
        self.dir.chmod(0o755)
        pgbin.hand_over(self.dir)
        pwfile = self.dir / "pw"
        pwfile.write_text("drill\n")
        pgbin.hand_over(pwfile)
        pgbin.run(
            [
                pgbin.tool("initdb"),
                "-D",
                str(self.data),
                "-U",
                self.user,
                "-A",
                "trust",
                "--no-sync",
                "-E",
                "UTF8",
            ]
        )
        sock = self.dir / "sock"
        sock.mkdir()
        pgbin.hand_over(sock)
        pgbin.run(
            [
                pgbin.tool("pg_ctl"),
                "-D",
                str(self.data),
                "-w",
                "-t",
                "60",
                "-l",
                str(self.dir / "log"),
                "-o",
                f"-p {self.port} -c listen_addresses=127.0.0.1 -k {sock} -c fsync=off "
                "-c max_connections=200",
                "start",
            ]
        )
        return self

    def dsn(self, dbname: str = "postgres") -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{dbname}"

    def create_database(self) -> str:
        return create_database(self.dsn())

    def halt(self) -> None:
        """Shut the server down (its data stays): a restart's first half."""
        pgbin.run([pgbin.tool("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"])

    def resume(self) -> None:
        """Start a halted server again, on the same port and data."""
        opts = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.dir / 'sock'} -c fsync=off"
        log = str(self.dir / "log")
        pgbin.run(
            [pgbin.tool("pg_ctl"), "-D", str(self.data), "-w", "-l", log, "-o", opts, "start"]
        )

    def stop(self) -> None:
        pgbin.run(
            [pgbin.tool("pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"], check=False
        )
        time.sleep(0.1)
        shutil.rmtree(self.dir, ignore_errors=True)


def own_server() -> PgServer:
    """A server of the test's own (one it may stop), or skip when none can be started."""
    import pytest

    from orchestrator.errors import LabError

    try:
        pgbin.bindir()
    except LabError as exc:
        pytest.skip(f"PostgreSQL server not installed: {exc.message}")
    return PgServer().start()


def create_database(server_dsn: str) -> str:
    """A new, empty database on the server of ``server_dsn`` (SQLAlchemy URL); its URL.

    ``STRATEGY FILE_COPY`` (PostgreSQL 15+) copies the template's files instead of
    writing every page through the WAL: about 40 % faster, and the suite creates
    hundreds of these."""
    import psycopg

    name = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(_libpq(server_dsn), autocommit=True) as conn:
        info = conn.info.server_version
        strategy = " STRATEGY FILE_COPY" if info >= 150000 else ""
        conn.execute(f'CREATE DATABASE "{name}"{strategy}')
    return server_dsn.rsplit("/", 1)[0] + "/" + name


def drop_database(url: str) -> None:
    """Drop a database ``create_database`` made, once its test is done: keeps the
    session's server small (the data directory held 1+ GB by the end of a suite, and
    removing it took minutes on a busy disk). A test that left a connection open still
    gets its database dropped (``WITH (FORCE)``); a failure only leaves it for the end."""
    import psycopg

    server, name = url.rsplit("/", 1)
    try:
        with psycopg.connect(_libpq(server + "/postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    except psycopg.Error:
        pass


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")
