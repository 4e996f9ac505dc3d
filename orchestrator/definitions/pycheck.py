"""Check an experiment's Python providers and controls without running their code.

chaoslib validates a Python activity by importing its module, which runs whatever the
module does at import time. ``drill validate`` and ``drill plan`` promise to change
nothing, so drill resolves the module statically instead: the top-level package with
:func:`importlib.util.find_spec` (which finds, it does not import), each submodule with
:class:`importlib.machinery.PathFinder` in its parent's directories, then the function
in the module's source with :mod:`ast`, its signature bound against the activity's
arguments as chaoslib binds it (same messages). chaoslib still validates everything
else, on a copy of the experiment whose Python providers are stand-ins it can check
without side effects. ``drill run`` imports the modules, as ``chaos run`` does:
definitions are code (README, Safety).

What cannot be decided from source (a compiled module, a name bound by an import or an
assignment, a package that extends its ``__path__`` at import time) is accepted: chaos
would import it to know.
"""

from __future__ import annotations

import ast
import copy
import importlib.machinery
import importlib.util
import inspect
import sys
from pathlib import Path
from typing import Any

Loc = tuple[str | int, ...]
MAX_SOURCE_BYTES = 4 * 1024 * 1024

# A module every Python has loaded already, with a function of a known signature.
_STAND_IN = {"type": "python", "module": "os.path", "func": "exists", "arguments": {"path": "."}}
_UNDECIDED = object()


def _python_providers(data: dict[str, Any]) -> list[tuple[Loc, dict[str, Any], dict[str, Any]]]:
    """(loc, activity-or-control, provider) for every well-formed Python provider whose
    module is not loaded yet (chaoslib checks a loaded one itself: importing it again
    runs nothing)."""
    from orchestrator.definitions.experiment_check import activity_places

    found: list[tuple[Loc, dict[str, Any], dict[str, Any]]] = []
    places: list[tuple[Loc, Any]] = list(activity_places(data))
    places += [
        (("controls", i), c)
        for i, c in enumerate(data.get("controls") or [])
        if isinstance(data.get("controls"), list)
    ]
    for loc, item in list(places):
        if isinstance(item, dict) and isinstance(item.get("controls"), list):
            places += [((*loc, "controls", i), c) for i, c in enumerate(item["controls"])]
    for loc, item in places:
        provider = item.get("provider") if isinstance(item, dict) else None
        if (
            isinstance(provider, dict)
            and provider.get("type") == "python"
            and isinstance(provider.get("module"), str)
            and provider.get("module")
            and provider["module"] not in sys.modules
        ):
            found.append((loc, item, provider))
    return found


def stand_in_copy(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with every Python provider replaced by a side-effect-free stand-in,
    for chaoslib to validate the rest (activities keep their names, pauses, …)."""
    out = copy.deepcopy(data)
    for _loc, _item, provider in _python_providers(out):
        is_control = "func" not in provider
        provider.clear()
        provider.update(
            {"type": "python", "module": "os"} if is_control else copy.deepcopy(_STAND_IN)
        )
    return out


def python_problems(data: dict[str, Any]) -> list[tuple[Loc, str]]:
    """What chaoslib's import-based check would say about each Python provider, found
    without importing anything; chaoslib's wording."""
    problems: list[tuple[Loc, str]] = []
    for loc, item, provider in _python_providers(data):
        module = provider["module"]
        name = item.get("name")
        origin = find_module(module)
        if origin is None:
            what = "activity" if "func" in provider else "control"
            problems.append((loc, f"could not find Python module '{module}' in {what} '{name}'"))
            continue
        func = provider.get("func")
        if not isinstance(func, str) or not func:
            continue  # a control, or chaoslib's own structural message
        found = _function(origin, func)
        if found is None:
            problems.append(
                (
                    loc,
                    f"The python module '{module}' does not expose a function "
                    f"called '{func}' in {item.get('type')} '{name}'",
                )
            )
        elif found is not _UNDECIDED:
            assert isinstance(found, inspect.Signature)
            message = _bind(found, provider.get("arguments") or {}, func)
            if message:
                problems.append((loc, message))
    return problems


def find_module(name: str) -> str | None:
    """Where module ``name`` would be loaded from ("" when it exists but has no source
    file, or cannot be decided), or None when it does not exist. Imports nothing."""
    parts = name.split(".")
    if not all(p.isidentifier() for p in parts):
        return None
    try:
        top = sys.modules.get(parts[0])
        spec = importlib.util.find_spec(parts[0]) if top is None else top.__spec__
    except (ImportError, ValueError):
        return None
    for depth in range(1, len(parts)):
        if spec is None:
            return None
        locations = spec.submodule_search_locations
        if locations is None:
            return None  # not a package: it has no submodules
        full = ".".join(parts[: depth + 1])
        if full in sys.modules:
            spec = sys.modules[full].__spec__
            continue
        spec = importlib.machinery.PathFinder.find_spec(full, list(locations))
    if spec is None:
        return None
    return spec.origin if spec.origin and spec.origin.endswith(".py") else ""


def _function(origin: str, func: str) -> inspect.Signature | object | None:
    """The signature of top-level function ``func`` in the source at ``origin``;
    _UNDECIDED when the source cannot tell; None when it certainly has no such name."""
    from orchestrator.errors import DefinitionError
    from orchestrator.yamlguard import read_regular

    if not origin:
        return _UNDECIDED
    try:
        tree = ast.parse(read_regular(Path(origin), MAX_SOURCE_BYTES), origin)
    except (DefinitionError, SyntaxError, ValueError, RecursionError):
        return _UNDECIDED
    other_binding = False
    for node in _top_level(tree.body):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            if node.name == func:
                return _signature(node.args)
            if node.name == "__getattr__":
                other_binding = True
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names = {(a.asname or a.name).split(".")[0] for a in node.names}
            other_binding = other_binding or func in names or "*" in names
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            other_binding = other_binding or any(
                isinstance(n, ast.Name) and n.id in (func, "__all__")
                for t in targets
                for n in ast.walk(t)
            )
    return _UNDECIDED if other_binding else None


def _top_level(body: list[ast.stmt]) -> list[ast.stmt]:
    """Module-level statements, including those under top-level if/try/with."""
    out: list[ast.stmt] = []
    for node in body:
        out.append(node)
        if isinstance(node, ast.If | ast.Try | ast.With):
            for field in ("body", "orelse", "finalbody", "handlers"):
                for child in getattr(node, field, []) or []:
                    out += _top_level(
                        child.body if isinstance(child, ast.ExceptHandler) else [child]
                    )
    return out


def _signature(args: ast.arguments) -> inspect.Signature:
    P = inspect.Parameter
    positional = [*args.posonlyargs, *args.args]
    first_default = len(positional) - len(args.defaults)
    params = [
        P(
            a.arg,
            P.POSITIONAL_ONLY if i < len(args.posonlyargs) else P.POSITIONAL_OR_KEYWORD,
            default=None if i >= first_default else P.empty,
        )
        for i, a in enumerate(positional)
    ]
    if args.vararg:
        params.append(P(args.vararg.arg, P.VAR_POSITIONAL))
    params += [
        P(a.arg, P.KEYWORD_ONLY, default=P.empty if d is None else None)
        for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True)
    ]
    if args.kwarg:
        params.append(P(args.kwarg.arg, P.VAR_KEYWORD))
    return inspect.Signature(params)


def _bind(sig: inspect.Signature, arguments: Any, func: str) -> str | None:
    """chaoslib's binding check (provider/python.py), with its messages."""
    if not isinstance(arguments, dict):
        return None  # chaoslib's structural checks say what is wrong
    args = dict(arguments)
    for injected in ("secrets", "configuration"):
        if injected in sig.parameters:
            args[injected] = None
    try:
        sig.bind(**args)
    except TypeError as exc:
        msg = str(exc)
        if "missing" in msg:
            return (
                f"required argument {msg.rsplit(':', 1)[1].strip()} is missing from "
                f"activity '{func}'"
            )
        if "unexpected" in msg:
            return (
                f"argument {msg.rsplit(' ', 1)[1].strip()} is not part of the function "
                f"signature in activity '{func}'"
            )
        return f"invalid experiment: {msg}"
    return None
