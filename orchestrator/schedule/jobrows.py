"""A job of drill's as its row of the job table holds it: plain JSON, never a pickle.

The job table (``apscheduler_jobs``) lives in the evidence database, which schedulers on
several machines share. APScheduler's own SQLAlchemy job store keeps each job pickled
there, and unpickling a row someone else wrote runs what they chose (``os.system`` and
its arguments is a pickle). drill's job store (:mod:`.aps`) keeps, in ``job_state``, only
what a job of a schedule is: its name and the schedule's trigger spec, as JSON::

    {"v": 1, "name": "run tiny@lab",
     "trigger": {"kind": "cron", "expr": "0 9 * * 1", "timezone": "Europe/Paris",
                 "start_at": "2030-01-07T09:00:00+00:00"}}

The row's ``id`` is the schedule's id and ``next_run_time`` (a UTC timestamp) its next
fire; what a fire runs is read from the ``schedule`` table (evidence) when it fires.
Everything else of the job (what it calls, misfire grace, coalescing, one at a time) is
the running service's. Standard library only: Alembic revision 0007 uses it too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

VERSION = 1
KINDS = ("cron", "interval", "date")


@dataclass(frozen=True)
class JobDoc:
    """What a job row holds; ``start_at`` is aware UTC (the interval's anchor)."""

    name: str
    kind: str
    expr: str
    timezone: str
    start_at: datetime

    def encode(self) -> bytes:
        return json.dumps(
            {
                "v": VERSION,
                "name": self.name,
                "trigger": {
                    "kind": self.kind,
                    "expr": self.expr,
                    "timezone": self.timezone,
                    "start_at": self.start_at.astimezone(UTC).isoformat(),
                },
            },
            sort_keys=True,
        ).encode()


def job_name(action: str, target: str, env: str) -> str:
    return f"{action} {target}@{env}"


def decode(raw: bytes) -> JobDoc:
    """A row's ``job_state`` back; ``ValueError`` saying what is wrong with anything else
    (a pickle, other JSON, a field of the wrong type)."""
    try:
        doc = json.loads(bytes(raw).decode())
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ValueError("not a job of drill's (JSON)") from None
    if not isinstance(doc, dict) or doc.get("v") != VERSION:
        raise ValueError(f"not a version {VERSION} job of drill's")
    trigger = doc.get("trigger")
    if not isinstance(trigger, dict):
        raise ValueError("job has no trigger")
    fields = [doc.get("name"), *(trigger.get(k) for k in ("kind", "expr", "timezone", "start_at"))]
    texts = [f for f in fields if isinstance(f, str) and f]
    if len(texts) != len(fields):
        raise ValueError("job fields must be non-empty strings")
    name, kind, expr, timezone, start = texts
    if kind not in KINDS:
        raise ValueError(f"unknown trigger kind {kind!r}")
    start_at = datetime.fromisoformat(start)
    if start_at.tzinfo is None:
        raise ValueError("trigger start_at has no time zone")
    return JobDoc(name, kind, expr, timezone, start_at.astimezone(UTC))
