"""Alembic environment: run migrations on the connection drill hands us.

Migrations are explicit ``op.*`` code. The only ORM metadata is the scheduler's
operational tables (:mod:`orchestrator.schedule.models`); the evidence tables are
declared as records (:mod:`orchestrator.evidence.records`), so autogenerate compares
only the tables that metadata declares and never proposes to drop the others.
"""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlmodel import SQLModel

import orchestrator.schedule.models  # noqa: F401  (declares the operational tables)

target_metadata = SQLModel.metadata


def _declared(obj: Any, name: str | None, type_: str, reflected: bool, _other: Any) -> bool:
    return not (type_ == "table" and reflected and name not in target_metadata.tables)


def _run(connection: Any) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        include_object=_declared,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is None:  # `alembic revision --autogenerate` from a shell
    from sqlalchemy import create_engine

    engine = create_engine(context.config.get_main_option("sqlalchemy.url") or "sqlite://")
    with engine.connect() as conn:
        _run(conn)
else:
    _run(connection)
