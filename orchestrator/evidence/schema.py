"""Imports every module that defines evidence tables, so metadata is complete.

A feature adding tables (scheduling, hash chain, game days…) adds its module here
and an Alembic revision under ``migrations/versions``.
"""

import orchestrator.evidence.chain
import orchestrator.evidence.models
import orchestrator.schedule.models  # noqa: F401
