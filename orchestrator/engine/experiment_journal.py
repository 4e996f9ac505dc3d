"""What a Chaos Toolkit journal means for drill (DESIGN "Chaos Toolkit parity").

The journal is chaoslib's, unchanged in keys and meaning (``status``, ``deviated``,
``steady_states``, ``run``, ``rollbacks``, ``start``, ``end``, ``duration``), so tools
that read ``chaos run``'s journal read drill's. This module only *reads* it:

======================================  =============  ====
chaos journal                           drill status   exit
======================================  =============  ====
``completed``                           succeeded      0
``completed``, steady state not met     failed         1
before the method (nothing was tested)
``deviated: true``                      failed         1
``failed``                              failed         1
``aborted`` / ``interrupted`` (signal)  aborted        3
``aborted`` / ``interrupted``, no       failed         1
signal (an error; a control stopped it)
======================================  =============  ====

Stricter than chaos in two places, both asked for by auditors: a steady state that
does not hold *before* the method fails the run (chaos reports it ``completed``), and
a rollback whose process exits non-zero is a failed rollback (chaos records the exit
code as the activity's output and calls it ``succeeded``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

NOT_STEADY = "system not in steady state"


class Verdict(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    ABORTED = "aborted"


@dataclass(frozen=True)
class Reading:
    """drill's reading of one journal: its verdict and, when not succeeded, why."""

    verdict: Verdict
    reason: str | None = None  # finding title / run error
    detail: str | None = None


def _names(probes: list[dict[str, Any]], bad: Any) -> list[str]:
    return [str((p.get("activity") or {}).get("name", "probe")) for p in probes if bad(p)]


def _unmet(state: dict[str, Any]) -> list[str]:
    """Probes of one hypothesis run that failed or fell outside their tolerance."""
    probes = state.get("probes") or []
    return _names(
        probes, lambda p: p.get("status") != "succeeded" or p.get("tolerance_met") is False
    )


def read(journal: dict[str, Any], signalled: bool = True, cause: str | None = None) -> Reading:
    """drill's verdict on a finished journal (see the table above). ``signalled``: the
    run was stopped by a signal; an ``aborted``/``interrupted`` journal without one is
    the experiment stopping itself — a failure, ``cause`` saying why
    (:mod:`orchestrator.engine.experiment_stops`)."""
    status = journal.get("status")
    if status in ("aborted", "interrupted") and signalled:
        return Reading(Verdict.ABORTED, f"experiment {status}")
    if status in ("aborted", "interrupted"):
        why = (
            "an activity raised an error chaoslib did not expect"
            if status == "aborted"
            else "a control or probe interrupted it"
        )
        return Reading(
            Verdict.FAILED,
            f"experiment {status}: {cause or why}",
            f"chaoslib stopped the experiment ({why}); no signal was received",
        )
    before = (journal.get("steady_states") or {}).get("before")
    if isinstance(before, dict) and not before.get("steady_state_met", True):
        names = _unmet(before)
        return Reading(
            Verdict.FAILED,
            NOT_STEADY,
            f"steady-state probe(s) {', '.join(names) or '?'} did not hold before "
            "the method: nothing was tested",
        )
    if journal.get("deviated"):
        after = (journal.get("steady_states") or {}).get("after") or {}
        names = _unmet(after) if isinstance(after, dict) else []
        during = [
            n
            for st in (journal.get("steady_states") or {}).get("during") or []
            if isinstance(st, dict)
            for n in _unmet(st)
        ]
        names = names or sorted(set(during))
        return Reading(
            Verdict.FAILED,
            f"steady state deviated: {', '.join(names) or '?'}",
            f"after the method, probe(s) {', '.join(names) or '?'} were outside "
            "their tolerance: a weakness may have been found",
        )
    if status == "failed":
        during = [
            n
            for st in (journal.get("steady_states") or {}).get("during") or []
            if isinstance(st, dict)
            for n in _unmet(st)
        ]
        after = (journal.get("steady_states") or {}).get("after")
        names = sorted(set(during)) or (_unmet(after) if isinstance(after, dict) else [])
        return Reading(
            Verdict.FAILED,
            f"experiment failed: {', '.join(names) or 'see journal'}",
            "a steady-state probe failed to run or the hypothesis failed fast",
        )
    return Reading(Verdict.SUCCEEDED)


def rollback_failed(run: dict[str, Any]) -> bool:
    """A played rollback that did not undo its action (stricter than chaos for processes)."""
    if run.get("status") != "succeeded":
        return True
    provider = (run.get("activity") or {}).get("provider") or {}
    output = run.get("output")
    return (
        provider.get("type") == "process"
        and isinstance(output, dict)
        and isinstance(output.get("status"), int)
        and output["status"] != 0
    )


def plays_rollbacks(strategy: str, journal: dict[str, Any]) -> bool:
    """Whether chaoslib's ``run_rollback`` would play rollbacks for this journal."""
    if strategy == "always":
        return True
    if strategy == "default":
        return journal.get("status") not in ("failed", "interrupted")
    if strategy == "deviated":
        return bool(journal.get("deviated"))
    return False


def close_interrupted(journal: dict[str, Any], started: float) -> None:
    """Finish a journal chaoslib could not (drill stopped it): as chaos would have."""
    journal["status"] = "interrupted"
    journal["end"] = datetime.now(UTC).isoformat()
    journal["duration"] = time.time() - started
