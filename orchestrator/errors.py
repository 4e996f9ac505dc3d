"""One error hierarchy for the whole package.

Library code raises these; only the CLI maps them to exit codes and prints
``drill: error: …``. Each error carries a ``hint`` telling the user what to do next.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class ExitStatus(IntEnum):
    """Process exit codes (Contract, DESIGN section 5)."""

    OK = 0
    FAILED = 1  # ran; an objective was missed or a step failed
    USAGE = 2  # usage error, invalid definition or config
    ABORTED = 3  # aborted by signal or `drill abort`, rollbacks done


@dataclass(frozen=True)
class Problem:
    """One validation problem, located in a file as precisely as we can."""

    message: str
    file: str | None = None
    line: int | None = None
    path: str | None = None  # YAML path such as ``steps[2].action``

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = self.file + (f":{self.line}" if self.line else "")
        loc = f" ({self.path})" if self.path else ""
        return f"{where}{': ' if where else ''}{self.message}{loc}"


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (a driver's error can run to many), or
    its class name when it has none: for a one-line error that says what failed."""
    return (str(exc).strip().splitlines() or [exc.__class__.__name__])[0]


def shown(value: str, limit: int = 80) -> str:
    """``value`` quoted for a message, cut to ``limit`` characters with an ellipsis and
    its length when longer: an id echoed back from a request or a command line (a 20 KB
    run id in a dashboard's URL) must not become a 20 KB message."""
    if len(value) <= limit:
        return repr(value)
    return f"{value[: limit - 1] + '…'!r} ({len(value)} characters)"


class DrillError(Exception):
    """Root of every error drill raises on purpose."""

    exit_status: ExitStatus = ExitStatus.FAILED

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(DrillError):
    """The command line or the configuration is wrong (exit 2)."""

    exit_status = ExitStatus.USAGE


class ConfigError(UsageError):
    """drill.yaml or a DRILL_* variable is invalid."""


class NotFoundError(UsageError):
    """An id (drill, runbook, experiment, run, environment) does not exist."""


class DefinitionError(UsageError):
    """One or more definitions are invalid; carries *all* problems found."""

    def __init__(self, problems: list[Problem], hint: str | None = None) -> None:
        self.problems = problems
        if len(problems) == 1:  # one line that names its file:line, like every error
            message, default_hint = str(problems[0]), "fix it, then run `drill validate`"
        else:
            summary = "\n".join(f"  {p}" for p in problems)
            message = f"{len(problems)} problem(s) in definitions:\n{summary}"
            default_hint = "fix the lines above, then run `drill validate`"
        super().__init__(message, hint or default_hint)


class UnknownTarget(ConfigError):
    """A step names a role (``target``, ``record``, ``to``, …) the environment does not
    have: refused by ``drill plan`` and before ``drill run`` starts, with the step's
    file:line, not found at that step in the middle of a run."""

    def __init__(self, message: str, hint: str | None, name: str) -> None:
        super().__init__(message, hint)
        self.name = name


class EnvironmentLocked(UsageError):
    """Another run holds the environment's lock; nothing was started."""


class ConfirmationRequired(UsageError):
    """A mutating run on a protected environment needs ``--yes``."""


class StoreUnavailable(UsageError):
    """The evidence database cannot be reached or opened."""


class ProviderError(DrillError):
    """A provider call failed (exit 1 when it happens during a run)."""


class PermissionDenied(ProviderError):
    """The credentials lack a permission an action declared it needs."""


class StepFailed(DrillError):
    """A step of a run failed."""


class RollbackFailed(DrillError):
    """A rollback failed: the environment may be left degraded. Loud on purpose."""


class Aborted(DrillError):
    """The run was aborted (SIGINT, SIGTERM or ``drill abort``); rollbacks ran."""

    exit_status = ExitStatus.ABORTED


class LabError(DrillError):
    """The local DR lab could not do what was asked."""


class EvidenceTampered(DrillError):
    """The evidence hash chain or an export bundle does not verify (exit 1)."""


class RecordImmutable(DrillError):
    """An attempt to change evidence of a finished run, or the chain itself."""
