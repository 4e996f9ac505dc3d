"""Rich progress for `drill run` on a terminal (stderr): scenarios, steps, probes."""

from __future__ import annotations

import os
import select
import sys
import time
from collections.abc import Callable
from typing import Any

from rich.console import Console

from orchestrator.commands.common import esc
from orchestrator.durations import format_duration
from orchestrator.engine.ack import ACK_POLL_S
from orchestrator.evidence.enums import RunStatus

_ICONS = {
    "succeeded": "[green]✔[/]",
    "failed": "[red]✘[/]",
    "interrupted": "[yellow]⚠[/]",
    "skipped": "[dim]-[/]",
}


class ConsoleReporter:
    """Line-oriented progress: readable live, and readable in a CI log afterwards."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._step_started = 0.0
        self._status: Any = None
        self._label = ""

    def run_started(self, run_id: str, title: str, env: str, scenarios: int) -> None:
        self.console.print(
            f"[bold]{esc(title)}[/] on [cyan]{esc(env)}[/] — run [bold]{run_id}[/] "
            f"({scenarios} scenario{'s' if scenarios != 1 else ''})"
        )

    def scenario_started(self, scenario_id: str, title: str) -> None:
        self.console.rule(f"[bold]{esc(scenario_id)}[/] · {esc(title)}", align="left")

    def step_started(self, phase: str, name: str) -> None:
        self._step_started = time.monotonic()
        if self.console.is_terminal:
            self._stop_status()
            self._label = f"{phase}: {esc(name)}"
            self._status = self.console.status(self._label)
            self._status.start()

    def _stop_status(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None

    def step_finished(self, phase: str, name: str, status: str, detail: str | None) -> None:
        self._stop_status()
        took = time.monotonic() - self._step_started
        icon = _ICONS.get(status, status)
        extra = f" [red]{esc(detail)}[/]" if detail and status != "succeeded" else ""
        self.console.print(
            f"  {icon} [dim]{phase:<12}[/] {esc(name)} [dim]({format_duration(took)})[/]{extra}"
        )

    def scenario_finished(self, scenario_id: str, summary: dict[str, Any]) -> None:
        if summary.get("status") == "skipped":
            self.console.print(f"  → [yellow]skipped[/]: {esc(summary.get('skipped') or '')}")
            return
        met = summary.get("met")
        verdict = {
            True: "[green]objectives met[/]",
            False: "[red]objectives NOT met[/]",
            None: "[yellow]objectives not judged[/]",
        }[met]
        if summary.get("dry") and met is None:
            verdict = f"[yellow]dry run (--dry {esc(summary['dry'])}): not judged[/]"
        elif met is not None and summary.get("objective") is False:  # an experiment's
            # "objectives met" of one that had none, where the table says "passed"
            verdict = "[green]passed[/]" if met else "[red]failed[/]"
            verdict += " (no RTO/RPO objective: its steps or steady state decided)"
            if met and summary.get("status") == RunStatus.ROLLBACK_FAILED.value:
                # its steady state held, but the fault may still be in place: no pass
                from orchestrator.engine.objectives import ROLLBACK_FAILED_HELD

                verdict = f"[red]rollback failed[/] ({ROLLBACK_FAILED_HELD})"
        lost = summary.get("lost_writes")
        self.console.print(
            f"  → {summary.get('status')}: RTO {format_duration(summary.get('rto_s'))}, "
            f"RPO {format_duration(summary.get('rpo_s'))}, "
            f"lost writes {'—' if lost is None else lost} · {verdict}"
        )
        if summary.get("error") and summary.get("status") != "succeeded":
            self.console.print(f"    [red]{esc(summary['error'])}[/]")

    def note(self, message: str) -> None:
        self.console.print(f"  [dim]{esc(message)}[/]")

    def warning(self, message: str) -> None:
        self.console.print(f"[yellow]drill:[/] {esc(message)}")

    def probe_status(self, line: str) -> None:
        """The live probe line, shown under the running step (called from a probe thread)."""
        status = self._status
        if status is not None:
            status.update(f"{self._label}\n  [dim]{esc(line)}[/]")

    def prompt_ack(
        self, instructions: str, timeout_s: float, watch: Callable[[], str | None]
    ) -> bool | str | None:
        """The prompt reads the terminal here, when a line is there to read, and calls
        ``watch`` in between: a reader thread left waiting on the terminal after a timeout
        took the operator's answer to the next prompt, and `drill ack` went unseen."""
        if not sys.stdin.isatty():
            return None
        self._stop_status()
        self.console.print(f"\n[bold yellow]MANUAL STEP[/] {esc(instructions)}")
        self.console.print(
            "Type [bold]done[/] when finished, [bold]fail[/] if it could not be done: ", end=""
        )
        fd = sys.stdin.fileno()
        while True:
            by = watch()
            if by is not None:
                self.console.print(f"\nacknowledged by {esc(by)} (drill ack)")
                return by
            if select.select([fd], [], [], ACK_POLL_S)[0]:
                break
        line = os.read(fd, 4096)  # a terminal gives one line (or none: Ctrl-D, its end)
        if not line:  # nobody answers here after all (`drill ack` still can)
            self.console.print()
            return None
        return line.decode(errors="replace").strip().lower() in {"done", "y", "yes", "ok"}


def _short(seconds: float | None) -> str:
    """Objectives are round numbers: ``2m``, ``4h``, ``0s`` rather than ``2m 00s``."""
    if seconds is None:
        return "—"
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s" if seconds < 60 else format_duration(seconds)


def _against(value: float | None, objective: float | None) -> str:
    """A measured duration, red when it exceeds its objective."""
    text = format_duration(value)
    if value is not None and objective is not None:
        return f"[red]{text}[/]" if value > objective else f"[green]{text}[/]"
    return text


def _has_objective(sc: dict[str, Any]) -> bool:
    obj = sc["objectives"]
    return obj["rto_s"] is not None or obj["rpo_s"] is not None


def summary_table(doc: dict[str, Any]) -> Any:
    """The final table: per scenario, what the probes measured against its objectives."""
    from rich.table import Table

    # a skipped scenario did not run: not one of those that met, or missed, objectives
    aimed = [sc for sc in doc["scenarios"] if _has_objective(sc) and not sc.get("skipped")]
    met_count = sum(1 for sc in aimed if sc["met"] is True)
    # a scenario without an RTO/RPO objective (an experiment's) passes or fails by its
    # steps or steady state: "1/1 met their objectives (measured by independent probes)"
    # said of one that had none, and where nothing was measured
    free = [sc for sc in doc["scenarios"] if not _has_objective(sc) and sc["met"] is not None]
    # one whose rollback failed left its fault in place, whatever its steady state said
    stuck = [sc for sc in doc["scenarios"] if sc["status"] == RunStatus.ROLLBACK_FAILED.value]
    passed = sum(1 for sc in free if sc["met"] and sc not in stuck)
    skipped = sum(1 for sc in doc["scenarios"] if sc.get("skipped"))
    # with `probes: none` the RTO is the provider's own account (notes name the method)
    notes = doc.get("scenario_notes") or {}
    signals = sum(1 for n in notes.values() if n.get("rto_method"))
    how = (
        "RTO from AWS's own signals (probes: none), RPO not measured"
        if signals
        else "measured by independent probes"
    )
    parts = [f"{met_count}/{len(aimed)} scenario(s) met their objectives ({how})"] if aimed else []
    if free:
        parts.append(
            f"{passed}/{len(free)} without an RTO/RPO objective passed (their steps or "
            "steady state held)"
        )
    caption = "; ".join(parts) or "no scenario has an RTO/RPO objective"
    if stuck:
        caption += f"; {len(stuck)} rollback failed (the environment may be degraded)"
    if skipped:
        caption += f"; {skipped} skipped in {doc.get('mode', 'isolated')} mode"
    dry = sum(1 for sc in doc["scenarios"] if sc.get("dry") and sc["met"] is None)
    if dry:
        caption += f"; {dry} dry run (nothing injected or checked: no DR test)"
    # "0/1 met their objectives" of an aborted run read as a miss: it was not judged
    unjudged = [sc for sc in aimed if sc["met"] is None and not sc.get("dry")]
    if unjudged:
        why = ", ".join(sorted({sc["status"] for sc in unjudged}))
        caption += f"; {len(unjudged)} not judged ({why})"
    table = Table(
        # an isolated run left production alone (a clone promoted, a restore beside it):
        # said as the reports say it, "on lab (isolated)", or it read as the real thing
        title=f"{doc['drill']} on {doc['env']}"
        + (" (isolated)" if doc.get("mode") == "isolated" else "")
        + f": {doc['status']}"
        + (" (dry run)" if dry else ""),
        title_justify="left",
        caption=caption,
        caption_justify="left",
    )
    table.add_column("scenario", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("RTO", justify="right", no_wrap=True)
    table.add_column("RPO", justify="right", no_wrap=True)
    table.add_column("lost\nwrites", justify="right", no_wrap=True)
    table.add_column("objective\nRTO / RPO", no_wrap=True)
    table.add_column("met?", no_wrap=True)
    for sc in doc["scenarios"]:
        obj = sc["objectives"]
        objective = (
            f"≤ {_short(obj['rto_s'])} / ≤ {_short(obj['rpo_s'])}" if _has_objective(sc) else "—"
        )
        met = {True: "[green]yes[/]", False: "[red]NO[/]", None: "[yellow]not judged[/]"}[sc["met"]]
        if sc["met"] is not None and not _has_objective(sc):  # nothing to meet: how it ended
            met = "[green]passed[/]" if sc["met"] else "[red]failed[/]"
            if sc["met"] and sc in stuck:
                met = "[red]rollback failed[/]"
        if sc.get("skipped"):
            met = "—"
        elif sc.get("dry") and sc["met"] is None:
            met = "[yellow]dry run[/]"
        status = "[yellow]skipped[/] (live-only)" if sc.get("skipped") else sc["status"]
        table.add_row(
            sc["id"],
            status,
            _against(sc["rto_s"], obj["rto_s"]),
            _against(sc["rpo_s"], obj["rpo_s"]),
            "—" if sc["lost_writes"] is None else str(sc["lost_writes"]),
            objective,
            met,
        )
    return table
