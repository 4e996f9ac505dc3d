"""YAML loading that remembers where every value came from.

Validation errors must point at ``file:line`` and the YAML path, so definitions and
configuration are parsed with ruamel.yaml's round-trip loader, which keeps line
numbers, then converted to plain Python values for pydantic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from orchestrator.errors import DefinitionError, Problem


@dataclass
class SourceDoc:
    """A parsed YAML/JSON document plus a map from YAML path to line number."""

    file: str
    data: Any
    lines: dict[tuple[str | int, ...], int] = field(default_factory=dict)
    #: keys that are null, numbers or booleans (stringified in ``data``)
    key_problems: list[Problem] = field(default_factory=list)
    #: keys that are mappings or sequences (refused everywhere: chaos cannot load them)
    complex_keys: list[Problem] = field(default_factory=list)

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


def _key(key: Any, loc: tuple[str | int, ...], line: int | None, doc: SourceDoc) -> str:
    """A mapping key as a string; keys that are not strings are remembered as problems
    (drill's own formats refuse them; an experiment keeps them, spelled as JSON spells them)."""
    import json

    if isinstance(key, str):
        return str(key)
    where = format_path(loc) or None
    if isinstance(key, dict | list | tuple) or type(key).__name__.startswith("CommentedKey"):
        message = "a mapping key must be a plain value, not a mapping or a sequence"
        doc.complex_keys.append(Problem(message, doc.file, line, where))
        return str(key)
    spelled = json.dumps(key) if key is None or isinstance(key, bool | int | float) else str(key)
    message = f"key {spelled} is not a string: quote it if it is meant as a name"
    doc.key_problems.append(Problem(message, doc.file, line, where))
    return spelled


def _plain(node: Any, loc: tuple[str | int, ...], doc: SourceDoc) -> Any:
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    lines = doc.lines
    if isinstance(node, CommentedMap):
        out: dict[Any, Any] = {}
        for key, value in node.items():
            try:
                line: int | None = node.lc.key(key)[0] + 1
            except (KeyError, TypeError, AttributeError):
                line = None
            name = _key(key, loc, line or lines.get(loc), doc)
            child = (*loc, name)
            if line is not None:
                lines[child] = line
            out[name] = _plain(value, child, doc)
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
            items.append(_plain(value, child, doc))
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
    """Parse YAML (or JSON, which is YAML) text; raise DefinitionError with file:line.

    The events are walked first (:func:`orchestrator.yamlguard.scan_events`): depth and
    alias expansion are bounded before anything is built."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    from orchestrator.yamlguard import scan_events

    yaml = YAML(typ="rt")
    tag_line: int | None = None
    try:
        tag_line = scan_events(yaml.parse(text), file).first_tag_line
        raw = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        reason = exc.problem or exc.context or "invalid YAML"
        raise DefinitionError([Problem(f"invalid YAML: {reason}", file, line)]) from None
    except YAMLError as exc:
        raise DefinitionError([Problem(f"invalid YAML: {exc}", file, None)]) from None
    except (ValueError, TypeError, OverflowError) as exc:  # a value its tag cannot hold
        raise DefinitionError([Problem(f"invalid value: {exc}", file, tag_line)]) from None
    doc = SourceDoc(file, None, {(): 1})
    doc.data = _plain(raw, (), doc)
    return doc


def load_file(path: Path) -> SourceDoc:
    """Read (regular files only, size-limited, UTF-8) and parse a YAML or JSON file (a
    .json file as JSON: :func:`parse_json`)."""
    from orchestrator.yamlguard import read_source

    text = read_source(path)
    if path.suffix == ".json":
        return parse_json(text, str(path))
    return parse_text(text, str(path))


def parse_json(text: str, file: str) -> SourceDoc:
    """A .json file, read as chaos reads one (``json.load``): a trailing comma is an
    error, ``1e3`` a number, ``"\\ud83d\\ude00"`` one character. Read as YAML, a JSON
    experiment or var file chaos refuses ran (a var file's values silently left out by
    chaoslib), ``1e3`` was the string "1e3" and the pair two lone surrogates that no
    journal could be written with. The lines and the bounds come from the YAML reading
    (JSON is YAML)."""
    import json

    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DefinitionError([Problem(f"invalid JSON: {exc.msg}", file, exc.lineno)]) from None
    except RecursionError:
        data = None  # nested too deep: the YAML reading says so, with the line
    try:
        doc = parse_text(text, file)
    except DefinitionError as exc:  # JSON that json.loads reads: a duplicate key, mostly
        problems = [
            replace(p, message=p.message.removeprefix("invalid YAML: ").removeprefix("found "))
            for p in exc.problems
        ]
        raise DefinitionError(problems) from None
    doc.data = data
    return doc


def chaos_data(path: Path) -> Any:
    """The data of a YAML or JSON file as chaos reads it — PyYAML's safe loader, or
    ``json.loads`` for a .json file — within drill's bounds (:mod:`orchestrator.yamlguard`).
    Raises on anything wrong: :func:`load_file` then says what, and where."""
    from orchestrator.yamlguard import check_bounds, read_source, scan_events

    text = read_source(path)
    if path.suffix == ".json":
        import json

        data = json.loads(text)
        check_bounds(data, str(path))
        return data
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    scan_events(yaml.parse(text, Loader=loader), str(path))
    return yaml.load(text, Loader=loader)


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
