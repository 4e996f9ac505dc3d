"""Framework mappings: YAML data validated by pydantic, evaluated against report data."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from orchestrator.errors import DefinitionError, UsageError
from orchestrator.report.model import ControlResult, ReportData

FRAMEWORKS_DIR = Path(__file__).resolve().parent / "frameworks"
TOKEN = r"^[A-Za-z_][A-Za-z0-9_.\-]*$"  # OSCAL token: what control-ids must look like


class Control(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="the control's id as the framework writes it")
    oscal_id: str = Field(pattern=TOKEN, description="OSCAL control-id (a token)")
    title: str
    description: str
    evidence: list[str] = Field(min_length=1, description="evidence kinds that back it")

    @field_validator("evidence")
    @classmethod
    def _known(cls, kinds: list[str]) -> list[str]:
        from orchestrator.compliance.kinds import KINDS

        unknown = [k for k in kinds if k not in KINDS]
        if unknown:
            raise ValueError(f"unknown evidence kind(s) {unknown}; valid: {KINDS.names()}")
        return kinds


class Framework(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    title: str
    controls: list[Control] = Field(min_length=1)


def framework_names() -> list[str]:
    return sorted(p.stem for p in FRAMEWORKS_DIR.glob("*.yaml"))


@cache
def load_framework(name: str) -> Framework:
    from orchestrator.yamlsrc import load_file, pydantic_problems

    path = FRAMEWORKS_DIR / f"{name}.yaml"
    if not path.is_file():
        raise UsageError(
            f"unknown framework {name!r}", f"choose one of: {', '.join(framework_names())}"
        )
    doc = load_file(path)
    try:
        fw = Framework.model_validate(doc.data)
    except ValidationError as exc:
        raise DefinitionError(pydantic_problems(doc, exc)) from None
    if fw.id != name:
        raise DefinitionError([doc.problem(f"id {fw.id!r} must match the file name", ["id"])])
    return fw


def evaluate(data: ReportData, names: list[str]) -> list[ControlResult]:
    """Each control of each framework: which kinds are present, with their evidence."""
    from orchestrator.compliance.kinds import KINDS

    collected = {name: KINDS.get(name).collect(data) for name in KINDS}
    results = []
    for name in names:
        fw = load_framework(name)
        for c in fw.controls:
            missing = [k for k in c.evidence if not collected[k].present]
            results.append(
                ControlResult(
                    framework=fw.id,
                    framework_title=fw.title,
                    control_id=c.id,
                    oscal_id=c.oscal_id,
                    title=c.title,
                    description=c.description,
                    evidence_kinds=c.evidence,
                    evidence_meaning={k: KINDS.get(k).description for k in c.evidence},
                    satisfied=not missing,
                    evidence={k: collected[k].refs for k in c.evidence},
                    missing=[_why(k, collected[k].gap) for k in missing],
                )
            )
    return results


def _why(kind: str, gap: str | None) -> str:
    """What is missing, in words an auditor reads without drill's glossary (a bare kind
    name such as ``backup_restore_tested`` said nothing of what was looked for)."""
    from orchestrator.compliance.kinds import KINDS

    return f"{kind}: {gap or 'nothing in this export shows that ' + KINDS.get(kind).description}"
