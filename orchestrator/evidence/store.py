"""The evidence database's SQLAlchemy side: automatic migrations, the scheduler's tables.

SQLite by default (WAL mode, so probes and the run engine can write concurrently),
PostgreSQL via ``postgresql+psycopg://``. Migrations are applied automatically on
open; to keep start-up fast, Alembic is only imported when the database's revision
differs from the newest one shipped.

Evidence is not written here: every journaled table is written and read through
:class:`~orchestrator.evidence.writer.EvidenceDB` (:attr:`EvidenceStore.db`). The engine
and :meth:`EvidenceStore.session` serve only what is not evidence — the scheduler's
heartbeats and webhook URLs (:mod:`orchestrator.schedule.models`) and APScheduler's
job store.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.errors import StoreUnavailable, first_line
from orchestrator.secrets import redact_text

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from sqlmodel import Session

    from orchestrator.evidence.writer import EvidenceDB

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


#: Development revisions folded into the baseline ``0004_chain_rowid`` or into
#: ``0005_event_journal``: no release stamped a store with them, and Alembic cannot
#: upgrade from an id it does not have.
SQUASHED = frozenset(
    {
        "0001_initial",
        "0002_chain",
        "0003_schedule",
        "0005_journal",
        "0006_journal_lean",
        "0006_schedule_run_args",
        "0007_run_target_started",
    }
)
#: The heads a store made by the development code before that fold is stamped with: it
#: has exactly the schema of ``0005_event_journal``, so it is stamped with that (and upgraded).
FOLDED_HEADS = frozenset({"0006_journal_lean", "0007_run_target_started"})


def _revisions() -> tuple[set[str], set[str]]:
    """(every revision, every revision something revises), read from the files."""
    revs: set[str] = set()
    downs: set[str] = set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        text = path.read_text(encoding="utf-8")
        rev = re.search(r"^revision\s*=\s*['\"]([^'\"]+)", text, re.M)
        down = re.search(r"^down_revision\s*=\s*(.+)$", text, re.M)
        if rev:
            revs.add(rev.group(1))
        if down:
            downs.update(re.findall(r"['\"]([^'\"]+)['\"]", down.group(1)))
    return revs, downs


def schema_heads() -> set[str]:
    """Revisions that nothing revises, read from the files (no Alembic import)."""
    revs, downs = _revisions()
    return revs - downs


def refuse_unknown(url: str, current: set[str]) -> None:
    """A revision we have no file for: say what to do (Alembic would only trace back)."""
    unknown = sorted(current - _revisions()[0])
    if not unknown:
        return
    where = f"evidence database {redact_text(url)} is at schema revision {unknown[0]}"
    if set(unknown) <= SQUASHED:
        raise StoreUnavailable(
            f"{where}, a development revision this drill cannot upgrade from",
            "open it with the drill that wrote it to read or export it (the previous "
            "release upgrades 0001-0003 to 0004_chain_rowid, which this one upgrades); "
            "record new evidence in a new evidence database",
        )
    raise StoreUnavailable(
        f"{where}, which this drill does not know",
        "open it with the (newer) drill that wrote it",
    )


class EvidenceStore:
    """Owns the SQLAlchemy engine for one evidence database (see the module docstring)."""

    def __init__(self, url: str, migrate: bool = True) -> None:
        self.url = url
        if migrate:
            self.migrate()

    @cached_property
    def engine(self) -> Engine:
        from sqlalchemy import create_engine, event

        kwargs: dict[str, Any] = {}
        if self.url.startswith("sqlite:///"):  # (drill.yaml refuses an in-memory one)
            Path(self.url.split("sqlite:///", 1)[1]).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
        else:
            kwargs["pool_pre_ping"] = True
            kwargs["connect_args"] = {"connect_timeout": 5}
        try:
            engine = create_engine(self.url, **kwargs)
        except Exception as exc:  # bad URL, missing driver
            raise StoreUnavailable(
                f"cannot use evidence database {redact_text(self.url)}: {exc}",
                "check `database:` in drill.yaml or DRILL_DATABASE",
            ) from None
        if self.url.startswith("sqlite"):

            @event.listens_for(engine, "connect")
            def _pragmas(dbapi_conn: Any, _record: Any) -> None:
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")
                cur.execute("PRAGMA foreign_keys=ON")
                cur.close()

        return engine

    @property
    def is_postgres(self) -> bool:
        return self.url.startswith("postgresql")

    def _current_revisions(self) -> set[str]:
        from sqlalchemy import inspect, text

        with self.engine.connect() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return set()
            return {row[0] for row in conn.execute(text("SELECT version_num FROM alembic_version"))}

    def _restamp_folded(self) -> set[str]:
        """A store of the development code stamped with :data:`FOLDED_HEADS` has the
        schema of ``0005_event_journal``: stamped with that, and upgraded from there."""
        from sqlalchemy import text

        with self.engine.begin() as conn:
            conn.execute(
                text(
                    "UPDATE alembic_version SET version_num = '0005_event_journal' "
                    "WHERE version_num = '0007_run_target_started'"
                )
            )
            conn.execute(
                text("DELETE FROM alembic_version WHERE version_num = '0006_journal_lean'")
            )
        return {"0005_event_journal"}

    def migrate(self) -> None:
        """Bring the schema to the newest revision (fast no-op when already there)."""
        from sqlalchemy.exc import OperationalError, SQLAlchemyError

        try:
            current = self._current_revisions()
            if current == schema_heads():
                return
            if current == FOLDED_HEADS:
                current = self._restamp_folded()
            refuse_unknown(self.url, current)
            if current:  # an existing database (a new one is created silently)
                print(
                    f"drill: upgrading the evidence database {redact_text(self.url)} to "
                    "the current schema (once; a large chain takes a few seconds)…",
                    file=sys.stderr,
                    flush=True,
                )
            from alembic import command
            from alembic.config import Config

            cfg = Config()
            cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
            with self.engine.begin() as conn:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "heads")
        except OperationalError as exc:
            raise StoreUnavailable(
                f"evidence database {redact_text(self.url)} is unreachable: "
                f"{first_line(exc.orig or exc)}",
                "start the database or fix `database:` in drill.yaml / DRILL_DATABASE",
            ) from None
        except SQLAlchemyError as exc:
            raise StoreUnavailable(
                f"evidence database {redact_text(self.url)} failed: {exc.__class__.__name__}: "
                f"{first_line(exc)}",
                "check the database URL and permissions",
            ) from None

    @cached_property
    def db(self) -> EvidenceDB:
        """The evidence writer/reader of this database (already migrated)."""
        from orchestrator.evidence.writer import EvidenceDB

        return EvidenceDB(self.url)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session over the operational tables that commits on success (one transaction
        per block). Not for evidence: that is :attr:`db`."""
        from sqlmodel import Session

        with Session(self.engine, expire_on_commit=False) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def add(self, *rows: Any) -> None:
        """Insert or update operational rows, committed at once."""
        with self.session() as s:
            for row in rows:
                s.add(row)

    def dispose(self) -> None:
        if "engine" in self.__dict__:
            self.engine.dispose()
        if "db" in self.__dict__:
            self.db.close()
