"""YAML loading that remembers where every value came from.

Validation errors must point at ``file:line`` and the YAML path, so definitions and
configuration are parsed with ruamel.yaml's round-trip loader, which keeps line
numbers, then converted to plain Python values for pydantic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.errors import DefinitionError, Problem


@dataclass
class SourceDoc:
    """A parsed YAML/JSON document plus a map from YAML path to line number."""

    file: str
    data: Any
    lines: dict[tuple[str | int, ...], int] = field(default_factory=dict)

    def line_of(self, loc: Sequence[str | int]) -> int | None:
        """Line of the deepest known ancestor of ``loc`` (1-based)."""
        key = tuple(loc)
        while key:
            if key in self.lines:
                return self.lines[key]
            key = key[:-1]
        return self.lines.get((), 1)

    def problem(self, message: str, loc: Sequence[str | int] = ()) -> Problem:
        return Problem(message, self.file, self.line_of(loc), format_path(loc) or None)


def format_path(loc: Sequence[str | int]) -> str:
    """``('steps', 2, 'action')`` → ``steps[2].action``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _plain(node: Any, loc: tuple[str | int, ...], lines: dict[tuple[str | int, ...], int]) -> Any:
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    if isinstance(node, CommentedMap):
        out: dict[Any, Any] = {}
        for key, value in node.items():
            child = (*loc, str(key))
            try:
                line, _col = node.lc.key(key)
                lines[child] = line + 1
            except (KeyError, TypeError, AttributeError):
                pass
            out[str(key)] = _plain(value, child, lines)
        return out
    if isinstance(node, CommentedSeq):
        items = []
        for idx, value in enumerate(node):
            child = (*loc, idx)
            try:
                line, _col = node.lc.item(idx)
                lines[child] = line + 1
            except (KeyError, TypeError, AttributeError, IndexError):
                pass
            items.append(_plain(value, child, lines))
        return items
    if hasattr(node, "isoformat"):
        return node.isoformat()
    if type(node).__module__.startswith("ruamel"):
        # ScalarFloat, ScalarBoolean, TaggedScalar …: reduce to the builtin value
        for base in (bool, int, float, str):
            if isinstance(node, base):
                return base(node)
        return str(node)
    return node


def parse_text(text: str, file: str) -> SourceDoc:
    """Parse YAML (or JSON, which is YAML) text; raise DefinitionError with file:line."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    yaml = YAML(typ="rt")
    try:
        raw = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        reason = exc.problem or exc.context or "invalid YAML"
        raise DefinitionError([Problem(f"invalid YAML: {reason}", file, line)]) from None
    except YAMLError as exc:
        raise DefinitionError([Problem(f"invalid YAML: {exc}", file, None)]) from None
    lines: dict[tuple[str | int, ...], int] = {(): 1}
    return SourceDoc(file, _plain(raw, (), lines), lines)


def load_file(path: Path) -> SourceDoc:
    """Read and parse a YAML or JSON file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DefinitionError([Problem("file not found", str(path))]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DefinitionError([Problem(f"cannot read file: {exc}", str(path))]) from None
    return parse_text(text, str(path))


def pydantic_problems(doc: SourceDoc, exc: Any, prefix: Sequence[str | int] = ()) -> list[Problem]:
    """Turn a pydantic ValidationError into located problems (all of them)."""
    problems = []
    for err in exc.errors():
        loc = [*prefix, *[p for p in err["loc"] if not _is_union_tag(p)]]
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = f"unknown field {loc[-1]!r}"
        problems.append(doc.problem(msg, loc))
    return problems


def _is_union_tag(part: Any) -> bool:
    # pydantic inserts the union member's name in loc ("function-after[...]" etc.)
    return isinstance(part, str) and ("[" in part or part.endswith("Step"))
