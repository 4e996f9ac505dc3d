"""``drill validate`` agrees with ``chaos validate`` on experiments (DESIGN 13).

chaos validates an experiment as PyYAML reads it (YAML 1.1, duplicate keys allowed,
the last one wins) with chaoslib's ``ensure_experiment_is_valid``. drill validates with
the same chaoslib function, so the two agree on content; two things are drill's own:

* where chaoslib's message does not name the activity, drill finds the one that fails
  by validating each activity (and tolerance) alone, to report its file:line;
* drill's line-tracking YAML 1.2 reader is stricter (duplicate keys, …). When only it
  objects and chaos accepts the file, drill accepts the experiment as chaos reads it
  and reports the objection as a warning, not an error.
"""

from __future__ import annotations

from typing import Any

Loc = tuple[str | int, ...]


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
                check()
            except Exception as exc:  # chaoslib raises ChaosException, sometimes bare errors
                if str(exc) == message:
                    return where
    return None


def strict_reading_warnings(problems: list[Any]) -> list[str]:
    """drill's stricter reader objected; chaos accepts the file: say so, do not fail."""
    return [
        f"{p} — chaos accepts this file (it reads it with PyYAML); drill runs it as chaos reads it"
        for p in problems
    ]
