"""What a lab action really changed, so its plan can be checked against it.

Each mutating lab primitive (a signal to a component, a proxy change, pg_promote, a
new server, DDL, a vault backup, removing an instance) calls :func:`note` with a
``target:kind`` key. :meth:`LabProvider.execute` records the keys of one action and
compares them with the ``effects`` its plan lists, like the AWS provider compares its
API journal with its plan. Outside a recording (``drill lab up``, the controller
process) :func:`note` does nothing. A context variable, not a global: only the thread
running the action records.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orchestrator.providers.base import PlannedCall

_current: ContextVar[list[str] | None] = ContextVar("lab_journal", default=None)


def note(target: str, kind: str) -> None:
    """Record that ``kind`` was done to a ``target`` (a kind of component)."""
    made = _current.get()
    if made is not None:
        made.append(f"{target}:{kind}")


@contextmanager
def recording() -> Iterator[list[str]]:
    """The keys noted while the block runs, in order."""
    made: list[str] = []
    token = _current.set(made)
    try:
        yield made
    finally:
        _current.reset(token)


def unplanned(planned: list[PlannedCall], made: list[str]) -> list[str]:
    """Keys recorded that none of the action's planned calls lists, each once."""
    allowed = {e for p in planned for e in p.effects}
    return sorted({m for m in made if m not in allowed})
