"""``drill validate`` agrees with ``chaos validate`` on experiments (DESIGN 13).

chaos validates an experiment as PyYAML reads it (YAML 1.1, duplicate keys allowed,
the last one wins) with chaoslib's ``ensure_experiment_is_valid``. drill validates with
the same chaoslib function, so the two agree on content; three things are drill's own:

* where chaoslib's message does not name the activity, drill finds the one that fails
  by validating each activity (and tolerance) alone, to report its file:line;
* drill's line-tracking YAML 1.2 reader is stricter (duplicate keys, …). When only it
  objects and chaos accepts the file, drill accepts the experiment as chaos reads it
  and reports the objection as a warning, not an error;
* a provider value chaos accepts and cannot run (a process provider's ``arguments: 5``,
  an http ``timeout: abc``) is refused up front: the run would fail at that action.
"""

from __future__ import annotations

import io
from contextlib import redirect_stderr
from typing import Any

Loc = tuple[str | int, ...]


def unprinted() -> redirect_stderr[io.StringIO]:
    """Around chaoslib's validation: a JSON path tolerance is parsed with jsonpath2,
    whose ANTLR parser prints each syntax error on stderr ("line 1:2 mismatched input
    …") before chaoslib raises its own "JSON path … is invalid", which drill reports
    with file:line. drill validates several times (chaos's reading, its own, each
    activity alone), so the line came out four times ahead of drill's error."""
    return redirect_stderr(io.StringIO())


def activity_places(data: dict[str, Any]) -> list[tuple[Loc, Any]]:
    """Every activity of an experiment with its YAML path."""
    places: list[tuple[Loc, Any]] = [
        ((section, idx), act)
        for section in ("method", "rollbacks")
        if isinstance(data.get(section), list)
        for idx, act in enumerate(data[section])
    ]
    ssh = data.get("steady-state-hypothesis")
    if isinstance(ssh, dict) and isinstance(ssh.get("probes"), list):
        places += [
            (("steady-state-hypothesis", "probes", idx), act)
            for idx, act in enumerate(ssh["probes"])
        ]
    return places


_MAPPING, _LIST = "a mapping", "a list"
#: top-level keys chaoslib iterates or reads without checking their type first
_SECTIONS = {
    "configuration": _MAPPING,
    "secrets": _MAPPING,
    "controls": _LIST,
    "steady-state-hypothesis": _MAPPING,
    "method": _LIST,
    "rollbacks": _LIST,
}


def _is(value: Any, kind: str) -> bool:
    return isinstance(value, dict) if kind == _MAPPING else isinstance(value, list)


def _spelled(value: Any) -> str:
    return "null" if value is None else f"{type(value).__name__} {value!r}"[:60]


def shape_problem(data: dict[str, Any]) -> tuple[Loc, str] | None:
    """Where an experiment has a value of the wrong kind that chaoslib's validation
    crashes on instead of naming it ("'NoneType' object has no attribute 'items'", at
    line 1): a section, an activity, its pauses or its python arguments. Only asked once
    chaoslib has crashed, so nothing chaos accepts is refused."""
    for key, kind in _SECTIONS.items():
        if key in data and not _is(data[key], kind):
            return (key,), f"{key} must be {kind}, not {_spelled(data[key])}"
    extensions = data.get("extensions")
    if extensions is not None and not isinstance(extensions, list):
        return ("extensions",), f"extensions must be a list, not {_spelled(extensions)}"
    ssh = data.get("steady-state-hypothesis")
    if isinstance(ssh, dict) and "probes" in ssh and not isinstance(ssh["probes"], list):
        where = ("steady-state-hypothesis", "probes")
        return where, f"the hypothesis's probes must be a list, not {_spelled(ssh['probes'])}"
    if isinstance(ssh, dict) and "controls" in ssh and not isinstance(ssh["controls"], list):
        where = ("steady-state-hypothesis", "controls")
        return where, f"controls must be a list, not {_spelled(ssh['controls'])}"
    for key, entry in (data.get("configuration") or {}).items():
        if isinstance(entry, dict) and entry.get("type") == "env" and "key" not in entry:
            return ("configuration", key), f"configuration {key!r} of type env needs a `key`"
    for loc, act in activity_places(data):
        if not isinstance(act, dict):
            return loc, f"an activity must be a mapping, not {_spelled(act)}"
        if "controls" in act and not isinstance(act["controls"], list):
            return (*loc, "controls"), f"controls must be a list, not {_spelled(act['controls'])}"
        if "pauses" in act and act["pauses"] is not None and not isinstance(act["pauses"], dict):
            return (
                *loc,
                "pauses",
            ), f"pauses must be a mapping (before, after), not {_spelled(act['pauses'])}"
        provider = act.get("provider")
        if isinstance(provider, dict) and provider.get("type") == "python":
            args = provider.get("arguments", {})
            if not isinstance(args, dict):
                return (*loc, "provider", "arguments"), (
                    f"a python provider's arguments must be a mapping, not {_spelled(args)}"
                )
    return None


def provider_problems(data: dict[str, Any]) -> list[tuple[Loc, str]]:
    """A process provider's ``arguments`` or ``timeout``, or an http provider's ``url``,
    ``method``, ``max_retries`` or ``timeout``, of a kind chaoslib cannot run
    (``arguments: 5``, ``timeout: abc``): chaoslib's validation does not look at them,
    and the run ended on "experiment aborted: TypeError" (or ValueError, AttributeError)
    once the method had started."""
    places = activity_places(data)
    places += [  # a probe as tolerance runs as an activity of its own
        ((*loc, "tolerance"), act["tolerance"])
        for loc, act in list(places)
        if isinstance(act, dict) and isinstance(act.get("tolerance"), dict)
    ]
    problems: list[tuple[Loc, str]] = []
    for loc, act in places:
        provider = act.get("provider") if isinstance(act, dict) else None
        if isinstance(provider, dict) and provider.get("type") == "http":
            for key, kind, fits in (
                ("url", "a string", lambda v: isinstance(v, str)),
                ("method", "a string", lambda v: isinstance(v, str)),
                (
                    "max_retries",
                    "a whole number",
                    lambda v: v is None or (isinstance(v, int) and not isinstance(v, bool)),
                ),
            ):
                if key in provider and not fits(provider[key]):
                    problems.append(
                        (
                            (*loc, "provider", key),
                            f"an http provider's {key} must be {kind}, not "
                            f"{_spelled(provider[key])}",
                        )
                    )
            timeout = provider.get("timeout")
            if not _http_timeout(timeout):
                problems.append(
                    (
                        (*loc, "provider", "timeout"),
                        "an http provider's timeout must be a number of seconds or "
                        f"[connect, read], not {_spelled(timeout)}",
                    )
                )
        if not isinstance(provider, dict) or provider.get("type") != "process":
            continue
        args = provider.get("arguments", [])
        if not isinstance(args, str | list | dict):
            problems.append(
                (
                    (*loc, "provider", "arguments"),
                    "a process provider's arguments must be a string, a list or a mapping, "
                    f"not {_spelled(args)}",
                )
            )
        timeout = provider.get("timeout")
        if timeout is not None and not isinstance(timeout, int | float):
            problems.append(
                (
                    (*loc, "provider", "timeout"),
                    f"a process provider's timeout must be a number of seconds, not "
                    f"{_spelled(timeout)}",
                )
            )
    return problems


def _http_timeout(value: Any) -> bool:
    """What requests takes as a timeout once chaoslib made a list a tuple: a number, a
    (connect, read) pair, none; a ``${…}`` string is substituted at run time."""
    if value is None or isinstance(value, int | float):
        return True
    if isinstance(value, str):
        return "${" in value
    return (
        isinstance(value, list)
        and len(value) == 2
        and all(v is None or isinstance(v, int | float) for v in value)
    )


def failing_place(data: dict[str, Any], message: str) -> Loc | None:
    """The activity (or tolerance) whose own validation gives chaoslib's ``message``."""
    from chaoslib.activity import ensure_activity_is_valid
    from chaoslib.hypothesis import ensure_hypothesis_tolerance_is_valid

    for loc, act in activity_places(data):
        checks: list[tuple[Loc, Any]] = [(loc, lambda a=act: ensure_activity_is_valid(a))]
        if isinstance(act, dict) and "tolerance" in act:
            checks.append(
                (
                    (*loc, "tolerance"),
                    lambda a=act: ensure_hypothesis_tolerance_is_valid(a["tolerance"]),
                )
            )
        for where, check in checks:
            try:
                with unprinted():
                    check()
            except Exception as exc:  # chaoslib raises ChaosException, sometimes bare errors
                if str(exc) == message:
                    return where
    return None


def strict_reading_warnings(problems: list[Any], json: bool = False) -> list[str]:
    """drill's stricter reader objected; chaos accepts the file: say so, do not fail.
    ``json``: a .json file, which chaos reads with Python's json module, not PyYAML."""
    reader = "Python's json module" if json else "PyYAML"
    return [
        f"{p} — chaos accepts this file (it reads it with {reader}); drill runs it as chaos "
        "reads it"
        for p in problems
    ]
