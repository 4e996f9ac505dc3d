"""A control that records every hook it sees in ``${workdir}/controls.log``.

Used as an experiment-level control and as a global control (``--control-file``);
the log shows that drill applies controls where chaos does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _log(configuration: dict[str, Any] | None, what: str) -> None:
    workdir = (configuration or {}).get("workdir")
    if workdir and Path(workdir).is_dir():
        with (Path(workdir) / "controls.log").open("a") as f:
            f.write(what + "\n")


def before_experiment_control(context: Any, configuration: Any = None, **kwargs: Any) -> None:
    _log(configuration, "before-experiment")


def after_experiment_control(
    context: Any, state: Any, configuration: Any = None, **kwargs: Any
) -> None:
    _log(configuration, f"after-experiment:{state.get('status')}")


def before_activity_control(context: Any, configuration: Any = None, **kwargs: Any) -> None:
    _log(configuration, f"before-activity:{context.get('name')}")


def after_rollback_control(
    context: Any, state: Any, configuration: Any = None, **kwargs: Any
) -> None:
    _log(configuration, f"after-rollback:{len(state or [])}")
