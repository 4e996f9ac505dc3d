"""The newest journal head this machine has seen, kept outside the evidence database.

Why: the chain proves every event from the first to the head, but the database alone
cannot tell a journal whose newest events were cut off together with their rows — or an
older copy of the database put back — from one that never had them. So drill remembers,
per journal, the newest event it appended or verified (``journal-heads.json`` in the
state directory), and verify requires that event to still be there, unchanged.

A journal is known by the hash of its first event: a new database is a new journal, not
a cut one. The file is best effort (a state directory that cannot be written never fails
a write) and may lag behind the database, never run ahead of it: each entry names an
event that was committed before it was written.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orchestrator.evidence.writer import EvidenceDB

FILE = "journal-heads.json"
_KEEP = 20  # journals remembered (new databases in the same state directory)


def _load(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def seen(path: Path, first: str) -> tuple[int, str, str] | None:
    """(seq, hash, when) of the newest event remembered for the journal whose first
    event hashes to ``first``, or None."""
    entry = _load(path).get(first)
    if not isinstance(entry, dict):
        return None
    try:
        return int(entry["seq"]), str(entry["hash"]), str(entry.get("at", ""))
    except (TypeError, KeyError, ValueError):
        return None


def remember(path: Path, first: str, seq: int, digest: str, at: str) -> None:
    """Remember event ``seq`` (committed) as the newest seen of journal ``first``."""
    try:
        doc = _load(path)
        old = doc.pop(first, None)
        if isinstance(old, dict) and isinstance(old.get("seq"), int) and old["seq"] >= seq:
            return
        doc[first] = {"seq": seq, "hash": digest, "at": at}
        keep = dict(list(doc.items())[-_KEEP:])
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(keep, indent=1), encoding="utf-8")
        tmp.replace(path)
    except OSError:
        return


def anchor(db: EvidenceDB) -> tuple[int, str, str] | None:
    """What verify must find of ``db``'s journal: the newest event remembered for it."""
    first = db.first_hash() if db.witness is not None else None
    found = seen(db.witness, first) if db.witness is not None and first else None
    if found is None:
        return None
    seq, digest, at = found
    return (
        seq,
        digest,
        (
            f"drill on this machine saw it as the newest event ({at}); it is "
            "missing or different now: events were cut from the end, or an "
            "older copy of the database was put back (if a backup was restored "
            f"on purpose, its later evidence is lost: delete {db.witness} to "
            "accept that)"
        ),
    )
