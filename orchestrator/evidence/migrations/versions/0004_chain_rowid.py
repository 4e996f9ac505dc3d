"""baseline: the schema of the released version, created directly

Revision ID: 0004_chain_rowid
Revises:
Create Date: 2026-11-30 18:40:00

One revision in place of 0001_initial, 0002_chain, 0003_schedule and 0004_chain_rowid,
which never shipped apart. It keeps the id stores of the released version are stamped
with, so they upgrade from here unchanged; a store stamped with one of the three others
is refused by :meth:`orchestrator.evidence.store.EvidenceStore.migrate`, with what to do.

A new store gets exactly the tables, columns, types, indexes and constraints those four
created, except ``evidence_chain``, the old hash chain: 0005_event_journal converts it where it
exists and drops it, so a new store never needs it.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0004_chain_rowid"
down_revision = None
branch_labels = None
depends_on = None

#: A table per unindented line (continued on indented ones): its name, then its columns
#: in order as ``name:type`` (a letter of ``_TYPES``; ``t`` holds naive UTC) with flags
#: ``?`` nullable, ``^`` indexed, ``!`` unique index, ``>table`` references table.id.
#: ``id`` is the primary key.
_SCHEMA = """
environment id:i name:s! provider:s protected:b created_at:t
run id:s target:s^ target_kind:s env:s^ mode:s status:s^ trigger:s who:s host:s pid:i
  started_at:t^ ended_at:t? exit_code:i? definition_hashes:j? git_commit:s? approved_by:s?
  abort_requested:b error:s? schedule_id:s? gameday_id:s?
approval id:i run_id:s^>run env:s approved_by:s at:t reason:s
scenario_run id:i run_id:s^>run seq:i scenario_id:s ref:s kind:s status:s started_at:t
  ended_at:t? fault_injected_at:t? service_restored_at:t? rto_s:f? rpo_s:f? lost_writes:i?
  objective_rto_s:f? objective_rpo_s:f? met:b? notes:j?
artifact id:i run_id:s^>run scenario_run_id:i?>scenario_run name:s media_type:s sha256:s
  size:i content:x created_at:t
finding id:i run_id:s?^>run scenario_run_id:i?>scenario_run kind:s severity:s title:s
  detail:s? corrective_action:s? status:s owner:s? due_date:s? resolution:s? created_at:t
  closed_at:t? drill:s? env:s?
measurement id:i run_id:s^>run scenario_run_id:i?>scenario_run name:s value:f? unit:s
  method:s interval_s:f? error_bound_s:f? objective:f? met:b? details:j?
probe_series id:i run_id:s^>run scenario_run_id:i?>scenario_run probe:s interval_s:f
  started_at:t samples:i encoding:s data:x
step_run id:i run_id:s^>run scenario_run_id:i?>scenario_run seq:i phase:s name:s kind:s
  action:s? args:j? status:s started_at:t? ended_at:t? output:j? error:s? rollback_of:i?
  attempts:i
timeline_event id:i run_id:s^>run scenario_run_id:i?>scenario_run at:t kind:s message:s
  data:j?
apscheduler_jobs id:u next_run_time:d?^ job_state:x
gameday id:s title:s scheduled_for:t^ timezone:s env:s drills:j participants:j notify:j?
  announce_before_s:f status:s approved_by:s? runbooks:j? runbooks_dir:s? run_ids:j?
  summary:j? announced_at:t? started_at:t? ended_at:t? created_by:s created_at:t
notify_endpoint id:i owner:s^ url:s
schedule id:s target:s^ env:s action:s kind:s expr:s timezone:s start_at:t approved_by:s?
  source:s created_by:s created_at:t removed_at:t? removed_by:s?
schedule_fire id:i schedule_id:s^ target:s^ env:s scheduled_at:t claimed_at:t claimed_by:s
  status:s reason:s? launched_run_id:s?^ exit_code:i? ended_at:t? lag_s:f?
scheduler_instance id:s host:s pid:i started_at:t heartbeat_at:t stopped_at:t? state:s
  fires:i health_url:s?
"""
#: ``u`` and ``d`` are APScheduler's own choices for its job table.
_TYPES: dict[str, sa.types.TypeEngine[Any]] = {
    "s": sa.String(),
    "i": sa.Integer(),
    "f": sa.Float(),
    "b": sa.Boolean(),
    "t": sa.DateTime(),
    "j": sa.JSON(),
    "x": sa.LargeBinary(),
    "u": sa.Unicode(191),
    "d": sa.Float(25),
}


def _tables() -> dict[str, list[str]]:
    tables: dict[str, list[str]] = {}
    for line in _SCHEMA.strip().splitlines():
        if not line.startswith(" "):
            name, _, line = line.partition(" ")
            tables[name] = []
        tables[name] += line.split()
    return tables


def upgrade() -> None:
    for name, spec in _tables().items():
        columns: list[sa.schema.SchemaItem] = []
        indexes: list[tuple[str, bool]] = []
        for item in spec:
            col, kind = item.split(":")
            flags, _, ref = kind[1:].partition(">")
            keys = [sa.ForeignKey(f"{ref}.id")] if ref else []
            columns.append(
                sa.Column(
                    col, _TYPES[kind[0]], *keys, primary_key=col == "id", nullable="?" in flags
                )
            )
            if "^" in flags or "!" in flags:
                indexes.append((col, "!" in flags))
        if name == "schedule_fire":
            columns.append(
                sa.UniqueConstraint("schedule_id", "scheduled_at", name="uq_schedule_fire_once")
            )
        op.create_table(name, *columns)
        for col, unique in sorted(indexes):  # alphabetical, as the four revisions made them
            op.create_index(f"ix_{name}_{col}", name, [col], unique=unique)


def downgrade() -> None:
    for name in reversed(_tables()):
        op.drop_table(name)
