"""The lab's known dataset and application tables.

``drill_dataset`` in database ``app`` is deterministic (row *i* holds ``md5(i)``), so it
can be re-created identically after a drop-table drill, and its fingerprint (row count
+ checksum over the ordered rows) recorded at ``lab up`` tells whether any copy —
the endpoint after a failover, a restored instance — holds exactly the same data.
"""

from __future__ import annotations

import re
from typing import Any

from orchestrator.config import LabTuning
from orchestrator.errors import LabError
from orchestrator.providers.lab import journal
from orchestrator.providers.lab.state import DATASET_TABLE, Dataset

DEFAULT_ROWS: int = LabTuning.model_fields["dataset_rows"].default  # one default
_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def ident(name: str) -> str:
    if not _IDENT.match(name):
        raise LabError(f"invalid table name {name!r}", "use a plain lower-case SQL identifier")
    return name


def _connect(dsn: str, timeout: float = 5.0) -> Any:
    import psycopg

    try:
        return psycopg.connect(dsn, connect_timeout=max(2, int(timeout)), autocommit=True)
    except psycopg.Error as exc:
        raise LabError(f"cannot connect ({dsn}): {str(exc).strip()}") from None


def create_app_schema(dsn: str, rows: int = DEFAULT_ROWS) -> None:
    """``app_events`` for the app instances, and the known dataset."""
    with _connect(dsn) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS app_events (id bigserial PRIMARY KEY, "
            "instance text NOT NULL, at timestamptz NOT NULL DEFAULT now())"
        )
    create_dataset(dsn, DATASET_TABLE, rows)


def create_dataset(dsn: str, table: str = DATASET_TABLE, rows: int = DEFAULT_ROWS) -> None:
    journal.note("table", "CREATE")
    t = ident(table)
    import psycopg

    try:
        with _connect(dsn) as conn, conn.transaction():
            conn.execute(f"CREATE TABLE {t} (id integer PRIMARY KEY, payload text NOT NULL)")
            conn.execute(
                f"INSERT INTO {t} SELECT i, md5(i::text) FROM generate_series(1, %s) AS i", (rows,)
            )
    except psycopg.Error as exc:
        raise LabError(f"cannot create {t}: {str(exc).strip()}") from None


def drop(dsn: str, table: str) -> None:
    journal.note("table", "DROP")
    import psycopg

    try:
        with _connect(dsn) as conn:
            conn.execute(f"DROP TABLE {ident(table)}")
    except psycopg.Error as exc:
        raise LabError(f"cannot drop {table}: {str(exc).strip()}") from None


def fingerprint(dsn: str, table: str = DATASET_TABLE, timeout: float = 5.0) -> Dataset:
    """Row count and md5 over the ordered rows of ``table`` at ``dsn``."""
    import psycopg

    t = ident(table)
    try:
        with _connect(dsn, timeout) as conn:
            row = conn.execute(
                f"SELECT count(*), coalesce(md5(string_agg("
                f"id::text || ':' || payload, ',' ORDER BY id)), '') "
                f"FROM {t}"
            ).fetchone()
    except psycopg.Error as exc:
        raise LabError(f"cannot read {t} ({dsn}): {str(exc).strip()}") from None
    assert row is not None
    return Dataset(rows=int(row[0]), checksum=str(row[1]))
