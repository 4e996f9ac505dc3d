"""The shape of a new evidence store's schema — tables, columns with their types,
nullability and defaults, primary and foreign keys, unique constraints, indexes — as
plain data, to compare across migration changes on SQLite and PostgreSQL.

tests/integration/test_store_migrations.py checks a new store against
``tests/fixtures/evidence_schema/DIALECT.json``. A revision that changes the schema of a
new store on purpose regenerates them (and the diff is reviewed)::

    .venv/bin/python -m tests.schemadump
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import sqlalchemy as sa

SNAPSHOTS = Path(__file__).resolve().parent / "fixtures" / "evidence_schema"


def describe(conn: sa.Connection) -> dict[str, Any]:
    """Every table but Alembic's own, sorted, as JSON-ready lists."""
    insp = sa.inspect(conn)
    tables: dict[str, Any] = {}
    for name in sorted(set(insp.get_table_names()) - {"alembic_version"}):
        tables[name] = {
            "columns": [
                [c["name"], str(c["type"]), c["nullable"], c.get("default")]
                for c in insp.get_columns(name)
            ],
            "primary_key": insp.get_pk_constraint(name)["constrained_columns"],
            "foreign_keys": sorted(
                [fk["constrained_columns"], fk["referred_table"], fk["referred_columns"]]
                for fk in insp.get_foreign_keys(name)
            ),
            "unique": sorted(
                [u["name"], u["column_names"]] for u in insp.get_unique_constraints(name)
            ),
            "indexes": sorted(
                [i["name"], i["column_names"], bool(i["unique"])] for i in insp.get_indexes(name)
            ),
        }
    return tables


def snapshot(url: str) -> dict[str, Any]:
    """The schema of a new store at ``url`` (created, migrated, described)."""
    from orchestrator.evidence.store import EvidenceStore

    store = EvidenceStore(url)
    try:
        with store.engine.connect() as conn:
            return describe(conn)
    finally:
        store.dispose()


def _json(shape: dict[str, Any]) -> str:
    """JSON with one column, key or index a line, so a change reads as a small diff."""
    tables = []
    for table, parts in shape.items():
        items = [
            f"  {json.dumps(k)}: ["
            + ",".join(f"\n   {json.dumps(x)}" for x in v)
            + ("\n  ]" if v else "]")
            for k, v in parts.items()
        ]
        tables.append(f" {json.dumps(table)}: {{\n" + ",\n".join(items) + "\n }")
    return "{\n" + ",\n".join(tables) + "\n}\n"


def main() -> None:
    from tests.pgserver import PgServer

    SNAPSHOTS.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        shapes = {"sqlite": snapshot(f"sqlite:///{tmp}/evidence.db")}
    server = PgServer().start()
    try:
        shapes["postgresql"] = snapshot(server.create_database())
    finally:
        server.stop()
    for dialect, shape in shapes.items():
        (SNAPSHOTS / f"{dialect}.json").write_text(_json(shape))


if __name__ == "__main__":
    main()
