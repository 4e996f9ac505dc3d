"""The newest journal head this machine has seen, kept outside the evidence database.

Why: the chain proves every event from the first to the head, but the database alone
cannot tell a journal whose newest events were cut off together with their rows — or an
older copy of the database put back — from one that never had them. So drill remembers,
per journal, the newest event it appended or verified (``journal-heads.json`` in the
state directory), and verify requires that event to still be there, unchanged.

A journal is known by the hash of its first event: a new database is a new journal, not
a cut one. Each entry also names the database it was seen at (a digest of its location:
no password in the file), and the newest entry of a location is the journal drill last
saw there: a database there that is empty now, or whose first event is another (the
journal rewritten from its start, every hash recomputed), has lost it. drill writing a
new journal there itself makes that one the journal of the location. The file is best
effort (a state directory that cannot be written never fails a write) and may lag behind
the database, never run ahead of it: each entry names an event that was committed before
it was written.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orchestrator.evidence.writer import EvidenceDB

FILE = "journal-heads.json"
_KEEP = 20  # journals remembered (new databases in the same state directory)


def _read(path: Path) -> tuple[dict[str, Any], str | None]:
    """The file's journals (``{}`` if none can be read), and why it cannot serve as this
    machine's witness (unreadable, not JSON, not an object of journals) or None: sound,
    or not there (nothing seen yet)."""
    from orchestrator.smallfiles import read_small

    try:
        text = read_small(path)
    except FileNotFoundError:
        return {}, None
    except OSError as exc:
        return {}, f"cannot be read ({exc.strerror or exc})"
    try:
        doc = json.loads(text.decode("utf-8"))
    except UnicodeDecodeError:
        return {}, "is not text (binary bytes)"
    except ValueError as exc:
        return {}, f"is not JSON ({exc})"
    if not isinstance(doc, dict):
        return {}, "is not drill's record of journal heads (a JSON object of journals)"
    if not all(isinstance(v, dict) for v in doc.values()):
        return doc, "is not drill's record of journal heads (a JSON object of journals)"
    return doc, None


def _load(path: Path) -> dict[str, Any]:
    return _read(path)[0]


def damaged(path: Path) -> str | None:
    """Why the file at ``path`` cannot serve as this machine's witness, or None (see
    :func:`_read`). A damaged file is never written over (:func:`remember`): what it held
    may be the only record of a journal's tail, and verify says the tail check could not
    be made."""
    return _read(path)[1]


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


def location(url: str) -> str:
    """The database a URL names, as a digest: a SQLite file by its absolute path, a
    server's database by its URL without the password."""
    if url.startswith("sqlite:///"):
        where = str(Path(url.split("sqlite:///", 1)[1]).resolve())
    else:
        where = re.sub(r"^([^:/]+://[^:@/]*):[^@/]*@", r"\1@", url)
    return hashlib.sha256(where.encode("utf-8", "surrogateescape")).hexdigest()[:32]


def remember(path: Path, first: str, seq: int, digest: str, at: str, db: str) -> None:
    """Remember event ``seq`` (committed) as the newest seen of journal ``first``, seen at
    the database whose :func:`location` is ``db`` (the newest journal seen there)."""
    doc, problem = _read(path)
    if problem is not None:
        return  # kept as it is for a human to look at: verify names it
    try:
        old = doc.pop(first, None)
        if isinstance(old, dict) and isinstance(old.get("seq"), int) and old["seq"] >= seq:
            seq, digest, at = old["seq"], str(old.get("hash")), str(old.get("at", at))
            if old.get("db") == db:  # nothing new: the file stays as it is
                return
        doc[first] = {"seq": seq, "hash": digest, "at": at, "db": db}
        keep = dict(list(doc.items())[-_KEEP:])
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(keep, indent=1), encoding="utf-8")
        tmp.replace(path)
    except OSError:
        return


def last_at(path: Path, db: str) -> tuple[str, tuple[int, str, str]] | None:
    """(first hash, (seq, hash, when)) of the journal drill saw last at location ``db``."""
    for first, entry in reversed(_load(path).items()):
        if isinstance(entry, dict) and entry.get("db") == db:
            found = seen(path, first)
            return None if found is None else (first, found)
    return None


def anchor(db: EvidenceDB) -> tuple[int, str, str] | None:
    """What verify must find of ``db``'s journal: the newest event remembered for it; or,
    when drill last saw another journal at this database (it is empty now, or its first
    event is another), that journal's newest event, which is not there."""
    if db.witness is None:
        return None
    first = db.first_hash()
    last = last_at(db.witness, location(db.url))
    if last is not None and last[0] != first:
        seq, digest, at = last[1]
        return (
            seq,
            digest,
            f"drill on this machine last saw a journal here whose newest event was this "
            f"one ({at}); the journal here now is {'empty' if first is None else 'another'}:"
            " the database was emptied, replaced by another, or rewritten from its first "
            f"event (if that was on purpose, its evidence is lost: delete {db.witness} to "
            "accept that)",
        )
    found = seen(db.witness, first) if first else None
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
