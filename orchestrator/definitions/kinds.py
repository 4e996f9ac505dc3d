"""What kind a definition is, the values definitions are made of, and objectives.

Runbooks and drills are pydantic models (:mod:`orchestrator.definitions.models`), built
from these. An experiment is a plain Chaos Toolkit document that chaoslib validates, so
`drill run` of an experiment needs only this module (objectives: a plan has them for
every scenario): it never creates the runbook and drill model classes, whose creation
alone was ~3 ms of its start-up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from orchestrator.durations import parse_duration

Seconds = Annotated[float, BeforeValidator(parse_duration)]

ID_PATTERN = r"^[a-z0-9][a-z0-9-]*$"


class DefinitionKind(StrEnum):
    DRILL = "drill"
    RUNBOOK = "runbook"
    EXPERIMENT = "experiment"


class StepKind(StrEnum):
    ACTION = "action"
    PROBE = "probe"
    WAIT = "wait"
    MANUAL = "manual"


class Mark(StrEnum):
    """Timing marks a step can set (DESIGN section 7)."""

    FAULT_INJECTED = "fault_injected"
    SERVICE_RESTORED = "service_restored"


class RunMode(StrEnum):
    LIVE = "live"
    ISOLATED = "isolated"


class StopPolicy(StrEnum):
    STOP = "stop"  # first failing scenario ends the drill
    CONTINUE = "continue"  # run every scenario, report all


IsolatedPolicy = Literal["run", "skip", "only"]


def runs_in(policy: str, mode: RunMode) -> bool:
    """Whether a step/verification with this ``isolated`` policy runs in ``mode``."""
    if mode is RunMode.ISOLATED:
        return policy != "skip"
    return policy != "only"


class Objectives(BaseModel):
    """A scenario's recovery objectives, in seconds (durations such as `4h` accepted)."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    rto: Seconds | None = Field(None, description="recovery time objective")
    rpo: Seconds | None = Field(None, description="recovery point objective")


#: a drill's objectives where it sets none (DESIGN 3: the reference architecture's
#: RTO < 4 h, RPO < 1 h), each on its own: `objectives: {rto: 2h}` keeps RPO 1 h
DEFAULT_OBJECTIVES = Objectives.model_construct(rto=4 * 3600.0, rpo=3600.0)

#: where an objective of a scenario came from (``objectives_from`` in plans, run
#: documents and the scenario's evidence), in words for people
OBJECTIVE_SOURCES = {
    "scenario": "the drill's objectives for this scenario",
    "runbook": "the runbook's own objectives",
    "drill": "the drill's objectives",
    "default": "the default objectives (RTO 4h, RPO 1h)",
}


def effective_objectives(
    layers: list[tuple[str, Objectives]], drill: Objectives | None
) -> tuple[Objectives, dict[str, str]]:
    """The objectives a scenario is judged by, and where each came from.

    In a drill (``drill`` given: its own objectives, the default filling each one it
    leaves out) every layer can only tighten: the strictest of the scenario's, the
    runbook's and the drill's applies, so a drill asking for RTO 60s is not loosened by
    a runbook that allows 1h, nor a runbook's 2m by a scenario that says 1h. On a tie
    the most specific layer (listed first) is named. Run alone (``drill`` None), a
    runbook's own objectives stand; the default only fills one it leaves out.
    """
    values: dict[str, float] = {}
    sources: dict[str, str] = {}
    for key in ("rto", "rpo"):
        found = [(getattr(o, key), name) for name, o in layers if getattr(o, key) is not None]
        default = (getattr(DEFAULT_OBJECTIVES, key), "default")
        if drill is not None:
            own = getattr(drill, key)
            found.append((own, "drill") if own is not None else default)
        elif not found:
            found.append(default)
        value = min(v for v, _ in found)
        values[key] = value
        sources[key] = next(name for v, name in found if v == value)
    return Objectives.model_construct(rto=values["rto"], rpo=values["rpo"]), sources


@dataclass
class Experiment:
    """A Chaos Toolkit experiment document, with the id drill knows it by.

    A plain dataclass, not a model: chaoslib validates the document, and `drill run` of an
    experiment builds no pydantic validator of drill's (each would cost start-up time,
    the first one also pydantic's plugin discovery: see config.load_settings)."""

    id: str
    title: str
    document: dict[str, Any]
    #: drill validate's objections that chaos does not share (see experiment_check)
    warnings: list[str] = field(default_factory=list)
