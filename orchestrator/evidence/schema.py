"""Imports every module that defines evidence tables, so metadata is complete.

A feature adding tables (scheduling, game days…) adds its module here
and an Alembic revision under ``migrations/versions``.
"""

import orchestrator.evidence.models
import orchestrator.evidence.tables
import orchestrator.schedule.models  # noqa: F401
