"""Run a Chaos Toolkit experiment through chaoslib, with drill's guarantees.

chaoslib runs the experiment and keeps its journal (stored as an artifact). Two
things drill adds:

* every activity's start and end is committed to the evidence DB as it happens
  (a chaoslib event handler);
* rollbacks always run — on failure, on SIGTERM (chaoslib's own handler, with
  the ``always`` rollback strategy) and on SIGINT / ``drill abort`` (our
  :class:`AbortSignal` escapes chaoslib, so we play the rollbacks ourselves).
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from orchestrator.engine.recorder import Recorder
from orchestrator.engine.reporter import Reporter
from orchestrator.engine.signals import AbortSignal
from orchestrator.evidence.enums import StepPhase, StepStatus
from orchestrator.evidence.records import ScenarioRun, StepRun

ROLLBACK_KIND = "experiment-rollbacks"


@dataclass
class ExperimentOutcome:
    status: str  # completed | failed | deviated | interrupted | aborted
    journal: dict[str, Any]
    rollbacks_ok: bool
    error: str | None = None


def _quiet_chaoslib() -> None:
    """chaoslib logs to the root "chaostoolkit" logger; drill reports progress itself."""
    for name in ("chaostoolkit", "chaoslib"):
        logger = logging.getLogger(name)
        logger.setLevel(logging.ERROR)
        logger.propagate = False
        if not logger.handlers:
            logger.addHandler(logging.NullHandler())


def prepare_document(document: dict[str, Any], extra_config: dict[str, Any]) -> dict[str, Any]:
    doc = copy.deepcopy(document)
    doc.setdefault("configuration", {}).update(extra_config)
    return doc


def run_rollback_activities(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Play an experiment's rollbacks outside chaoslib's runner (abort / recovery)."""
    from concurrent.futures import ThreadPoolExecutor

    from chaoslib.configuration import load_configuration
    from chaoslib.rollback import run_rollbacks
    from chaoslib.secret import load_secrets

    _quiet_chaoslib()
    configuration = load_configuration(doc.get("configuration", {}))
    secrets = load_secrets(doc.get("secrets", {}), configuration)
    runs: list[dict[str, Any]] = []
    with ThreadPoolExecutor(max_workers=1) as pool:
        for result in run_rollbacks(doc, configuration, secrets, pool, None, runs=runs):
            run = result.result() if hasattr(result, "result") else result
            if run is not None:
                runs.append(run)
    return runs


def _event_handler(recorder: Recorder, scenario: ScenarioRun, reporter: Reporter) -> Any:
    from chaoslib.run import RunEventHandler

    class Journaling(RunEventHandler):
        """Commits each activity's start and end as it happens."""

        def __init__(self) -> None:
            self.open: dict[str, StepRun] = {}
            self.phase = StepPhase.PRECONDITION

        def start_method(self, experiment: Any) -> None:
            self.phase = StepPhase.STEP

        def start_hypothesis_after(self, experiment: Any) -> None:
            self.phase = StepPhase.VERIFICATION

        def start_rollbacks(self, experiment: Any) -> None:
            self.phase = StepPhase.ROLLBACK

        def start_activity(self, activity: Any) -> None:
            name = str(activity.get("name", "activity"))
            reporter.step_started(self.phase.value, name)
            self.open[name] = recorder.step_started(
                scenario, self.phase, name, str(activity.get("type", "activity")),
                action=_activity_target(activity), args=activity.get("provider", {}).get(
                    "arguments") if isinstance(activity.get("provider"), dict) else None)

        def activity_completed(self, activity: Any, run: Any) -> None:
            name = str(activity.get("name", "activity"))
            step = self.open.pop(name, None)
            if step is None or run is None:
                return
            ok = run.get("status") == "succeeded"
            reporter.step_finished(self.phase.value, name, "succeeded" if ok else "failed",
                                   None if ok else str(run.get("exception", ""))[-300:])
            recorder.step_finished(step, StepStatus.SUCCEEDED if ok else StepStatus.FAILED,
                                   run.get("output"), run.get("exception") and
                                   "".join(run["exception"])[-2000:])

    return Journaling()


@contextlib.contextmanager
def _drill_owns_signals() -> Iterator[None]:
    """Keep drill's SIGINT/SIGTERM handlers while chaoslib runs.

    chaoslib's Runner installs its own SIGTERM handler, which turns the signal into a
    failed activity inside the method; drill's handler aborts the run and plays the
    rollbacks instead, the same way for SIGINT, SIGTERM and `drill abort`.
    """
    import chaoslib.run

    original = chaoslib.run.exit_signals
    chaoslib.run.exit_signals = contextlib.nullcontext
    try:
        yield
    finally:
        chaoslib.run.exit_signals = original


def _activity_target(activity: dict[str, Any]) -> str | None:
    provider = activity.get("provider") or {}
    if provider.get("type") == "python":
        return f"{provider.get('module')}.{provider.get('func')}"
    if provider.get("type") == "process":
        return str(provider.get("path"))
    if provider.get("type") == "http":
        return str(provider.get("url"))
    return None


def run_experiment_scenario(doc: dict[str, Any], recorder: Recorder,
                            scenario: ScenarioRun, reporter: Reporter,
                            source: str | None = None) -> ExperimentOutcome:
    """Run ``doc`` (from the file ``source``: where recovery re-reads its secrets)."""
    from chaoslib.run import Runner, initialize_run_journal
    from chaoslib.types import Strategy

    _quiet_chaoslib()
    pending: StepRun | None = None
    if doc.get("rollbacks"):
        pending = recorder.pending_rollback(
            scenario, "experiment rollbacks", ROLLBACK_KIND, ROLLBACK_KIND,
            {"document": doc, **({"source": source} if source else {})}, None)
    journal: dict[str, Any] = initialize_run_journal(doc)
    settings = {"runtime": {"rollbacks": {"strategy": "always"}}}
    aborted: AbortSignal | None = None
    error: str | None = None
    try:
        with _drill_owns_signals(), Runner(Strategy.DEFAULT) as runner:
            runner.register_event_handler(_event_handler(recorder, scenario, reporter))
            journal = runner.run(doc, settings, journal=journal)
    except AbortSignal as exc:
        aborted = exc
    except Exception as exc:  # chaoslib failing outside an activity
        error = f"{exc.__class__.__name__}: {exc}"
        journal["status"] = "failed"

    rollbacks_ok = True
    if pending is not None:
        rollback_runs = journal.get("rollbacks") or []
        if aborted is not None or error is not None:
            # chaoslib never reached its rollbacks: play them ourselves.
            try:
                rollback_runs = run_rollback_activities(doc)
            except Exception as exc:
                rollbacks_ok = False
                error = f"rollbacks failed: {exc}"
            journal["rollbacks"] = rollback_runs
        rollbacks_ok = rollbacks_ok and all(r.get("status") == "succeeded"
                                            for r in rollback_runs)
        recorder.step_finished(pending, StepStatus.SUCCEEDED if rollbacks_ok
                               else StepStatus.FAILED,
                               {"rollbacks": [r.get("activity", {}).get("name")
                                              for r in rollback_runs]},
                               None if rollbacks_ok else "an experiment rollback failed")
    content = json.dumps(journal, default=str, indent=2).encode()
    recorder.artifact(f"journal-{scenario.scenario_id}.json", content, "application/json",
                      scenario)
    if aborted is not None:
        raise aborted
    status = str(journal.get("status", "failed"))
    if journal.get("deviated"):
        status = "deviated"
    failed_runs = [r.get("activity", {}).get("name") for r in journal.get("run") or []
                   if r.get("status") == "failed"]
    if status == "completed" and failed_runs:
        # chaoslib tolerates failing method activities; a DR drill does not.
        status = "failed"
        error = error or f"activity failed: {', '.join(map(str, failed_runs))}"
    return ExperimentOutcome(status, journal, rollbacks_ok, error)
