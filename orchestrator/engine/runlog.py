"""The run log: what drill said during a run, kept with the run as an artifact.

DESIGN 8 lists logs among a run's artifacts. Every run — runbook, drill or experiment,
on a terminal, under ``--json`` or fired by the scheduler — keeps ``run-log.jsonl``:
one JSON object per line for each progress hook the engine called (scenario and step
starts and ends, notes, warnings, scenario summaries), with its UTC time. It is the
reporter's own stream, so it says what the terminal said whatever the output mode.
A run whose process died keeps instead what its recovery said (``recovery-log.jsonl``,
:func:`orchestrator.engine.recovery.close_orphan`): what the dead process printed died
with it; its steps and events are in the evidence all the same.

The log is bounded (:data:`LIMIT` bytes): past it, the first half and the newest lines
are kept with one line saying how many were left out. Secrets are masked when the
artifact is recorded (``Recorder.artifact_record``: orchestrator/secrets.py), as in
every artifact. The live probe line is left out (it is redrawn many times a second;
the probe series are evidence of their own).
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from orchestrator.engine.reporter import Reporter

LOG_NAME = "run-log.jsonl"
LOG_MEDIA_TYPE = "application/x-ndjson"
LIMIT = 256 * 1024  # bytes: a run of thousands of steps stays far below the store's limits
LINE_LIMIT = 8 * 1024  # one line (a long step error, a note with a provider's output)


class RunLog:
    """A :class:`Reporter` that passes every call on and writes it down."""

    def __init__(self, inner: Reporter, limit: int = LIMIT) -> None:
        self.inner = inner
        self._head: list[bytes] = []
        self._tail: deque[bytes] = deque()
        self._head_size = self._tail_size = self._dropped = 0
        self._half = limit // 2

    def _log(self, kind: str, **fields: Any) -> None:
        at = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        line = json.dumps({"at": at, "kind": kind, **fields}, default=str).encode() + b"\n"
        if len(line) > LINE_LIMIT:
            text = line[:LINE_LIMIT].decode(errors="ignore")
            line = json.dumps({"at": at, "kind": kind, "cut": text}).encode() + b"\n"
        if self._head_size + len(line) <= self._half and not self._tail:
            self._head.append(line)
            self._head_size += len(line)
            return
        self._tail.append(line)
        self._tail_size += len(line)
        while self._tail_size > self._half and len(self._tail) > 1:
            self._tail_size -= len(self._tail.popleft())
            self._dropped += 1

    def content(self) -> bytes:
        """The log as stored: head, a line for what was left out (if any), newest lines."""
        gap = (
            [
                json.dumps({"kind": "log.truncated", "lines_left_out": self._dropped}).encode()
                + b"\n"
            ]
            if self._dropped
            else []
        )
        return b"".join([*self._head, *gap, *self._tail])

    def ended(self, status: str, exit_code: int, error: str | None) -> None:
        """The run's end, the log's last line."""
        self._log("run.end", status=status, exit_code=exit_code, error=error)

    # ---- Reporter -----------------------------------------------------------------
    def run_started(self, run_id: str, title: str, env: str, scenarios: int) -> None:
        self._log("run.start", run_id=run_id, title=title, env=env, scenarios=scenarios)
        self.inner.run_started(run_id, title, env, scenarios)

    def scenario_started(self, scenario_id: str, title: str) -> None:
        self._log("scenario.start", scenario=scenario_id, title=title)
        self.inner.scenario_started(scenario_id, title)

    def step_started(self, phase: str, name: str) -> None:
        self._log("step.start", phase=phase, name=name)
        self.inner.step_started(phase, name)

    def step_finished(self, phase: str, name: str, status: str, detail: str | None) -> None:
        self._log("step.end", phase=phase, name=name, status=status, detail=detail)
        self.inner.step_finished(phase, name, status, detail)

    def scenario_finished(self, scenario_id: str, summary: dict[str, Any]) -> None:
        self._log("scenario.end", scenario=scenario_id, **summary)
        self.inner.scenario_finished(scenario_id, summary)

    def note(self, message: str) -> None:
        self._log("note", message=message)
        self.inner.note(message)

    def warning(self, message: str) -> None:
        self._log("warning", message=message)
        self.inner.warning(message)

    def probe_status(self, line: str) -> None:
        self.inner.probe_status(line)

    def prompt_ack(
        self, instructions: str, timeout_s: float, watch: Callable[[], str | None]
    ) -> bool | str | None:
        self._log("manual.prompt", instructions=instructions, timeout_s=timeout_s)
        answer = self.inner.prompt_ack(instructions, timeout_s, watch)
        self._log("manual.answer", acknowledged=answer)
        return answer
