"""The embedded local DR lab (DESIGN section 6): a real Multi-AZ + cross-region
PostgreSQL topology on 127.0.0.1 with real faults.

Public helpers (imported lazily so ``import orchestrator.providers.lab`` stays cheap):
:func:`status`, :func:`lab_up`, :func:`lab_down`, :func:`lab_reset`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orchestrator.config import EnvironmentConfig, Settings
    from orchestrator.providers.lab.state import LabState


def status(settings: Settings) -> dict[str, Any]:
    """The ``drill lab status --json`` document (a Contract)."""
    from orchestrator.providers.lab.lifecycle import status as _status

    return _status(settings)


def lab_up(
    settings: Settings, env_cfg: EnvironmentConfig | None = None, log: Any = lambda _m: None
) -> LabState:
    """Bring the lab up if it is not running (idempotent); returns its state."""
    from orchestrator.providers.lab.lifecycle import lab_up as _up

    return _up(settings, env_cfg, log)


def pending_change(settings: Settings) -> str | None:
    """What bringing the lab up would change now (None: running and healthy); read only."""
    from orchestrator.providers.lab.lifecycle import pending_change as _pending

    return _pending(settings)


def lab_down(settings: Settings, log: Any = lambda _m: None) -> dict[str, Any]:
    """Stop every lab process and remove its data; no process or port is left."""
    from orchestrator.providers.lab.lifecycle import lab_down as _down

    return _down(settings, log)


def lab_reset(
    settings: Settings, env_cfg: EnvironmentConfig | None = None, log: Any = lambda _m: None
) -> LabState:
    """``lab down`` then ``lab up``: a fresh lab."""
    from orchestrator.providers.lab.lifecycle import lab_reset as _reset

    return _reset(settings, env_cfg, log)


def gone(settings: Settings) -> bool:
    """Whether nothing of the lab runs any more — never built, or every one of its
    processes dead (the host restarted, or they were killed outside drill). A fault
    injected into the lab lived in those processes and their data, which the next
    ``lab up`` rebuilds from scratch: there is nothing left for a rollback to undo."""
    from orchestrator.providers.lab import procs
    from orchestrator.providers.lab.state import lab_dir, load

    st = load(lab_dir(settings.state_path()))
    return st is None or all(
        procs.state(c.pid, c.start_ticks) == "dead" for c in st.components.values()
    )
