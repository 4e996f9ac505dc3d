"""How a run reports progress: rich on a terminal, silence under --json.

The engine calls these hooks; it never prints. Keeping output out of the engine
is what keeps ``--json`` pure (stdout: only warnings, on stderr, get through).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, Protocol


class Reporter(Protocol):
    def run_started(self, run_id: str, title: str, env: str, scenarios: int) -> None: ...
    def scenario_started(self, scenario_id: str, title: str) -> None: ...
    def step_started(self, phase: str, name: str) -> None: ...
    def step_finished(self, phase: str, name: str, status: str, detail: str | None) -> None: ...
    def scenario_finished(self, scenario_id: str, summary: dict[str, Any]) -> None: ...
    def note(self, message: str) -> None: ...
    def warning(self, message: str) -> None:
        """Something the operator must see even under --json (stderr): a recovery."""
        ...

    def probe_status(self, line: str) -> None: ...
    def prompt_ack(
        self, instructions: str, timeout_s: float, watch: Callable[[], str | None]
    ) -> bool | str | None:
        """Ask the operator to acknowledge: the answer (True: done, False: could not be
        done), or who acknowledged elsewhere (``watch()``'s answer, asked while the prompt
        waits; it raises to end the wait); None when no one can be asked here."""
        ...


class QuietReporter:
    """Says nothing (``--json`` and library use)."""

    def run_started(self, run_id: str, title: str, env: str, scenarios: int) -> None:
        pass

    def scenario_started(self, scenario_id: str, title: str) -> None:
        pass

    def step_started(self, phase: str, name: str) -> None:
        pass

    def step_finished(self, phase: str, name: str, status: str, detail: str | None) -> None:
        pass

    def scenario_finished(self, scenario_id: str, summary: dict[str, Any]) -> None:
        pass

    def note(self, message: str) -> None:
        pass

    def warning(self, message: str) -> None:
        sys.stderr.write(f"drill: {message}\n")

    def probe_status(self, line: str) -> None:
        pass

    def prompt_ack(
        self, instructions: str, timeout_s: float, watch: Callable[[], str | None]
    ) -> bool | str | None:
        return None
