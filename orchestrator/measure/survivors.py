"""Read back which heartbeat rows survived, from wherever the data now lives.

That is the new primary behind the endpoint (failover, AZ loss), the promoted
replica (region promotion) or the restored instance (backup restore). The instance
may still be settling right after recovery, so connection errors are retried for a
few seconds; a missing heartbeat table is an answer (nothing survived), not an error.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from orchestrator.measure.ledger import HEARTBEAT_TABLE
from orchestrator.measure.probes import ProbeFailed, pg_connect


@dataclass
class Survivors:
    seqs: set[int] | None  # None: could not be read
    error: str | None = None
    table_missing: bool = False


class SurvivorCheck:
    def __init__(self, writer: str, dsn: str, deadline_s: float, retry_s: float = 15.0) -> None:
        self.writer, self.dsn = writer, dsn
        self.deadline_s = max(deadline_s, 5.0)
        self.retry_s = retry_s

    def surviving(self) -> Survivors:
        import psycopg

        end = time.monotonic() + self.retry_s
        last = "not tried"
        while True:
            try:
                with pg_connect(self.dsn, self.deadline_s) as conn:
                    try:
                        rows = conn.execute(
                            f"SELECT seq FROM {HEARTBEAT_TABLE} WHERE writer = %s", (self.writer,)
                        ).fetchall()
                    except psycopg.errors.UndefinedTable:
                        return Survivors(set(), table_missing=True)
                    return Survivors({int(r[0]) for r in rows})
            except ProbeFailed as exc:
                last = str(exc)
            if time.monotonic() >= end:
                return Survivors(None, f"surviving rows could not be read: {last}")
            time.sleep(0.2)
