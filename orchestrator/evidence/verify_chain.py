#!/usr/bin/env python3
"""Recompute the hash chain of a drill evidence bundle — Python standard library only.

Run from the unpacked bundle: ``python3 journal/verify_chain.py``. It checks
``journal/events.jsonl`` (one ``{"seq", "prev", "hash", "event"}`` per line): each
``hash`` must equal ``sha256(prev + "\\n" + event)`` (the event's UTF-8 bytes), each
``prev`` the line before's ``hash``, each ``seq`` one more than the line before's; the
piece must begin and end where ``manifest.json`` says (``journal.head_before``,
``journal.last``: lines cut from either end still chain). Every ``journals/RUN_ID.json``
must hold only events of that chain. Exit 0 and print the first ``prev`` (the head before
the period) and the last hash; exit 1 naming the first problem.
drill runs this same code for ``drill evidence verify FILE.zip``.
"""

import hashlib
import json
import sys
from pathlib import Path


def link(prev, event):
    return hashlib.sha256(prev.encode() + b"\n" + event.encode()).hexdigest()


def check_chain(lines):
    """Lines of events.jsonl -> {(seq, hash)}, (head before, last seq, last hash)."""
    seen, prev, seq, first = set(), None, None, None
    for n, line in enumerate(lines, 1):
        try:
            e = json.loads(line)
            ok = (
                type(e["seq"]) is int
                and link(e["prev"], e["event"]) == e["hash"]
                and (prev is None or (e["prev"] == prev and e["seq"] == (seq or 0) + 1))
            )
        except (ValueError, KeyError, TypeError, AttributeError, UnicodeError):
            ok = False
        if not ok:
            raise ValueError(f"journal/events.jsonl line {n}: {why(line, prev, seq)}")
        first = e["prev"] if prev is None else first
        prev, seq = e["hash"], e["seq"]
        seen.add((seq, prev))
    return seen, (first if prev is not None else None, seq, prev)


def why(line, prev, seq):
    """What is wrong with a line that does not chain (``prev``, ``seq``: the hash and
    number of the line before, None for the first line), in words."""
    try:
        e = json.loads(line)
        this, digest = e["seq"], e["hash"]
        recomputes = link(e["prev"], e["event"]) == digest
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeError):
        return 'not an event line {"seq", "prev", "hash", "event"} as drill writes it'
    if type(this) is not int:
        return f"its seq {this!r} is not a number"
    if not recomputes:
        return f"event #{this}: its hash does not recompute (the event or its hash was changed)"
    if seq is None:  # (the first line chains to nothing: only its hash can be wrong)
        return f"event #{this}: does not chain"
    if this == seq:
        return f"event #{this} again, on the line after itself (a line repeated)"
    if this != seq + 1:
        return (
            f"event #{this} follows event #{seq}: events are missing or out of order"
            if this > seq
            else f"event #{this} follows event #{seq}: events are out of order"
        )
    return (
        f"event #{this}: its prev is not the hash of event #{seq} on the line before "
        "(lines removed, added or reordered)"
    )


def check_ends(manifest, seen, ends):
    """The piece (``seen``, ``ends`` as :func:`check_chain` returns them) begins right
    after ``journal.head_before`` of ``manifest`` (manifest.json) and ends with its
    ``journal.last``; a manifest that does not say (an older bundle's) is not checked."""
    piece = manifest.get("journal") if isinstance(manifest, dict) else None
    if not isinstance(piece, dict) or "head_before" not in piece or "last" not in piece:
        return
    first, seq, last = ends
    before, end = piece["head_before"], piece["last"]
    try:
        if before is None or end is None:
            if seen:
                raise ValueError(
                    "journal/events.jsonl holds events, but manifest.json says the period "
                    "holds none (journal.last is null)"
                )
            return
        if not seen:
            raise ValueError(
                f"journal/events.jsonl is empty, but manifest.json says it holds events "
                f"#{before['seq'] + 1} to #{end['seq']}"
            )
        begins = seq - len(seen) + 1  # (the chain checked: numbered without gaps)
        if (begins - 1, first) != (before["seq"], before["hash"]):
            raise ValueError(
                f"journal/events.jsonl begins with event #{begins}, but manifest.json says it "
                f"begins after event #{before['seq']} (journal.head_before): lines were removed "
                "from its start, or added before it"
            )
        if (seq, last) != (end["seq"], end["hash"]):
            raise ValueError(
                f"journal/events.jsonl ends with event #{seq}, but manifest.json says with "
                f"event #{end['seq']} (journal.last): lines were removed from its end, or "
                "added after it"
            )
    except (KeyError, TypeError):
        raise ValueError("manifest.json: its journal is not as drill writes it") from None


def check_run(name, doc, seen):
    """A journals/RUN_ID.json: every event in it recomputes and is in the chain."""
    events = doc.get("events", []) if isinstance(doc, dict) else None
    if not isinstance(events, list):
        raise ValueError(f"{name}: not a run journal (no list of events)")
    for e in events:
        try:
            ok = link(e["prev"], e["event"]) == e["hash"] and (e["seq"], e["hash"]) in seen
        except (KeyError, TypeError, AttributeError, UnicodeError):
            ok = False
        if not ok:
            seq = e.get("seq") if isinstance(e, dict) else None
            raise ValueError(f"{name}: event #{seq} is not in the verified chain")


def loads(name, text):
    """A JSON file of the bundle; a ValueError naming it if it is not JSON."""
    try:
        return json.loads(text)
    except ValueError:
        raise ValueError(f"{name}: not JSON") from None


def main(root):
    try:
        seen, (first, seq, last) = check_chain(
            (root / "journal" / "events.jsonl").read_text(encoding="utf-8").splitlines()
        )
        manifest = root / "manifest.json"
        if manifest.exists():
            doc = loads("manifest.json", manifest.read_text(encoding="utf-8"))
            check_ends(doc, seen, (first, seq, last))
        runs = sorted((root / "journals").glob("*.json"))
        for path in runs:
            name = f"journals/{path.name}"
            check_run(name, loads(name, path.read_text(encoding="utf-8")), seen)
    except (OSError, ValueError) as exc:
        print(f"FAILED: {exc}")
        return 1
    if not seen:
        print("OK: the period holds no events")
        return 0
    print(
        f"OK: {len(seen)} events chain from {first} to #{seq} {last}; "
        f"{len(runs)} run journals are part of it"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(__file__).resolve().parent.parent))
