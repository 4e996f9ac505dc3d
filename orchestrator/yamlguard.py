"""Bounds on what drill reads as YAML or JSON, checked before anything is built from it.

Definitions and drill.yaml are small texts written by people, but drill reads them from
directories anyone on the team can write to, and ``validate``/``plan`` must stay safe on
whatever is there. So, before a parser builds a single object:

- only **regular files** are read (a FIFO would block forever, ``/dev/zero`` never ends),
  opened without blocking and never more than :data:`MAX_FILE_BYTES`;
- the text must be **UTF-8** without control characters (a NUL, an escape …): the error
  names the line;
- the YAML **event stream** is walked once (an iterative state machine in both parsers, so
  deep nesting cannot overflow the stack) to bound nesting depth and the number of
  values *after alias expansion* (a 500-byte "billion laughs" file expands to billions),
  and to refuse an alias used inside its own anchor (``zz: &a [*a]``).

The limits are documented in the README ("Limits on what drill reads").
"""

from __future__ import annotations

import errno
import os
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.errors import DefinitionError, Problem

MAX_FILE_BYTES = 1024 * 1024  # a definition is a few kB; the largest bundled one ~10 kB
MAX_DEPTH = 64  # nesting of mappings/sequences, aliases expanded
MAX_VALUES = 200_000  # scalars + collections, aliases expanded

# What YAML 1.2 calls printable (section 5.1), plus the BOM; anything else is refused.
_NON_PRINTABLE = re.compile(
    "[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
)
# More than MAX_DEPTH flow collections opened in a row: refused before the scanner sees
# them (ruamel's scanner spends seconds on ~1,000 open brackets before the first event).
_BRACKET_RUN = re.compile(r"[\[{](?:[ \t\r\n]*[\[{]){" + str(MAX_DEPTH) + ",}")
_FILE_KINDS = {
    stat.S_ISFIFO: "a FIFO",
    stat.S_ISCHR: "a character device",
    stat.S_ISBLK: "a block device",
    stat.S_ISSOCK: "a socket",
    stat.S_ISDIR: "a directory",
}


def _fail(message: str, file: str, line: int | None = None) -> DefinitionError:
    return DefinitionError([Problem(message, file, line)])


def _kind_of(mode: int) -> str:
    return next((name for test, name in _FILE_KINDS.items() if test(mode)), "not a regular file")


def read_source(path: Path, limit: int = MAX_FILE_BYTES) -> str:
    """The text of ``path``: a regular file of at most ``limit`` bytes, valid UTF-8,
    printable. Raises DefinitionError naming the file (and the line, for bad bytes)."""
    return decode_source(read_regular(path, limit), str(path))


def read_regular(path: Path, limit: int) -> bytes:
    """The bytes of ``path`` if it is a regular file (symlinks followed) of at most
    ``limit`` bytes; opened without blocking, so a FIFO cannot hang drill."""
    file = str(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise _fail("file not found", file) from None
    except OSError as exc:
        reason = "a symlink loop" if exc.errno == errno.ELOOP else exc.strerror or str(exc)
        raise _fail(f"cannot read file: {reason}", file) from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise _fail(
                f"not a regular file ({_kind_of(mode)}): drill reads regular files only", file
            )
        with os.fdopen(fd, "rb", closefd=False) as fh:
            data = fh.read(limit + 1)
    except OSError as exc:
        raise _fail(f"cannot read file: {exc.strerror or exc}", file) from None
    finally:
        os.close(fd)
    if len(data) > limit:
        size = f"{limit // 1024 // 1024} MiB" if limit >= 1024 * 1024 else f"{limit // 1024} KiB"
        raise _fail(f"file larger than {size}: drill does not read it", file)
    return data


def decode_source(data: bytes, file: str) -> str:
    """UTF-8 bytes → text, refusing invalid bytes and control characters by line."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise _fail(
            f"not valid UTF-8 (byte 0x{data[exc.start]:02x}): save the file as UTF-8", file, line
        ) from None
    run = _BRACKET_RUN.search(text)
    if run:
        raise _fail(
            f"nested more than {MAX_DEPTH} levels deep", file, text.count("\n", 0, run.start()) + 1
        )
    bad = _NON_PRINTABLE.search(text.removeprefix("\ufeff"))
    if bad:
        offset = bad.start() + (1 if text.startswith("\ufeff") else 0)
        line = text.count("\n", 0, offset) + 1
        raise _fail(
            f"control character U+{ord(bad.group()):04X} is not allowed (YAML and JSON text only)",
            file,
            line,
        )
    return text


@dataclass
class _Frame:
    """An open collection in the walk over the events: anchor, values, depth."""

    anchor: str | None
    values: int = 0
    depth: int = 0


@dataclass
class EventScan:
    """What the walk over the events found that the parsers' errors do not say."""

    first_tag_line: int | None = None  # where a construction error most likely is
    _anchors: dict[str, tuple[int, int]] = field(default_factory=dict)


def scan_events(events: Iterable[Any], file: str) -> EventScan:
    """Walk YAML parse events (ruamel.yaml's or PyYAML's: same names and fields) and
    raise DefinitionError at the first limit exceeded; nothing is constructed."""
    scan = EventScan()
    stack: list[_Frame] = [_Frame(None)]
    open_anchors: set[str] = set()
    for event in events:
        name = type(event).__name__
        line = event.start_mark.line + 1
        if name in ("ScalarEvent", "AliasEvent", "SequenceStartEvent", "MappingStartEvent"):
            tag = getattr(event, "tag", None)
            if tag is not None and scan.first_tag_line is None and str(tag) != "!":
                scan.first_tag_line = line
        if name == "ScalarEvent":
            values, depth = 1, 0
        elif name == "AliasEvent":
            alias = str(event.anchor)
            if alias in open_anchors:
                raise _fail(
                    f"alias *{alias} is used inside its own anchor &{alias}: it would never end",
                    file,
                    line,
                )
            values, depth = scan._anchors.get(alias, (1, 0))
        elif name in ("SequenceStartEvent", "MappingStartEvent"):
            if len(stack) > MAX_DEPTH:
                raise _fail(f"nested more than {MAX_DEPTH} levels deep", file, line)
            anchor = None if event.anchor is None else str(event.anchor)
            if anchor is not None:
                open_anchors.add(anchor)
            stack.append(_Frame(anchor))
            continue
        elif name in ("SequenceEndEvent", "MappingEndEvent"):
            frame = stack.pop()
            values, depth = frame.values + 1, frame.depth + 1
            if frame.anchor is not None:
                open_anchors.discard(frame.anchor)
                scan._anchors[frame.anchor] = (values, depth)
            _add(stack[-1], values, depth, file, line)
            continue
        else:  # stream/document start and end
            continue
        if name == "ScalarEvent" and event.anchor is not None:
            scan._anchors[str(event.anchor)] = (1, 0)
        _add(stack[-1], values, depth, file, line)
    return scan


def _add(frame: _Frame, values: int, depth: int, file: str, line: int) -> None:
    frame.values += values
    frame.depth = max(frame.depth, depth)
    if frame.values > MAX_VALUES:
        raise _fail(
            f"more than {MAX_VALUES:,} values once aliases are expanded (an alias bomb?)",
            file,
            line,
        )
    if frame.depth > MAX_DEPTH:
        raise _fail(
            f"nested more than {MAX_DEPTH} levels deep once aliases are expanded", file, line
        )


def check_bounds(data: Any, file: str) -> None:
    """The bounds of :func:`scan_events` on data built without YAML events (a .json file,
    read with ``json.loads`` as chaos reads it); walked without recursion."""
    todo: list[tuple[Any, int]] = [(data, 0)]
    values = 0
    while todo:
        value, depth = todo.pop()
        values += 1
        if values > MAX_VALUES:
            raise _fail(f"more than {MAX_VALUES:,} values", file)
        if isinstance(value, dict | list):
            if depth >= MAX_DEPTH:
                raise _fail(f"nested more than {MAX_DEPTH} levels deep", file)
            items = value.values() if isinstance(value, dict) else value
            todo.extend((item, depth + 1) for item in items)
