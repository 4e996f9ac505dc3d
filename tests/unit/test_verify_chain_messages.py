"""What `python3 journal/verify_chain.py` tells an auditor about a broken journal piece.

Every failure read "line N: does not chain to the line before or its hash does not
recompute": the auditor could not tell a changed event from a removed or moved line.
It now says which event and which of the two, in words.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from orchestrator.evidence import journal, verify_chain


def _piece(n: int) -> list[str]:
    """``n`` events as ``journal/events.jsonl`` holds them, from the journal's start."""
    lines, prev = [], journal.GENESIS
    for seq in range(1, n + 1):
        ev = journal.event("run.update", "r-1", "r-1", "2026-12-01T00:00:00.000000Z", {"n": seq})
        digest = journal.link(prev, ev)
        lines.append(
            json.dumps(
                {"seq": seq, "prev": prev, "hash": digest, "event": ev.decode()},
                separators=(",", ":"),
            )
        )
        prev = digest
    return lines


def _check(tmp_path: Path, lines: list[str]) -> tuple[int, str]:
    """The bundle's script, run as an auditor runs it: from the unpacked bundle."""
    (tmp_path / "journal").mkdir(parents=True)
    shutil.copy(verify_chain.__file__, tmp_path / "journal" / "verify_chain.py")
    (tmp_path / "journal" / "events.jsonl").write_text("\n".join([*lines, ""]))
    proc = subprocess.run(
        [sys.executable, "journal/verify_chain.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return proc.returncode, proc.stdout.strip()


def _changed(lines: list[str]) -> list[str]:
    e = json.loads(lines[2])
    e["event"] = e["event"].replace('"n":3', '"n":4')
    return [*lines[:2], json.dumps(e, separators=(",", ":")), *lines[3:]]


def _rehashed(lines: list[str]) -> list[str]:
    """Event #3 changed and its hash recomputed: it recomputes, #4 no longer names it."""
    e = json.loads(_changed(lines)[2])
    e["hash"] = journal.link(e["prev"], e["event"].encode())
    return [*lines[:2], json.dumps(e, separators=(",", ":")), *lines[3:]]


@pytest.mark.parametrize(
    ("tamper", "said"),
    [
        (
            _changed,
            "line 3: event #3: its hash does not recompute (the event or its hash was changed)",
        ),
        (
            lambda lines: lines[:2] + lines[3:],
            "line 3: event #4 follows event #2: events are missing or out of order",
        ),
        (
            lambda lines: [lines[0], lines[2], lines[1], *lines[3:]],
            "line 2: event #3 follows event #1: events are missing or out of order",
        ),
        (
            _rehashed,
            "line 4: event #4: its prev is not the hash of event #3 on the line before "
            "(lines removed, added or reordered)",
        ),
        (
            lambda lines: [*lines[:1], "{}", *lines[1:]],
            'line 2: not an event line {"seq", "prev", "hash", "event"} as drill writes it',
        ),
        (  # 'event #2 follows event #2: events are out of order' said nothing of a repeat
            lambda lines: [*lines[:2], lines[1], *lines[2:]],
            "line 3: event #2 again, on the line after itself (a line repeated)",
        ),
    ],
)
def test_a_broken_piece_is_named_in_words(
    tmp_path: Path, tamper: Callable[[list[str]], list[str]], said: str
) -> None:
    lines = _piece(5)
    (tmp_path / "intact").mkdir()
    assert _check(tmp_path / "intact", lines) == (
        0,
        f"OK: 5 events chain from {'0' * 64} "
        f"to #5 {json.loads(lines[-1])['hash']}; 0 run journals are part of it",
    )
    code, out = _check(tmp_path / "tampered", tamper(lines))
    assert code == 1 and out == f"FAILED: journal/events.jsonl {said}", out
