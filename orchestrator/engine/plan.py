"""Resolve what a run will do: the target, its scenarios, their steps and objectives.

Shared by ``drill plan`` (which prints it) and ``drill run`` (which executes it), so
what the plan shows is exactly what runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.definitions.catalog import Catalog, definition_hash, scenario_ref
from orchestrator.definitions.kinds import (
    DefinitionKind,
    Experiment,
    Mark,
    Objectives,
    RunMode,
    StepKind,
    StopPolicy,
    effective_objectives,
    runs_in,
)
from orchestrator.engine.experiment_options import DryMode, ExperimentOptions, experiment_change
from orchestrator.errors import DefinitionError, NotFoundError, UsageError

if TYPE_CHECKING:  # runbooks and drills only: an experiment's plan never needs them
    from orchestrator.config import EnvironmentConfig, Settings
    from orchestrator.definitions.models import Drill, Runbook, Step, Verification

#: an experiment's: drill's probes measure runbooks, and its steady-state hypothesis
#: decides an experiment (in a drill too: the drill's objectives would read "RTO ≤ 4h:
#: met" where no RTO was measured, and count as objectives met in evidence exports)
NO_OBJECTIVES = Objectives.model_construct()

LIVE_ONLY = "live-only scenario: it disrupts production by nature, so isolated mode does not run it"


def foreign_actions(document: dict[str, Any]) -> list[str]:
    """The names of an experiment's actions that are not drill's own extension (chaosaws,
    a process, an HTTP call…): drill tells its own activities the run's mode, and they
    act on a clone in isolated mode; these would act on production all the same."""
    out = []
    for act in [*(document.get("method") or []), *(document.get("rollbacks") or [])]:
        if not isinstance(act, dict) or act.get("type") != "action":
            continue
        prov = act.get("provider")
        prov = prov if isinstance(prov, dict) else {}
        if not (
            prov.get("type") == "python"
            and str(prov.get("module", "")).startswith("orchestrator.chaos.")
        ):
            out.append(str(act.get("name") or "(unnamed)"))
    return list(dict.fromkeys(out))


@dataclass
class ScenarioPlan:
    """One scenario as it will run: a runbook or an experiment, with its objectives."""

    seq: int
    scenario_id: str
    kind: DefinitionKind  # RUNBOOK | EXPERIMENT
    ref: str
    objectives: Objectives
    runbook: Runbook | None = None
    experiment: Experiment | None = None
    path: Path | None = None
    vars: dict[str, Any] = field(default_factory=dict)  # a drill's experiment scenario
    var_files: list[Path] = field(default_factory=list)
    #: where each objective came from: {"rto": "scenario"|"runbook"|"drill"|"default", …}
    objectives_from: dict[str, str] = field(default_factory=dict)

    @property
    def title(self) -> str:
        if self.runbook:
            return self.runbook.title
        return self.experiment.title if self.experiment else self.ref

    def skipped(self, mode: RunMode) -> str | None:
        """Why this scenario does not run in ``mode`` (None: it runs)."""
        if mode is not RunMode.ISOLATED:
            return None
        if self.runbook and not self.runbook.isolated_supported:
            return LIVE_ONLY
        foreign = foreign_actions(self.experiment.document) if self.experiment else []
        if foreign:
            return (
                f"its actions {', '.join(foreign)} are not drill's (orchestrator.chaos): "
                "drill cannot keep them off production, so isolated mode does not run it"
            )
        return None

    def steps_for(self, mode: RunMode) -> list[Step]:
        if not self.runbook:
            return []
        return [s for s in self.runbook.steps if runs_in(s.isolated, mode)]

    def preconditions_for(self, mode: RunMode) -> list[Step]:
        if not self.runbook:
            return []
        return [s for s in self.runbook.preconditions if runs_in(s.isolated, mode)]

    def verification_for(self, mode: RunMode) -> list[Verification]:
        if not self.runbook:
            return []
        return [v for v in self.runbook.verification if runs_in(v.isolated, mode)]

    def verification_steps(self, mode: RunMode) -> list[Step]:
        """The verification as the probe steps it runs as (plan and run alike)."""
        from orchestrator.definitions.models import Step

        return [
            Step(name=v.name or v.action, kind=StepKind.PROBE, action=v.action, args=v.args)
            for v in self.verification_for(mode)
        ]

    def rollback_for(self, mode: RunMode) -> list[Step]:
        if not self.runbook:
            return []
        return [s for s in self.runbook.rollback if runs_in(s.isolated, mode)]

    def change(
        self, mode: RunMode, dry: DryMode | None = None, controls: bool = False
    ) -> str | None:
        """What in the scenario would change the environment (None: nothing): a
        runbook's action step or rollback; an experiment's, as chaoslib runs it with
        ``dry`` and ``controls`` (global ones), see :func:`experiment_change`."""
        if self.skipped(mode):
            return None
        if self.experiment is not None:
            return experiment_change(self.experiment.document, dry, controls)
        assert self.runbook is not None
        for step in [*self.steps_for(mode), *self.rollback_for(mode)]:
            if step.kind is StepKind.ACTION:
                return f"step {step.title!r} is an action"
        return None

    def uses_provider(self, mode: RunMode) -> bool:
        """Whether the run calls the environment's provider for this scenario — and so
        prepares it first (the lab: brings it up, repairs it): a runbook step, check or
        rollback naming an action, or a timing mark the probes measure."""
        if self.runbook is None or self.skipped(mode):
            return False
        steps = [*self.preconditions_for(mode), *self.steps_for(mode), *self.rollback_for(mode)]
        return bool(self.verification_for(mode)) or any(
            s.action or s.mark or s.until for s in steps
        )

    def mutating(self, mode: RunMode) -> bool:
        """Whether the scenario would change anything in the environment."""
        return self.change(mode) is not None

    def destructive(self, mode: RunMode) -> bool:
        if self.skipped(mode):
            return False
        if self.experiment is not None:
            return self.mutating(mode)
        from orchestrator.actions import ACTIONS  # not needed by a plain experiment

        for step in self.steps_for(mode):
            if step.action and ACTIONS.get(step.action).destructive:
                return True
        return False


@dataclass
class RunPlan:
    """Everything a `drill run` (or `drill plan`) of one target does, scenario by scenario."""

    target: str
    kind: DefinitionKind
    title: str
    mode: RunMode
    stop_policy: StopPolicy
    scenarios: list[ScenarioPlan]
    definition_hashes: dict[str, str] = field(default_factory=dict)
    schedule: str | None = None
    #: what the definitions say that does not apply (a scenario objective looser than
    #: its runbook's): `drill validate`, `plan` and `run` print them, nothing is refused
    warnings: list[str] = field(default_factory=list)

    def change(self, opts: ExperimentOptions | None = None) -> str | None:
        """Why a run of the plan with chaos's options ``opts`` would change the
        environment (None: it would not). Chaos's settings are read (for their global
        controls) only when an experiment runs."""
        opts = opts or ExperimentOptions()
        controls = False
        if any(sc.experiment is not None for sc in self.scenarios):
            from orchestrator.engine.experiment import global_controls

            controls = global_controls(opts)
        for sc in self.scenarios:
            why = sc.change(self.mode, opts.dry, controls)
            if why:
                return f"{sc.scenario_id}: {why}" if self.kind is DefinitionKind.DRILL else why
        return None

    @property
    def mutating(self) -> bool:
        """Whether a run without chaos's options would change the environment."""
        return self.change() is not None

    def lab_change(self, settings: Settings, env: EnvironmentConfig) -> str | None:
        """What a run of the plan on lab environment ``env`` would change in the lab
        before its first step — the run prepares the lab (starts it, repairs what is
        wrong) when a step calls the provider; None when it would not (read only)."""
        if env.provider != "lab" or not any(sc.uses_provider(self.mode) for sc in self.scenarios):
            return None
        from orchestrator.providers.lab import pending_change

        return pending_change(settings)


def build_plan(
    catalog: Catalog, ref: str, mode: str | None = None, only: list[str] | None = None
) -> RunPlan:
    """Load the target and everything it references; raise on any problem."""
    if mode not in (None, "live", "isolated"):
        raise UsageError(f"--mode must be live or isolated, not {mode!r}")
    kind, definition, path = catalog.resolve(ref)
    hashes = {str(path): definition_hash(path)}
    if isinstance(definition, Experiment):
        plan = RunPlan(
            definition.id,
            kind,
            definition.title,
            RunMode(mode or "live"),
            StopPolicy.STOP,
            [
                ScenarioPlan(
                    1,
                    definition.id,
                    kind,
                    definition.id,
                    NO_OBJECTIVES,
                    None,
                    definition,
                    path,
                )
            ],
            hashes,
        )
        plan.warnings += definition.warnings  # what chaos only warns of (pycheck)
    else:
        plan = _model_plan(catalog, definition, path, mode, hashes)
        plan.warnings += _unmeasurable(plan)
    if only:
        known = [sc.scenario_id for sc in plan.scenarios]
        unknown = [o for o in only if o not in known]
        if unknown:
            raise NotFoundError(
                f"--only names unknown scenario(s): {', '.join(unknown)}",
                f"scenarios of {plan.target}: {', '.join(known)}",
            )
        plan.scenarios = [sc for sc in plan.scenarios if sc.scenario_id in only]
    return plan


def _model_plan(
    catalog: Catalog,
    definition: Drill | Runbook,
    path: Path,
    mode: str | None,
    hashes: dict[str, str],
) -> RunPlan:
    """The plan of a drill (its scenarios resolved) or of a runbook."""
    from orchestrator.definitions.models import Drill

    if isinstance(definition, Drill):
        problems = catalog.check_drill_refs(definition, str(path))
        if problems:
            raise DefinitionError(problems)
        scenarios: list[ScenarioPlan] = []
        warnings: list[str] = []
        for idx, sc in enumerate(definition.scenarios, 1):
            if sc.runbook:
                rb, rb_path = catalog.runbook(scenario_ref(sc.runbook, path))
                objectives, sources = effective_objectives(
                    [("scenario", sc.objectives), ("runbook", rb.objectives)],
                    definition.objectives,
                )
                warnings += _looser(path, idx - 1, sc.objectives, objectives, sources)
                scenarios.append(
                    ScenarioPlan(
                        idx,
                        sc.scenario_id,
                        DefinitionKind.RUNBOOK,
                        sc.runbook,
                        objectives,
                        rb,
                        None,
                        rb_path,
                        objectives_from=sources,
                    )
                )
                hashes[str(rb_path)] = definition_hash(rb_path)
            else:
                assert sc.experiment
                exp, exp_path = catalog.experiment(scenario_ref(sc.experiment, path))
                scenarios.append(
                    ScenarioPlan(
                        idx,
                        sc.scenario_id,
                        DefinitionKind.EXPERIMENT,
                        sc.experiment,
                        NO_OBJECTIVES,
                        None,
                        exp,
                        exp_path,
                        dict(sc.vars),
                        [path.parent / f for f in sc.var_files],
                    )
                )
                hashes[str(exp_path)] = definition_hash(exp_path)
        return RunPlan(
            definition.id,
            DefinitionKind.DRILL,
            definition.title,
            RunMode(mode) if mode else definition.mode,
            definition.stop_policy,
            scenarios,
            hashes,
            definition.schedule,
            warnings,
        )
    objectives, sources = effective_objectives([("runbook", definition.objectives)], None)
    return RunPlan(
        definition.id,
        DefinitionKind.RUNBOOK,
        definition.title,
        RunMode(mode or "live"),
        StopPolicy.STOP,
        [
            ScenarioPlan(
                1,
                definition.id,
                DefinitionKind.RUNBOOK,
                definition.id,
                objectives,
                definition,
                None,
                path,
                objectives_from=sources,
            )
        ],
        hashes,
    )


def _unmeasurable(plan: RunPlan) -> list[str]:
    """A runbook scenario given an RTO or RPO objective (by its drill, itself or its
    runbook: not only DESIGN's default) none of whose steps (in the plan's mode) marks
    ``fault_injected``: RTO and RPO are measured from that mark, so the objective would
    pass unmeasured, the scenario judged on its steps alone. Said with the runbook's
    file:line, as a warning: a check-only runbook under the default objectives is fine."""
    from orchestrator.yamlsrc import load_file

    out = []
    for sc in plan.scenarios:
        which = [
            k.upper()
            for k in ("rto", "rpo")
            if getattr(sc.objectives, k) is not None
            and sc.objectives_from.get(k, "default") != "default"
        ]
        if sc.runbook is None or sc.path is None or not which or sc.skipped(plan.mode):
            continue
        if any(s.mark is Mark.FAULT_INJECTED for s in sc.steps_for(plan.mode)):
            continue
        line = load_file(sc.path).line_of(("steps",))
        mode = " in isolated mode" if plan.mode is RunMode.ISOLATED else ""
        out.append(
            f"{sc.path}:{line}: no step of {sc.scenario_id} marks fault_injected{mode}: its "
            f"{' and '.join(which)} objective{'s' if len(which) > 1 else ''} cannot be "
            "measured and would pass unmeasured "
            "(add `mark: fault_injected` to the step that injects the fault)"
        )
    return out


def _looser(
    path: Path, idx: int, own: Objectives, applied: Objectives, sources: dict[str, str]
) -> list[str]:
    """A scenario objective that does not apply: another layer is stricter (DESIGN 3:
    a scenario only tightens). Said with the drill's file:line, as a warning: a runbook
    tightened later must not make every drill that names it invalid."""
    from orchestrator.durations import format_duration

    out = []
    for key in ("rto", "rpo"):
        mine = getattr(own, key)
        if mine is None or sources.get(key) == "scenario":
            continue
        from orchestrator.yamlsrc import load_file

        where = ("scenarios", idx, "objectives", key)
        line = load_file(path).line_of(where)
        out.append(
            f"{path}:{line}: scenarios[{idx}].objectives.{key} {format_duration(mine)} does "
            f"not apply: the {sources[key]}'s {format_duration(getattr(applied, key))} is "
            "stricter (objectives only tighten)"
        )
    return out


def describe_step(step: Step) -> dict[str, Any]:
    """A JSON-able description of a step and its rollback (for plan output)."""
    from orchestrator.actions import ACTIONS, ActivityKind, rollback_of

    out: dict[str, Any] = {"name": step.title, "kind": step.kind.value}
    if step.action:
        spec = ACTIONS.get(step.action)
        out.update(
            action=step.action,
            args=spec.validate_args(step.args).model_dump(),
            destructive=spec.destructive,
        )
        rb = rollback_of(step.action, out["args"]) if spec.kind is ActivityKind.ACTION else None
        if rb and step.rollback:  # an argument left unset is the step's output's at run time
            out["rollback"] = {
                "action": rb[0],
                "args": {k: v for k, v in rb[1].items() if v is not None},
            }
    else:  # a wait, a manual step (a person acts, not drill), an activity: chaos's
        # actions change the environment, its probes do not
        out["destructive"] = bool(step.activity) and step.kind is StepKind.ACTION
    if step.activity:
        out["activity"] = step.activity
    if step.mark:
        out["mark"] = step.mark.value
    if step.kind is StepKind.WAIT:
        out["wait"] = step.until or step.duration
    if step.kind is StepKind.MANUAL:
        out["instructions"] = step.instructions
    out["timeout_s"] = step.timeout
    return out
