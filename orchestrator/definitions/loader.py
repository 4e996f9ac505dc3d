"""Load and validate definitions, reporting *every* problem with file:line.

``load_definition`` returns a typed model or raises :class:`DefinitionError` with all
the problems found in the file: schema errors, unknown actions (listing the valid
names), arguments that do not fit an action's schema, and, for experiments, what
chaoslib's own validation says.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from orchestrator.definitions.kinds import ID_PATTERN, DefinitionKind, Experiment
from orchestrator.errors import DefinitionError, Problem
from orchestrator.registry import UnknownName
from orchestrator.yamlsrc import SourceDoc, chaos_data, load_file, pydantic_problems

if TYPE_CHECKING:  # runbooks and drills only: an experiment never needs their models
    from orchestrator.definitions.models import Drill, Runbook, Step

    Definition = Drill | Runbook | Experiment
DEFINITION_SUFFIXES = (".yaml", ".yml", ".json")


def detect_kind(doc: SourceDoc, path: Path) -> DefinitionKind:
    data = doc.data if isinstance(doc.data, dict) else {}
    declared = data.get("kind")
    if isinstance(declared, str) and declared in {k.value for k in DefinitionKind}:
        return DefinitionKind(declared)
    if "scenarios" in data:
        return DefinitionKind.DRILL
    if "method" in data or "steady-state-hypothesis" in data:
        return DefinitionKind.EXPERIMENT
    if "steps" in data:
        return DefinitionKind.RUNBOOK
    parent = path.parent.name
    for kind in DefinitionKind:
        if parent == kind.value + "s":
            return kind
    raise DefinitionError(
        [
            doc.problem(
                "cannot tell what this is: a drill has `scenarios`, a runbook `steps`, "
                "an experiment `method`"
            )
        ]
    )


def _step_problems(
    doc: SourceDoc, steps: list[Step], prefix: tuple[str | int, ...], start: int = 0
) -> list[Problem]:
    from orchestrator.actions import ACTIONS  # runbooks only: experiments never need it

    problems: list[Problem] = []
    for idx, step in enumerate(steps, start):
        loc = (*prefix, idx)
        kind = step.activity.get("type") if step.activity else None
        if kind is not None and step.kind.value in ("action", "probe") and kind != step.kind.value:
            # a `kind: probe` step running an action was judged as changing nothing:
            # no --yes asked on a protected environment
            problems.append(
                doc.problem(
                    f"the activity is `type: {kind}`, and the step says `kind: {step.kind.value}`",
                    (*loc, "kind"),
                )
            )
        if not step.action:
            continue
        try:
            spec = ACTIONS.get(step.action)
        except UnknownName as exc:
            problems.append(doc.problem(str(exc), (*loc, "action")))
            continue
        if step.kind.value in ("action", "probe") and spec.kind.value != step.kind.value:
            problems.append(
                doc.problem(
                    f"{step.action} is {_a(spec.kind.value)}, not {_a(step.kind.value)} "
                    f"(write `kind: {spec.kind.value}` on the step)",
                    (*loc, "kind"),
                )
            )
        try:
            spec.validate_args(step.args)
        except ValidationError as exc:
            problems.extend(pydantic_problems(doc, exc, (*loc, "args")))
    return problems


def _salvage_steps(doc: SourceDoc) -> list[Problem]:
    """When the runbook as a whole is invalid, still check each step that parses on its
    own, so one run of `drill validate` reports every problem."""
    from orchestrator.definitions.models import Step

    problems: list[Problem] = []
    for section in ("preconditions", "steps", "rollback"):
        raw = doc.data.get(section) if isinstance(doc.data, dict) else None
        if not isinstance(raw, list):
            continue
        for idx, item in enumerate(raw):
            try:
                step = Step.model_validate(item)
            except ValidationError:
                continue  # already reported by the whole-runbook validation
            problems += _step_problems(doc, [step], (section,), start=idx)
    return problems


def _changes_in_checks(doc: SourceDoc, runbook: Runbook) -> list[Problem]:
    """Preconditions (steady-state probes) and verification (data integrity) only look:
    a `db.failover` there ran with no `--yes` on a protected environment — what would
    change it is judged from the steps and rollbacks — and outside any rollback."""
    from orchestrator.actions import ACTIONS, ActivityKind

    problems: list[Problem] = []
    checks: list[tuple[str, int, str | None, dict[str, Any] | None]] = [
        ("preconditions", i, st.action, st.activity) for i, st in enumerate(runbook.preconditions)
    ] + [("verification", i, v.action, None) for i, v in enumerate(runbook.verification)]
    for section, idx, action, activity in checks:
        if action and action in ACTIONS.names() and ACTIONS.get(action).kind is ActivityKind.ACTION:
            what, where = f"{action} is an action", "action"
        elif activity is not None and activity.get("type") != "probe":
            what, where = "an inline activity that is not `type: probe`", "activity"
        else:
            continue
        problems.append(
            doc.problem(
                f"{section} only look, and {what}: make it a step (with its rollback)",
                (section, idx, where),
            )
        )
    return problems


def _validate_runbook(doc: SourceDoc) -> Runbook:
    from orchestrator.definitions.models import Runbook

    try:
        runbook = Runbook.model_validate(doc.data)
    except ValidationError as exc:
        raise DefinitionError(pydantic_problems(doc, exc) + _salvage_steps(doc)) from None
    from orchestrator.actions import ACTIONS

    problems = _step_problems(doc, runbook.preconditions, ("preconditions",))
    problems += _step_problems(doc, runbook.steps, ("steps",))
    problems += _step_problems(doc, runbook.rollback, ("rollback",))
    problems += _changes_in_checks(doc, runbook)
    for idx, ver in enumerate(runbook.verification):
        try:
            spec = ACTIONS.get(ver.action)
            spec.validate_args(ver.args)
        except UnknownName as exc:
            problems.append(doc.problem(str(exc), ("verification", idx, "action")))
        except ValidationError as exc:
            problems.extend(pydantic_problems(doc, exc, ("verification", idx, "args")))
    if problems:
        raise DefinitionError(problems)
    return runbook


def _validate_drill(doc: SourceDoc) -> Drill:
    from orchestrator.definitions.models import Drill

    try:
        return Drill.model_validate(doc.data)
    except ValidationError as exc:
        raise DefinitionError(pydantic_problems(doc, exc)) from None


def _validate_experiment(doc: SourceDoc, path: Path) -> Experiment:
    from chaoslib.exceptions import ChaosException
    from chaoslib.experiment import ensure_experiment_is_valid

    data = doc.data
    if not isinstance(data, dict):
        raise DefinitionError([doc.problem("an experiment must be a mapping")])
    from orchestrator.definitions.experiment_check import unprinted
    from orchestrator.definitions.pycheck import python_problems, stand_in_copy

    checked = stand_in_copy(data)  # chaoslib would import the Python modules: see pycheck
    try:
        with unprinted():
            ensure_experiment_is_valid(checked)
    except ChaosException as exc:
        raise DefinitionError([_locate_chaos_error(doc, str(exc), checked)]) from None
    except Exception as exc:  # chaoslib raises bare errors for some malformed input
        from orchestrator.definitions.experiment_check import shape_problem

        shape = shape_problem(data)
        if shape is not None:  # what chaoslib tripped on, said and located
            raise DefinitionError([doc.problem(shape[1], shape[0])]) from None
        raise DefinitionError([doc.problem(f"invalid experiment: {exc}")]) from None
    from orchestrator.definitions.experiment_check import provider_problems

    problems = python_problems(data) + _runtime_problems(data) + provider_problems(data)
    # chaoslib only warns of a control whose module is not installed ("the experiment
    # will carry on running nonetheless") and runs without it: drill refused the run
    absent = [(loc, m) for loc, m in problems if m.startswith(MISSING) and " in control " in m]
    problems = [p for p in problems if p not in absent]
    if problems:
        raise DefinitionError([doc.problem(message, loc) for loc, message in problems])
    if "id" in data and not (isinstance(data["id"], str) and re.match(ID_PATTERN, data["id"])):
        raise DefinitionError(
            [
                doc.problem(
                    f"id {data['id']!r} must be lowercase letters, digits and '-' (it names files "
                    "in evidence bundles: no '/', '..' or spaces)",
                    ("id",),
                )
            ]
        )
    exp_id = str(data.get("id") or path.stem)
    experiment = Experiment(id=exp_id, title=str(data.get("title", exp_id)), document=data)
    experiment.warnings = [
        f"{doc.problem(message, loc)}: chaos runs the experiment without that control (it "
        "warns), and so does drill"
        for loc, message in absent
    ]
    return experiment


MISSING = "could not find Python module"


def _runtime_problems(data: dict[str, Any]) -> list[tuple[tuple[str | int, ...], str]]:
    """The experiment's ``runtime`` strategies, which chaoslib does not validate: an
    unknown hypothesis strategy ended the run on chaoslib's 'Unknown strategy' after its
    rollbacks had undone a method never played (chaos: a traceback), and an unknown
    rollback strategy (a typo of ``always``) silently played no rollback at all."""
    from orchestrator.engine.experiment_options import HypothesisStrategy, RollbackStrategy

    runtime = data.get("runtime")
    if not runtime:
        return []  # chaos: an empty runtime is none
    if not isinstance(runtime, dict):
        return [(("runtime",), "runtime must be a mapping (rollbacks, hypothesis)")]
    problems: list[tuple[tuple[str | int, ...], str]] = []
    for key, known, what in (
        ("rollbacks", RollbackStrategy, "rollback"),
        ("hypothesis", HypothesisStrategy, "hypothesis"),
    ):
        section = runtime.get(key)
        if section is None:
            continue
        if not isinstance(section, dict):
            problems.append((("runtime", key), f"runtime.{key} must be a mapping (strategy)"))
            continue
        strategy = section.get("strategy")
        if strategy is not None and strategy not in {s.value for s in known}:
            problems.append(
                (
                    ("runtime", key, "strategy"),
                    f"unknown {what} strategy {strategy!r}: one of "
                    + ", ".join(s.value for s in known if s is not HypothesisStrategy.CONTINOUSLY),
                )
            )
    return problems


def _locate_chaos_error(doc: SourceDoc, message: str, checked: dict[str, Any]) -> Problem:
    """chaoslib names the failing activity (or a value in it): point at it when we can.
    ``checked`` is the document chaoslib validated (Python providers stood in for)."""
    data = doc.data
    ssh = data.get("steady-state-hypothesis")
    places: list[tuple[tuple[str | int, ...], Any]] = [
        ((section, idx), act)
        for section in ("method", "rollbacks")
        for idx, act in enumerate(data.get(section) or [])
    ]
    if isinstance(ssh, dict):
        probes = list(enumerate(ssh.get("probes") or []))
        places += [(("steady-state-hypothesis", "probes", idx), act) for idx, act in probes]
        places += [  # a probe as tolerance: chaoslib names it as an activity of its own
            (("steady-state-hypothesis", "probes", idx, "tolerance"), act["tolerance"])
            for idx, act in probes
            if isinstance(act, dict)
            and isinstance(act.get("tolerance"), dict)
            and act["tolerance"].get("type") == "probe"
        ]
    owners: list[tuple[tuple[str | int, ...], Any]] = [((), data), *places]
    if isinstance(ssh, dict):
        owners.append((("steady-state-hypothesis",), ssh))
    controls: list[tuple[tuple[str | int, ...], Any]] = [  # "Control 'c' must have …"
        ((*loc, "controls", idx), ctl)
        for loc, owner in owners
        if isinstance(owner, dict) and isinstance(owner.get("controls"), list)
        for idx, ctl in enumerate(owner["controls"])
    ]
    if controls:
        places = controls + places if message.startswith("Control ") else places + controls
    for loc, act in places:  # by name first: the clearest match
        name = isinstance(act, dict) and act.get("name")
        if name and f"'{name}'" in message:
            return doc.problem(message, loc)
    for loc, act in places:  # then by a value chaoslib quotes (provider type, module…)
        if any(f"'{v}'" in message for v in _scalars(act)):
            return doc.problem(message, loc)
    env = re.search(r"reference to an environment key that does not exist: (.+)$", message)
    if env:  # an environment matter, not a typo in the file: say where, and what to do
        return doc.problem(
            f"{message} (set it in the environment or with a .env --var-file"
            + (", or give the entry a default)" if message.startswith("Configuration") else ")"),
            _env_reference(data, env.group(1)),
        )
    from orchestrator.definitions.experiment_check import failing_place

    return doc.problem(message, failing_place(checked, message) or ())


def _env_reference(data: dict[str, Any], key: str) -> tuple[str | int, ...]:
    """Where the configuration or a secret reads the environment variable ``key``."""
    entries: list[tuple[tuple[str | int, ...], Any]] = []
    if isinstance(data.get("configuration"), dict):
        entries += [(("configuration", k), v) for k, v in data["configuration"].items()]
    if isinstance(data.get("secrets"), dict):
        entries += [
            (("secrets", scope, k), v)
            for scope, values in data["secrets"].items()
            if isinstance(values, dict)
            for k, v in values.items()
        ]
    for loc, value in entries:
        if isinstance(value, dict) and value.get("type") == "env" and value.get("key") == key:
            return loc
    return ()


def _scalars(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in _scalars(v)]
    if isinstance(value, list):
        return [s for v in value for s in _scalars(v)]
    return [str(value)] if isinstance(value, str) and value else []


def _plain_experiment(path: Path) -> tuple[DefinitionKind, Definition, SourceDoc] | None:
    """A valid Chaos Toolkit experiment, read the way ``chaos run`` reads it (PyYAML; JSON
    for a .json file).

    The fast path for the common case; anything else (another kind, an invalid file, a key
    that is not a string) returns None and goes through the line-tracking parser, which
    says where the problem is. The same bounds apply (:mod:`orchestrator.yamlguard`).
    """
    if path.suffix not in (".yaml", ".yml", ".json"):
        return None
    try:
        data = chaos_data(path)
    except Exception:  # unreadable, invalid or too big: the full path reports it with file:line
        return None
    if not isinstance(data, dict) or not _string_keys(data):
        return None
    doc = SourceDoc(str(path), data, {(): 1})
    try:
        if detect_kind(doc, path) is not DefinitionKind.EXPERIMENT:
            return None
        return DefinitionKind.EXPERIMENT, _validate_experiment(doc, path), doc
    except DefinitionError:
        return None


def _string_keys(data: Any) -> bool:
    """Every mapping key is a string (walks at most yamlguard.MAX_VALUES values)."""
    todo = [data]
    while todo:
        value = todo.pop()
        if isinstance(value, dict):
            if not all(isinstance(k, str) for k in value):
                return False
            todo.extend(value.values())
        elif isinstance(value, list):
            todo.extend(value)
    return True


def load_definition(
    path: Path, strict: bool = False
) -> tuple[DefinitionKind, Definition, SourceDoc]:
    """Parse and fully validate one definition file.

    ``strict`` (``drill validate``) always uses the line-tracking YAML 1.2 parser, which
    also refuses duplicate keys; otherwise a valid experiment is read as ``chaos`` reads it.
    """
    fast = _plain_experiment(path)  # chaos's own reading, when chaos accepts the file
    if fast is not None and not strict:
        return fast
    try:
        return _load_strict(path)
    except DefinitionError as exc:
        if fast is None:
            raise
        from orchestrator.definitions.experiment_check import strict_reading_warnings

        definition = fast[1]
        assert isinstance(definition, Experiment)
        definition.warnings += strict_reading_warnings(exc.problems, json=path.suffix == ".json")
        return fast


def _load_strict(path: Path) -> tuple[DefinitionKind, Definition, SourceDoc]:
    doc = load_file(path)
    if not isinstance(doc.data, dict):
        raise DefinitionError([doc.problem("a definition must be a mapping")])
    kind = detect_kind(doc, path)
    # chaos reads `1: x` as a key (stringified here as JSON would); drill's formats do not
    key_problems = doc.complex_keys + (
        [] if kind is DefinitionKind.EXPERIMENT else doc.key_problems
    )
    if key_problems:
        raise DefinitionError(key_problems)
    data: dict[str, Any] = doc.data
    if kind is not DefinitionKind.EXPERIMENT:
        data.pop("kind", None)
    definition: Definition
    if kind is DefinitionKind.RUNBOOK:
        definition = _validate_runbook(doc)
    elif kind is DefinitionKind.DRILL:
        definition = _validate_drill(doc)
    else:
        definition = _validate_experiment(doc, path)
    return kind, definition, doc


def _a(word: str) -> str:
    """``a probe``, ``an action``."""
    return f"{'an' if word[:1] in 'aeiou' else 'a'} {word}"
