"""Check the evidence hash chain against the database (``drill evidence verify``).

Two passes, both streaming so that a chain of millions of entries fits in memory
as one small tuple per record:

1. **Links**: entries must be numbered 1, 2, 3… without gaps, each ``prev`` must be
   the hash of the entry before, and each ``hash`` must recompute. This catches an
   entry changed, removed, inserted or moved (reordering changes ``seq``/``prev``).
2. **Records**: the newest entry of every record must carry the digest of the row
   the database holds now; a row with no entry was written outside drill; an entry
   whose row is gone (and that is not a ``delete``) means the row was removed.

The *first* broken record (lowest chain position) is the one named, since
everything after a tampered point is suspect anyway.

Not detectable from the database alone: removing the newest entries together with
their rows (a truncated tail). Export manifests carry the signed chain head; pass it
back with ``--head SEQ:HASH`` (or a bundle) to prove no tail was cut since.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from orchestrator.evidence.chain import (
    CHAIN_TABLE,
    GENESIS,
    chained_tables,
    link_hash,
    pk_string,
    row_digest,
)

_LAST = 1 << 62  # sort position of problems that have no chain entry


@dataclass(frozen=True)
class Break:
    """One problem, located by chain position and record."""

    seq: int | None
    table: str
    pk: str
    kind: str  # changed | deleted | unchained | link | gap | truncated
    detail: str

    def describe(self) -> str:
        where = f"chain entry #{self.seq}" if self.seq is not None else "no chain entry"
        return f"{self.table} {self.pk} ({where}): {self.detail}"

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "table": self.table, "pk": self.pk, "kind": self.kind,
                "detail": self.detail}


@dataclass
class VerifyReport:
    entries: int = 0
    records: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS
    breaks: list[Break] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.breaks

    @property
    def first(self) -> Break | None:
        return self.breaks[0] if self.breaks else None

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "entries": self.entries, "records": self.records,
                "head": {"seq": self.head_seq, "hash": self.head_hash},
                "first_break": self.first.to_dict() if self.first else None,
                "breaks": [b.to_dict() for b in self.breaks[:100]],
                "break_count": len(self.breaks)}


def _check_links(conn: sa.Connection, report: VerifyReport
                 ) -> dict[str, tuple[int, str, str]]:
    """Pass 1; returns the newest entry per record: key → (seq, op, digest)."""
    latest: dict[str, tuple[int, str, str]] = {}
    expected, prev = 1, GENESIS
    result = conn.execution_options(stream_results=True, yield_per=20000).exec_driver_sql(
        f"SELECT seq, table_name, pk, op, run_id, digest, at, prev, hash FROM {CHAIN_TABLE} "
        "ORDER BY seq")
    for seq, table, pk, op, run_id, digest, at, stored_prev, stored_hash in result:
        if seq != expected:
            report.breaks.append(Break(seq, table, pk, "gap", (
                f"chain entries #{expected} to #{seq - 1} are missing" if seq > expected
                else f"entry is out of order (expected #{expected})")))
        elif stored_prev != prev:
            report.breaks.append(Break(seq, table, pk, "link",
                                       "entry does not follow the one before it "
                                       "(entries removed, inserted or reordered)"))
        elif link_hash(seq, table, pk, op, run_id, digest, at, stored_prev) != stored_hash:
            report.breaks.append(Break(seq, table, pk, "link", "chain entry was altered"))
        expected, prev = seq + 1, stored_hash  # resynchronise to find later problems too
        latest[f"{table}\x00{pk}"] = (seq, op, digest)
    report.entries = expected - 1
    report.head_seq, report.head_hash = expected - 1, prev
    return latest


def _check_records(conn: sa.Connection, latest: dict[str, tuple[int, str, str]],
                   report: VerifyReport) -> None:
    inspector = sa.inspect(conn)
    for table in chained_tables():
        if not inspector.has_table(table.name):
            continue
        names = [c.name for c in table.columns]
        pk_idx = [names.index(c.name) for c in table.primary_key.columns]
        prefix = table.name + "\x00"
        stream = conn.execution_options(stream_results=True, yield_per=20000).execute(
            sa.select(table))
        for row in stream:
            report.records += 1
            pk = pk_string(row[i] for i in pk_idx)
            entry = latest.pop(prefix + pk, None)
            if entry is None:
                report.breaks.append(Break(None, table.name, pk, "unchained",
                                           "record is not in the chain (written outside "
                                           "drill)"))
                continue
            seq, op, digest = entry
            if op == "delete":
                report.breaks.append(Break(seq, table.name, pk, "changed",
                                           "record was deleted but is back"))
            elif row_digest(names, row) != digest:
                report.breaks.append(Break(seq, table.name, pk, "changed",
                                           "record was changed after it was chained"))
    for key, (seq, op, _digest) in latest.items():
        if op != "delete":
            table_name, pk = key.split("\x00", 1)
            report.breaks.append(Break(seq, table_name, pk, "deleted", "record was deleted"))


def verify_connection(conn: sa.Connection, anchor: tuple[int, str] | None = None
                      ) -> VerifyReport:
    """Verify links and records; ``anchor`` is a chain head known from an export."""
    report = VerifyReport()
    if not sa.inspect(conn).has_table(CHAIN_TABLE):
        report.breaks.append(Break(None, CHAIN_TABLE, "-", "gap", "the chain table is missing"))
        return report
    latest = _check_links(conn, report)
    _check_records(conn, latest, report)
    if anchor is not None:
        seq, expected_hash = anchor
        stored = conn.execute(sa.text(f"SELECT hash FROM {CHAIN_TABLE} WHERE seq = :s"),
                              {"s": seq}).scalar()
        if stored != expected_hash:
            report.breaks.append(Break(seq, CHAIN_TABLE, str(seq), "truncated",
                                       "the exported chain head is missing or different "
                                       "(entries removed from the end?)"))
    report.breaks.sort(key=lambda b: (b.seq if b.seq is not None else _LAST, b.table, b.pk))
    return report


def verify_store(store: Any, anchor: tuple[int, str] | None = None) -> VerifyReport:
    with store.engine.connect() as conn:
        return verify_connection(conn, anchor)


def verify_runs(conn: sa.Connection, run_ids: list[str], finding_ids: list[int]
                ) -> VerifyReport:
    """Verify only what an export contains: the records of ``run_ids`` (every chained
    table with a run column) and the run-less findings ``finding_ids``.

    Links are checked from the first entry of those records to the head — enough to
    vouch for them, since the signed manifest pins the head — and records are compared
    with their newest entries; an entry of one of these runs whose row is gone is a
    deletion. Cost grows with the size of the export and the age of the period, not
    with the whole database.
    """
    from orchestrator.evidence.chain import run_column

    report = VerifyReport()
    chunks = [run_ids[i:i + 900] for i in range(0, len(run_ids), 900)]
    start: int | None = None
    for chunk in chunks:
        low = conn.execute(sa.text(f"SELECT MIN(seq) FROM {CHAIN_TABLE} WHERE table_name = "
                                   "'run' AND pk IN :ids").bindparams(
                                       sa.bindparam("ids", expanding=True)),
                           {"ids": chunk}).scalar()
        if low is not None:
            start = low if start is None else min(start, low)
    if finding_ids:
        low = conn.execute(sa.text(f"SELECT MIN(seq) FROM {CHAIN_TABLE} WHERE table_name = "
                                   "'finding' AND pk IN :ids").bindparams(
                                       sa.bindparam("ids", expanding=True)),
                           {"ids": [str(i) for i in finding_ids]}).scalar()
        if low is not None:
            start = low if start is None else min(start, low)
    scope = set(run_ids)
    loose = {f"finding\x00{i}" for i in finding_ids}
    latest: dict[str, tuple[int, str, str]] = {}
    if start is not None:
        expected = start
        prev = str(conn.execute(sa.text(f"SELECT hash FROM {CHAIN_TABLE} WHERE seq = :s"),
                                {"s": start - 1}).scalar() if start > 1 else GENESIS)
        result = conn.execution_options(stream_results=True, yield_per=20000).execute(
            sa.text("SELECT seq, table_name, pk, op, run_id, digest, at, prev, hash FROM "
                    f"{CHAIN_TABLE} WHERE seq >= :s ORDER BY seq"), {"s": start})
        for seq, tname, pk, op, run_id, digest, at, stored_prev, stored_hash in result:
            if seq != expected:
                report.breaks.append(Break(seq, tname, pk, "gap", "chain entries missing"))
            elif stored_prev != prev:
                report.breaks.append(Break(seq, tname, pk, "link",
                                           "entry does not follow the one before it"))
            elif link_hash(seq, tname, pk, op, run_id, digest, at, stored_prev) != stored_hash:
                report.breaks.append(Break(seq, tname, pk, "link", "chain entry was altered"))
            expected, prev = seq + 1, stored_hash
            key = f"{tname}\x00{pk}"
            if run_id in scope or key in loose:
                latest[key] = (seq, op, digest)
        report.entries = expected - start
        report.head_seq, report.head_hash = expected - 1, prev
    for table in chained_tables():
        rcol = run_column(table)
        if rcol is None and table.name != "finding":
            continue
        names = [c.name for c in table.columns]
        pk_idx = [names.index(c.name) for c in table.primary_key.columns]
        queries = [sa.select(table).where(table.c[rcol].in_(c)) for c in chunks] if rcol else []
        if table.name == "finding" and finding_ids:
            queries.append(sa.select(table).where(table.c.id.in_(finding_ids)))
        for q in queries:
            for row in conn.execute(q):
                report.records += 1
                pk = pk_string(row[i] for i in pk_idx)
                entry = latest.pop(f"{table.name}\x00{pk}", None)
                if entry is None:
                    report.breaks.append(Break(None, table.name, pk, "unchained",
                                               "record is not in the chain"))
                elif entry[1] == "delete" or row_digest(names, row) != entry[2]:
                    report.breaks.append(Break(entry[0], table.name, pk, "changed",
                                               "record was changed after it was chained"))
    for key, (seq, op, _digest) in latest.items():
        if op != "delete":
            table_name, pk = key.split("\x00", 1)
            report.breaks.append(Break(seq, table_name, pk, "deleted", "record was deleted"))
    report.breaks.sort(key=lambda b: (b.seq if b.seq is not None else _LAST, b.table, b.pk))
    return report
