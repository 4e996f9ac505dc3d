"""`chaos run`'s options, with their meaning, for experiments run by drill.

Teams bring Chaos Toolkit experiments that need ``--var``/``--var-file`` per
environment, a rollback or hypothesis strategy, ``--dry`` or global controls. drill
accepts the same options (DESIGN "Chaos Toolkit parity") and checks them up front, so a
bad value is one ``drill: error:`` line naming the option or ``file:line`` (exit 2)
before anything runs — where ``chaos`` logs and carries on, or crashes. The values are
then handed to chaoslib unchanged (:mod:`orchestrator.engine.experiment`).

Stdlib only at import: ``drill run --help`` and the run path stay fast; chaoslib is
imported only when a ``--var`` is converted.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.errors import UsageError

if TYPE_CHECKING:
    from orchestrator.config import EnvironmentConfig
    from orchestrator.definitions.catalog import Catalog
    from orchestrator.engine.plan import RunPlan


class RollbackStrategy(StrEnum):
    """When rollbacks are played (chaos's ``--rollback-strategy``)."""

    DEFAULT = "default"  # chaos: not after a failed or interrupted run
    ALWAYS = "always"  # drill's default: every time, whatever happened
    NEVER = "never"
    DEVIATED = "deviated"  # only when the steady state deviated


class HypothesisStrategy(StrEnum):
    """When the steady-state hypothesis runs (chaos's ``--hypothesis-strategy``)."""

    DEFAULT = "default"
    BEFORE_METHOD = "before-method-only"
    AFTER_METHOD = "after-method-only"
    DURING_METHOD = "during-method-only"
    CONTINUOUSLY = "continuously"
    CONTINOUSLY = "continously"  # chaos still accepts its old misspelling


class DryMode(StrEnum):
    """What ``--dry`` skips (chaos's meaning)."""

    PROBES = "probes"
    ACTIONS = "actions"
    ACTIVITIES = "activities"
    PAUSE = "pause"


@dataclass
class ExperimentOptions:
    """Everything ``chaos run`` can be told about one experiment run.

    ``rollback_strategy`` None means "not given": the experiment's ``runtime`` or the
    Chaos Toolkit settings decide, else drill's default (always), see
    :func:`resolve_runtime`.
    """

    var: dict[str, Any] = field(default_factory=dict)
    var_files: list[Path] = field(default_factory=list)
    rollback_strategy: RollbackStrategy | None = None
    hypothesis_strategy: HypothesisStrategy | None = None
    hypothesis_frequency: float = 1.0
    fail_fast: bool = False
    dry: DryMode | None = None
    journal_path: Path | None = None
    control_files: list[Path] = field(default_factory=list)
    settings_path: Path | None = None

    def args(self) -> list[str]:
        """The same options as ``drill run``/``chaos run`` arguments (for child runs)."""
        out: list[str] = []
        for key, value in self.var.items():
            out += [
                "--var",
                f"{key}={value}"
                if isinstance(value, str)
                else f"{key}:{type(value).__name__}={value}",
            ]
        for path in self.var_files:
            out += ["--var-file", str(path)]
        for flag, value in (
            ("--rollback-strategy", self.rollback_strategy),
            ("--hypothesis-strategy", self.hypothesis_strategy),
            ("--dry", self.dry),
        ):
            if value is not None:
                out += [flag, value.value]
        if self.hypothesis_frequency != 1.0:
            out += ["--hypothesis-frequency", repr(self.hypothesis_frequency)]
        if self.fail_fast:
            out.append("--fail-fast")
        for path in self.control_files:
            out += ["--control-file", str(path)]
        return out


def experiment_change(doc: dict[str, Any], dry: DryMode | None, controls: bool) -> str | None:
    """What in an experiment can change its target as chaoslib runs it (None: nothing).

    chaoslib (``activity.execute_activity``) skips every action, in the method and in
    the rollbacks, under ``--dry actions`` or ``--dry activities`` — except one with a
    ``dry`` key of its own, which replaces the run's (and is a string that chaoslib
    compares with its enum: such an action always runs). Controls — ``controls:`` of
    the experiment, its hypothesis or an activity, or global ones (``controls``:
    ``--control-file``, the settings' ``controls``) — are Python code chaoslib calls
    around every activity in every dry mode: drill cannot know that they change
    nothing. Probes only read, as everywhere in drill."""
    hypothesis = doc.get("steady-state-hypothesis") or {}
    acts = [
        a
        for a in [
            *(hypothesis.get("probes") or []),
            *(doc.get("method") or []),
            *(doc.get("rollbacks") or []),
        ]
        if isinstance(a, dict)
    ]
    if controls or doc.get("controls") or hypothesis.get("controls"):
        return "its controls run code drill cannot inspect, whatever --dry says"
    for act in acts:
        name = act.get("name") or act.get("ref")
        if act.get("controls"):
            return f"activity {name!r} has controls: code drill cannot inspect"
        if act.get("type") != "action":
            continue
        if dry not in (DryMode.ACTIONS, DryMode.ACTIVITIES):
            return f"action {name!r} runs" + (
                f": --dry {dry.value} does not skip actions" if dry else ""
            )
        if "dry" in act:
            return f"action {name!r} runs: its own `dry` key replaces --dry {dry.value}"
    return None


def refuse_without_experiments(
    opts: ExperimentOptions, plan: RunPlan, catalog: Catalog | None = None
) -> None:
    """Chaos Toolkit's options on a run with no experiment scenario: a usage error.

    They only reach experiments; silently ignored on a runbook, ``--dry actions`` would
    run the real fault. An id names a drill, then a runbook, then an experiment: when an
    experiment has the same id (``region-promotion`` is both), the hint names its file."""
    from orchestrator.definitions.kinds import DefinitionKind

    if any(sc.kind is DefinitionKind.EXPERIMENT for sc in plan.scenarios):
        return
    given = [
        *opts.args(),
        *(["--journal-path"] if opts.journal_path else []),
        *(["--settings"] if opts.settings_path else []),
    ]
    flags = list(dict.fromkeys(a for a in given if a.startswith("--")))
    if not flags:
        return
    twin = [
        e.path
        for e in (catalog.entries(DefinitionKind.EXPERIMENT) if catalog else [])
        if e.id == plan.target
    ]
    raise UsageError(
        f"{', '.join(flags)}: Chaos Toolkit options apply to experiments, and "
        f"{plan.target} ({plan.kind.value}) runs none; nothing was started",
        f"the experiment {plan.target} has the same id: run it by its file, `drill run {twin[0]} …`"
        if twin
        else "leave them out (`drill plan` shows what a runbook would do without doing it)",
    )


def parse_vars(values: list[str]) -> dict[str, Any]:
    """``KEY[:TYPE]=VALUE`` → typed values, converted by chaoslib as ``chaos`` does."""
    if not values:
        return {}
    for raw in values:
        if "=" not in raw or not raw.split("=", 1)[0].split(":", 1)[0]:
            raise UsageError(
                f"--var {raw!r}: expected KEY=VALUE or KEY:TYPE=VALUE",
                f"{VAR_TYPES}, e.g. --var db_instance=prod-db --var retries:int=3",
            )
    from chaoslib import convert_vars

    for raw in values:
        key = raw.split("=", 1)[0].split(":", 1)[0]
        if key.startswith("drill_"):  # drill_env, drill_mode…: the run's, set by drill
            raise UsageError(
                f"--var {raw!r}: {key} is drill's own setting of the run",
                "use --env, --mode and --yes; drill sets the drill_* configuration itself",
            )
    for raw in values:  # one at a time: the error names the --var that is wrong
        try:
            convert_vars([raw])
        except ValueError as exc:
            raise UsageError(f"--var {raw!r}: {exc}", VAR_TYPES) from None
    return dict(convert_vars(list(values)))


#: the types chaoslib's convert_vars takes (chaos's own --help names only some of them)
VAR_TYPES = "TYPE is one of str, int, float, bytes, bool, json"


def _not_a_file(path: Path) -> str | None:
    """Why ``path`` is no file to read: not there, or a directory or device in its place
    (a directory was called "no such file")."""
    if path.is_file():
        return None
    if not path.exists():
        return "no such file"
    return "a directory, not a file" if path.is_dir() else "not a regular file"


def check_var_file(path: Path) -> None:
    """Refuse a var file ``chaos`` would silently skip or crash on, naming file:line.

    JSON/YAML: a mapping whose ``configuration``/``secrets`` keys are mappings. Any
    other file is a .env file: ``KEY=VALUE`` lines, ``#`` comments, blank lines.
    """
    if (why := _not_a_file(path)) is not None:
        raise UsageError(
            f"--var-file {path}: {why}",
            "give a JSON, YAML or .env file of configuration/secret values",
        )
    if path.stat().st_size == 0:
        return  # chaos skips an empty var file ("is empty"), whatever its kind
    if path.suffix in (".yaml", ".yml", ".json"):
        well_formed, data = _well_formed(path, ("configuration", "secrets"))
        if not well_formed:
            from orchestrator.yamlsrc import load_file

            doc = load_file(path)  # DefinitionError with file:line on bad syntax
            data = doc.data
            if data is not None and not isinstance(data, dict):
                raise UsageError(
                    str(
                        doc.problem(
                            "a var file is a mapping with configuration and/or secrets keys"
                        )
                    )
                )
            for key in ("configuration", "secrets"):
                if isinstance(data, dict) and key in data and not isinstance(data[key], dict):
                    raise UsageError(str(doc.problem(f"{key} must be a mapping", (key,))))
        if data:
            return  # the common case, read as chaos reads it: no line-tracking parser
        # nothing in it (`{}`, `null`, comments only): chaos reads its lines as a .env
        # file's, and ends on a traceback at one that is no KEY=VALUE
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"--var-file {path}: cannot read it ({exc})") from None
    for lineno, line in enumerate(text.split(os.linesep), 1):
        line = line.strip()
        if line and not line.startswith("#") and "=" not in line:
            if path.suffix in (".yaml", ".yml", ".json"):
                raise UsageError(
                    f"{path}:{lineno}: no configuration or secrets in this var file: chaos "
                    "then reads it as a .env file, and this line is no KEY=VALUE",
                    "give configuration and/or secrets in it, or leave it out",
                )
            raise UsageError(f"{path}:{lineno}: expected KEY=VALUE in a .env var file")
        if line and not line.startswith("#") and (not line.split("=", 1)[0] or "\0" in line):
            # the environment takes neither (chaoslib sets os.environ[KEY]): drill ended
            # on "internal error: OSError: [Errno 22] Invalid argument"
            raise UsageError(
                f"{path}:{lineno}: "
                + ("a NUL byte cannot be in the environment" if "\0" in line else "KEY is empty")
                + " (a .env var file's lines are KEY=VALUE)"
            )


def _well_formed(path: Path, sections: tuple[str, ...] = ()) -> tuple[bool, Any]:
    """(whether, data): a YAML/JSON mapping (its ``sections`` mappings too) or nothing,
    read with bounds the way chaos reads it (PyYAML, already loaded on the run path;
    JSON for a .json file). False: let the line-tracking reader say what is wrong, and
    where."""
    from orchestrator.yamlsrc import chaos_data

    try:
        data = chaos_data(path)
    except Exception:
        return False, None
    return (
        data is None
        or (isinstance(data, dict) and all(isinstance(data.get(k, {}), dict) for k in sections))
    ), data


def check_control_file(path: Path) -> None:
    """A ``--control-file`` is YAML or JSON: a mapping of control name to control
    (``{provider: {type: python, module: …}}``), as ``chaos`` loads it."""
    from orchestrator.yamlsrc import load_file

    if (why := _not_a_file(path)) is not None:
        raise UsageError(f"--control-file {path}: {why}")
    if path.suffix not in (".yaml", ".yml", ".json"):
        raise UsageError(f"--control-file {path}: expected a .yaml, .yml or .json file")
    if path.stat().st_size == 0:
        return  # chaos skips an empty control file
    doc = load_file(path)
    if not isinstance(doc.data, dict):
        raise UsageError(str(doc.problem("a control file maps control names to controls")))
    for name, control in doc.data.items():
        if (problem := _control_problem(name, control)) is not None:
            raise UsageError(str(doc.problem(problem, (name, "provider"))))


def _control_problem(name: str, control: Any) -> str | None:
    """What chaoslib's loading of a global control would crash on: no provider, or a
    python one without its module (KeyError: 'module': "internal error" after the run
    had started; chaos: a traceback)."""
    provider = control.get("provider") if isinstance(control, dict) else None
    if not isinstance(provider, dict) or not provider.get("type"):
        return f"control {name!r} needs a provider"
    if provider["type"] == "python" and not isinstance(provider.get("module"), str):
        return f"control {name!r} must have a module path"
    return None


def build_options(
    var: list[str] | None, var_file: list[Path] | None, control_file: list[Path] | None, **rest: Any
) -> ExperimentOptions:
    """Check every option now (exit 2 on a bad one) and bundle them."""
    for path in var_file or []:
        check_var_file(path)
    for path in control_file or []:
        check_control_file(path)
    journal = rest.get("journal_path")
    if journal is not None and (journal.is_dir() or not journal.parent.is_dir()):
        raise UsageError(f"--journal-path {journal}: not a file in an existing directory")
    settings = rest.get("settings_path")
    if settings is not None and (why := _not_a_file(settings)) is not None:
        raise UsageError(
            f"--settings {settings}: {why}",
            "give a Chaos Toolkit settings.yaml, or leave it out",
        )
    freq = rest.get("hypothesis_frequency", 1.0)
    if freq is not None and not freq > 0:
        raise UsageError(
            f"--hypothesis-frequency must be a positive number of seconds, not {freq:g}"
        )
    if journal is not None:  # where the user said, whatever an activity's os.chdir
        rest["journal_path"] = journal.absolute()
    return ExperimentOptions(
        var=parse_vars(var or []),
        # absolute: the run records them with its rollbacks, which a recovery from
        # another directory (cron, the scheduler service) re-reads
        var_files=[p.absolute() for p in var_file or []],
        control_files=list(control_file or []),
        **rest,
    )


def inject_env_files(var_files: list[Path]) -> None:
    """Put .env var files into the environment now, as ``chaos run`` does before it
    validates the experiment (an ``env`` secret or configuration may need them)."""
    env_files = [str(p) for p in var_files if p.suffix not in (".yaml", ".yml", ".json")]
    if env_files:
        from chaoslib import merge_vars

        merge_vars({}, env_files)


@contextlib.contextmanager
def aws_environment(env: Any) -> Iterator[None]:
    """While an experiment runs on an AWS environment, point boto3 clients that
    extensions (chaosaws) build themselves at the environment drill.yaml names: its
    ``endpoint_url`` (``AWS_ENDPOINT_URL``, which boto3 reads) and region (``AWS_REGION``),
    as drill's own AWS provider does — placeholder credentials too, for an emulator on
    loopback when none are configured. The caller's values are put back afterwards."""
    wanted: dict[str, str] = {}
    if getattr(env, "provider", None) == "aws":
        if env.endpoint_url:
            wanted["AWS_ENDPOINT_URL"] = str(env.endpoint_url)
        if env.region:
            wanted["AWS_REGION"] = str(env.region)
        if env.endpoint_url:
            import boto3

            from orchestrator.providers.aws.clients import (
                PLACEHOLDER_KEY,
                needs_placeholder_credentials,
            )

            if needs_placeholder_credentials(env.endpoint_url, boto3.session.Session()):
                wanted["AWS_ACCESS_KEY_ID"] = wanted["AWS_SECRET_ACCESS_KEY"] = PLACEHOLDER_KEY
    before = {k: os.environ.get(k) for k in wanted}
    os.environ.update(wanted)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def resolve_runtime(
    opts: ExperimentOptions, settings: dict[str, Any], experiment: dict[str, Any]
) -> tuple[str, str]:
    """(rollback strategy, hypothesis strategy) as ``chaos run`` resolves them.

    Settings, then the experiment's ``runtime``, then the command line; drill's one
    difference: with none of them naming a rollback strategy, rollbacks always run.
    """
    found = settings.get("runtime")
    runtime: dict[str, Any] = found if isinstance(found, dict) else {}
    rollback = (runtime.get("rollbacks") or {}).get("strategy")
    hypothesis = (runtime.get("hypothesis") or {}).get("strategy")
    exp_runtime = experiment.get("runtime")
    if isinstance(exp_runtime, dict) and exp_runtime:
        # chaos: the experiment's runtime replaces both; an empty one (`runtime: {}`) is
        # none, the settings' strategies stand (chaostoolkit's `if experiment_runtime:`)
        rollback = (exp_runtime.get("rollbacks") or {}).get("strategy")
        hypothesis = (exp_runtime.get("hypothesis") or {}).get("strategy")
    if opts.rollback_strategy is not None:
        rollback = opts.rollback_strategy.value
    if opts.hypothesis_strategy is not None:
        hypothesis = opts.hypothesis_strategy.value
    if hypothesis == HypothesisStrategy.CONTINOUSLY.value:
        hypothesis = HypothesisStrategy.CONTINUOUSLY.value
    return str(rollback or RollbackStrategy.ALWAYS.value), str(hypothesis or "default")


def unparsable_settings(where: str) -> str | None:
    """Why the Chaos Toolkit settings file ``where`` is not YAML (``FILE:LINE: …``), or
    None. chaos carries on without such a file, and so does drill; chaoslib's
    ``load_settings`` says why in its YAML parser's own words, over several lines with a
    caret, on drill's stderr: drill reads the file itself first, and says it in one."""
    import yaml

    from orchestrator.errors import DefinitionError
    from orchestrator.yamlguard import read_source

    if not os.path.exists(where):
        return None  # no settings (chaoslib's own check)
    try:  # not UTF-8, a FIFO, a directory: chaos ends on a traceback, drill refuses
        text = read_source(Path(where))
    except DefinitionError as exc:
        raise UsageError(
            f"{exc.problems[0]}; nothing was started",
            "fix the Chaos Toolkit settings file, or name another with --settings",
        ) from None
    try:
        yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        return f"{where}{line}: invalid YAML: {exc.problem or exc.context}"
    except yaml.YAMLError as exc:
        return f"{where}: invalid YAML: {exc}"
    return None


def refuse_bad_settings(opts: ExperimentOptions, plan: RunPlan) -> list[str]:
    """The Chaos Toolkit settings (``--settings``, default ~/.chaostoolkit/settings.yaml)
    where an experiment would run with them: a value of the wrong kind (``runtime:
    {rollbacks: always}``, ``controls: 5``) ended drill on "internal error:
    AttributeError … this is a bug in drill", or failed the run; and a runtime strategy
    chaos does not know, where it applies: an unknown hypothesis strategy failed the run
    on chaoslib's 'Unknown strategy' after its rollbacks had undone a method never
    played, an unknown rollback strategy (a typo of ``always``) silently played no
    rollback. The experiment's own ``runtime`` is checked with the experiment.

    Returns the warnings to print: a settings file that is not YAML, which chaos and
    drill run without."""
    experiments = [
        sc.experiment.document
        for sc in plan.scenarios
        if sc.experiment is not None and not sc.skipped(plan.mode)
    ]
    if not experiments:
        return []
    from chaoslib.settings import CHAOSTOOLKIT_CONFIG_PATH, load_settings

    where = str(opts.settings_path or CHAOSTOOLKIT_CONFIG_PATH)
    if (unparsable := unparsable_settings(where)) is not None:
        return [f"{unparsable}; carrying on without these Chaos Toolkit settings (as chaos does)"]
    settings = load_settings(where) or {}
    shapes = [
        ("", settings),
        ("runtime", settings.get("runtime") if isinstance(settings, dict) else None),
    ]
    if isinstance(shapes[1][1], dict):
        shapes += [(f"runtime.{k}", shapes[1][1].get(k)) for k in ("rollbacks", "hypothesis")]
    if isinstance(settings, dict):
        shapes.append(("controls", settings.get("controls")))
    for key, value in shapes:
        if value is not None and not isinstance(value, dict):
            raise UsageError(
                f"{where}: {key or 'the settings'} must be a mapping, not "
                f"{type(value).__name__} {value!r}"[:200]
                + "; nothing was started",
                "fix the Chaos Toolkit settings file, or name another with --settings",
            )
    for name, control in (settings.get("controls") or {}).items():
        if (problem := _control_problem(name, control)) is not None:
            raise UsageError(f"{where}: {problem} (controls.{name}); nothing was started")
    for doc in experiments:
        rollback, hypothesis = resolve_runtime(opts, settings, doc)
        for what, value, known in (
            ("rollback", rollback, RollbackStrategy),
            ("hypothesis", hypothesis, HypothesisStrategy),
        ):
            if value not in {s.value for s in known}:
                raise UsageError(
                    f"{where}: unknown {what} strategy {value!r} (runtime."
                    f"{'rollbacks' if what == 'rollback' else what}.strategy); nothing was started",
                    "one of "
                    + ", ".join(s.value for s in known if s is not HypothesisStrategy.CONTINOUSLY)
                    + f", or --{what}-strategy on the command line",
                )
    return []


def refuse_aws_extension_off_aws(plan: RunPlan, env_name: str, env_cfg: EnvironmentConfig) -> None:
    """chaosaws activities on an environment that is not AWS (the default `lab`) would
    reach whatever AWS account the machine's credentials name — its real endpoints, a
    `prod-db` by default — recorded as a run on the lab, with no protection and no
    --yes. drill points them at an AWS environment's endpoint only: refused elsewhere."""
    from orchestrator.config import ProviderKind

    if env_cfg.provider is ProviderKind.AWS:
        return
    for sc in plan.scenarios:
        if sc.skipped(plan.mode):
            continue
        if sc.experiment is not None:
            doc = sc.experiment.document
            acts = [
                *((doc.get("steady-state-hypothesis") or {}).get("probes") or []),
                *(doc.get("method") or []),
                *(doc.get("rollbacks") or []),
            ]
        else:  # a runbook's inline Chaos Toolkit activities
            steps = [
                *sc.preconditions_for(plan.mode),
                *sc.steps_for(plan.mode),
                *sc.rollback_for(plan.mode),
            ]
            acts = [{"name": st.title, **st.activity} for st in steps if st.activity]
        aws = [
            str(a.get("name") or "(unnamed)")
            for a in acts
            if isinstance(a, dict)
            and isinstance(a.get("provider"), dict)
            and str(a["provider"].get("module", "")).split(".")[0] == "chaosaws"
        ]
        if aws:
            raise UsageError(
                f"{sc.scenario_id}: {', '.join(dict.fromkeys(aws))} call AWS (chaosaws), and "
                f"environment {env_name!r} is no AWS environment: they would reach the AWS "
                "account of this machine's credentials; nothing was started",
                "run it with --env naming an AWS environment of drill.yaml, or --env lab-aws "
                "(`drill lab up --aws`: the lab behind an AWS API on 127.0.0.1)",
            )
