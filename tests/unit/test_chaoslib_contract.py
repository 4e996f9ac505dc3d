"""What drill relies on in chaoslib: if a chaoslib release changes any of it, this fails.

drill hooks into chaoslib only through public extension points
(:mod:`orchestrator.engine.experiment`): the ``Runner`` with a registered
``RunEventHandler``, ``merge_vars``/``convert_vars``, ``load_global_controls``,
``load_settings``, ``run_rollbacks`` and the journal's keys. Each test below pins one
of those facts with a real run of a tiny experiment (no mocks).
"""

from __future__ import annotations

import inspect
import os
import signal
import threading
from pathlib import Path
from typing import Any

import pytest

chaoslib_run = pytest.importorskip("chaoslib.run")

JOURNAL_KEYS = {"status", "deviated", "steady_states", "run", "rollbacks", "start"}


class Stop(BaseException):
    """Stands for drill's AbortSignal: a BaseException raised by a signal handler."""


def _experiment(method_func: str = "exists", rollbacks: bool = True) -> dict[str, Any]:
    probe = {
        "type": "probe",
        "name": "root-exists",
        "tolerance": True,
        "provider": {
            "type": "python",
            "module": "os.path",
            "func": "exists",
            "arguments": {"path": "/"},
        },
    }
    exp: dict[str, Any] = {
        "title": "contract",
        "description": "pins chaoslib's behaviour",
        "steady-state-hypothesis": {"title": "root", "probes": [probe]},
        "method": [
            {
                "type": "action",
                "name": "act",
                "provider": {
                    "type": "python",
                    "module": "tests.unit.test_chaoslib_contract",
                    "func": method_func,
                },
            }
        ],
    }
    if rollbacks:
        exp["rollbacks"] = [
            {"type": "action", "name": "undo", "provider": {"type": "process", "path": "false"}}
        ]
    return exp


def exists() -> bool:
    return True


def sigterm_self() -> bool:
    os.kill(os.getpid(), signal.SIGTERM)
    return True


def _run(
    exp: dict[str, Any],
    handler: Any,
    settings: dict[str, Any] | None = None,
    journal: dict[str, Any] | None = None,
) -> dict[str, Any]:
    from chaoslib.types import Strategy

    with chaoslib_run.Runner(Strategy.DEFAULT) as runner:
        runner.register_event_handler(handler)
        return runner.run(exp, settings or {}, experiment_vars=({}, {}), journal=journal)


def test_public_names_and_signatures() -> None:
    from chaoslib import convert_vars, merge_vars
    from chaoslib.control import load_global_controls
    from chaoslib.rollback import run_rollbacks
    from chaoslib.settings import CHAOSTOOLKIT_CONFIG_PATH, load_settings
    from chaoslib.types import Dry, Schedule, Strategy

    assert {"experiment", "settings", "experiment_vars", "journal"} <= set(
        inspect.signature(chaoslib_run.Runner.run).parameters
    )
    assert list(inspect.signature(chaoslib_run.Runner).parameters)[:2] == ["strategy", "schedule"]
    assert callable(chaoslib_run.Runner.register_event_handler)
    for name in (
        "started",
        "start_method",
        "start_hypothesis_after",
        "start_rollbacks",
        "rollbacks_completed",
        "start_activity",
        "activity_completed",
    ):
        assert callable(getattr(chaoslib_run.RunEventHandler, name)), name
    assert {"fail_fast", "continuous_hypothesis_frequency"} <= set(
        inspect.signature(Schedule).parameters
    )
    assert Strategy.from_string("continuously") is Strategy.CONTINUOUS
    assert Dry.from_string("actions") is Dry.ACTIONS and Dry.from_string(None) is None
    assert convert_vars(["n:int=3", "s=x"]) == {"n": 3, "s": "x"}
    assert merge_vars({"a": 1}, []) == ({"a": 1}, {})
    assert list(inspect.signature(load_global_controls).parameters)[:2] == [
        "settings",
        "control_files",
    ]
    assert "runs" in inspect.signature(run_rollbacks).parameters
    assert CHAOSTOOLKIT_CONFIG_PATH.endswith("settings.yaml") and callable(load_settings)


def test_journal_keys_and_event_order() -> None:
    seen: list[str] = []

    class Handler(chaoslib_run.RunEventHandler):
        def started(self, experiment: Any, journal: Any) -> None:
            seen.append("started")

        def start_method(self, experiment: Any) -> None:
            seen.append("method")

        def start_hypothesis_after(self, experiment: Any) -> None:
            seen.append("after")

        def start_rollbacks(self, experiment: Any) -> None:
            seen.append("rollbacks")

        def rollbacks_completed(self, experiment: Any, journal: Any) -> None:
            seen.append("rollbacks-done")

        def activity_completed(self, activity: Any, run: Any) -> None:
            seen.append(f"done:{activity['name']}")

    settings = {"runtime": {"rollbacks": {"strategy": "always"}}}
    journal = chaoslib_run.initialize_run_journal(_experiment())
    out = _run(_experiment(), Handler(), settings, journal)
    assert out is journal, "chaoslib fills in the journal drill passes (drill keeps it on abort)"
    assert JOURNAL_KEYS | {"end", "duration"} <= set(out)
    assert out["status"] == "completed" and out["deviated"] is False
    assert seen == [
        "started",
        "done:root-exists",
        "method",
        "done:act",
        "after",
        "done:root-exists",
        "rollbacks",
        "done:undo",
        "rollbacks-done",
    ]
    # a process rollback that exits 1 is "succeeded" to chaoslib: drill checks the status
    undo = out["rollbacks"][0]
    assert undo["status"] == "succeeded" and undo["output"]["status"] == 1


@pytest.mark.skipif(
    threading.current_thread() is not threading.main_thread(), reason="signals need the main thread"
)
def test_started_runs_after_chaoslib_installs_its_handlers_and_ours_then_wins() -> None:
    """drill puts its SIGTERM handler back in ``started``; a signal then reaches it."""
    mine_was_replaced: list[bool] = []

    def mine(signum: int, frame: Any) -> None:
        raise Stop()

    class Handler(chaoslib_run.RunEventHandler):
        def started(self, experiment: Any, journal: Any) -> None:
            mine_was_replaced.append(signal.getsignal(signal.SIGTERM) is not mine)
            signal.signal(signal.SIGTERM, mine)

    previous = signal.signal(signal.SIGTERM, mine)
    journal = chaoslib_run.initialize_run_journal(_experiment("sigterm_self", False))
    try:
        with pytest.raises(Stop):  # a BaseException passes through the python provider
            _run(_experiment("sigterm_self", False), Handler(), journal=journal)
        assert mine_was_replaced == [True], "chaoslib installs its handler before `started`"
        assert signal.getsignal(signal.SIGTERM) is mine, "chaoslib restores ours on exit"
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert journal["status"] is None, "drill closes an interrupted journal itself"


def test_global_controls_from_a_control_file(tmp_path: Path) -> None:
    from chaoslib.control import get_global_controls, load_global_controls

    ctl = tmp_path / "controls.yaml"
    ctl.write_text(
        "my-ctl:\n  provider:\n    type: python\n    module: tests.corpus.controls.counter\n"
    )
    load_global_controls({}, [str(ctl)])
    try:
        assert [c["name"] for c in get_global_controls()] == ["my-ctl"]
    finally:
        from chaoslib.control import cleanup_global_controls

        cleanup_global_controls()
