"""The heartbeat ledger: every commit the database acknowledged, kept on the client.

The heartbeat writer numbers its rows monotonically (``seq``) and records here the
client time at which each commit was acknowledged. After recovery, the rows that
survived on the new primary / replica / restored instance are compared with this
ledger: an acknowledged row that is missing is a lost write, counted exactly.

Commits whose outcome is unknown (the connection broke after COMMIT was sent) are
kept apart as *indeterminate*: they are not promised to the client, so they are
not lost writes if missing, and are reported if they survived.
"""

from __future__ import annotations

import json
import threading
import zlib

from orchestrator.measure.compute import Ack

HEARTBEAT_TABLE = "drill_heartbeat"
CREATE_TABLE = (
    f"CREATE TABLE IF NOT EXISTS {HEARTBEAT_TABLE} ("
    "writer text NOT NULL, seq bigint NOT NULL, client_ts double precision NOT NULL, "
    "PRIMARY KEY (writer, seq))"
)


class Ledger:
    """Thread-safe record of acknowledged (and indeterminate) heartbeat commits."""

    def __init__(self, writer: str) -> None:
        self.writer = writer
        self._lock = threading.Lock()
        self._next = 0
        self._acks: list[Ack] = []
        self._indeterminate: set[int] = set()

    def next_seq(self) -> int:
        with self._lock:
            self._next += 1
            return self._next

    def acked(self, seq: int, sent_at: float, acked_at: float) -> None:
        with self._lock:
            self._acks.append(Ack(seq, sent_at, acked_at))

    def indeterminate(self, seq: int) -> None:
        with self._lock:
            self._indeterminate.add(seq)

    def acks(self) -> list[Ack]:
        with self._lock:
            return sorted(self._acks, key=lambda a: a.acked_at)

    def indeterminate_seqs(self) -> set[int]:
        with self._lock:
            return set(self._indeterminate)

    def __len__(self) -> int:
        with self._lock:
            return len(self._acks)

    def encode(self) -> bytes:
        """Compact form stored as evidence (probe series ``heartbeat-ledger``)."""
        acks = self.acks()
        t0 = acks[0].sent_at if acks else 0.0
        doc = {
            "writer": self.writer,
            "t0": t0,
            "seq": [a.seq for a in acks],
            "sent_us": [round((a.sent_at - t0) * 1e6) for a in acks],
            "acked_us": [round((a.acked_at - t0) * 1e6) for a in acks],
            "indeterminate": sorted(self.indeterminate_seqs()),
        }
        return zlib.compress(json.dumps(doc, separators=(",", ":")).encode(), 9)


def decode_ledger(data: bytes) -> tuple[str, list[Ack], set[int]]:
    """(writer, acks, indeterminate seqs) from :meth:`Ledger.encode` output."""
    doc = json.loads(zlib.decompress(data))
    t0 = float(doc["t0"])
    acks = [
        Ack(seq, t0 + s / 1e6, t0 + a / 1e6)
        for seq, s, a in zip(doc["seq"], doc["sent_us"], doc["acked_us"], strict=True)
    ]
    return str(doc["writer"]), acks, set(doc["indeterminate"])
