"""drill.yaml → typed settings (DESIGN section 4, a Contract).

Where the configuration comes from, first match wins: ``--config FILE``, then
``DRILL_CONFIG``, then ``./drill.yaml``. With none of them drill works out of the box:
SQLite under ``.drill/`` and the embedded ``lab`` environment. ``DRILL_*`` variables
override single settings: ``DRILL_DATABASE``, ``DRILL_STATE_DIR``, ``DRILL_DEFAULT_ENV``
and ``DRILL_ENVIRONMENTS__<ENV>__<FIELD>`` (e.g. ``DRILL_ENVIRONMENTS__STAGING__PROTECTED=true``).
"""

from __future__ import annotations

import json
import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
)

from orchestrator.errors import ConfigError, DefinitionError, Problem
from orchestrator.yamlsrc import SourceDoc, load_file, pydantic_problems

CONFIG_FILE_NAME = "drill.yaml"
DEFAULT_STATE_DIR = ".drill"


class ProviderKind(StrEnum):
    LAB = "lab"
    AWS = "aws"


# defer_build: every model's validator is built on first use, not at import — `drill run`
# of an experiment without a drill.yaml builds none (see load_settings). Empty `{}`/`[]`
# defaults, which pydantic copies for each instance, rather than default_factory=dict/list:
# pydantic reads a factory's signature, and a builtin's is parsed from text with the
# tokenizer, whose regex takes ~1.7 ms to compile.


class TerraformConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    state: str = Field(description="local path, s3://bucket/key, or `terraform show -json` file")


class ProbesConfig(BaseModel):
    """How the service is observed from the outside."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    db: str | None = Field(None, description="libpq DSN or Secrets Manager ARN")
    global_db: str | None = Field(
        None, description="DSN through the global DNS record (defaults to db)"
    )
    http: str | None = None
    interval_s: float | None = Field(None, gt=0)


class LabTuning(BaseModel):
    """``lab:`` of a lab environment. Typed, so that a typo (``detecton_delay_s``) or a
    wrong value is a located error at load, not an internal error at ``drill lab up`` —
    and ``in_memory: "false"`` from a ``DRILL_*`` variable is false, not a true string."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    detection_delay_s: float = Field(
        1.0, gt=0, le=3600, description="the failover controller's detection delay"
    )
    backup_interval_s: float = Field(900.0, gt=0, description="between the vault's base backups")
    dataset_rows: int = Field(1000, ge=1, le=10_000_000, description="rows of drill_dataset")
    in_memory: bool = Field(True, description="servers' data in /dev/shm when available")


class EnvironmentConfig(BaseModel):
    """One environment drills run against."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    provider: ProviderKind
    region: str | None = None
    dr_region: str | None = None
    terraform: TerraformConfig | None = None
    endpoint_url: str | None = None
    assume_role_arn: str | None = None
    protected: bool = False
    targets: dict[str, str] = {}
    probes: ProbesConfig | Literal["none"] | None = None
    db_secret_arn: str | None = None
    fis_templates: dict[str, str] = {}
    lab: LabTuning = Field(default_factory=LabTuning.model_construct)  # valid as is
    # where the probes come from when not from drill.yaml (the implicit `lab-aws`):
    # probe name → what the evidence says instead of "probes.NAME in drill.yaml"
    _probes_from: dict[str, str] = PrivateAttr(default_factory=dict)
    #: protected because another environment on the same local lab is (see
    #: :func:`_one_lab_one_protection`): that environment's name; None when its own
    _protected_as: str | None = PrivateAttr(default=None)

    @field_validator("endpoint_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        from urllib.parse import urlsplit

        if value is None:
            return None
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError:
            parts = None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                "endpoint_url must be an http:// or https:// URL with a host, "
                "e.g. http://127.0.0.1:5000"
            )
        return value

    @field_validator("probes", mode="wrap")
    @classmethod
    def _probes_shape(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        """A mapping is validated as :class:`ProbesConfig` alone, anything else must be
        ``none``: one error each, where the union reported two (the second naming the
        internal class ``ProbesConfig``) for ``probes: nothing`` or ``{db: 5}``."""
        if isinstance(value, dict):
            return ProbesConfig.model_validate(value)
        if value is None or value == "none" or isinstance(value, ProbesConfig):
            return handler(value)
        raise ValueError(
            f"probes must be a mapping such as {{db: DSN, http: URL}}, or `none`; not {value!r:.40}"
        )

    @field_validator("probes")
    @classmethod
    def _loopback_probes(cls, value: Any, info: ValidationInfo) -> Any:
        """An environment that talks to an emulator is a test bed: its probes stay on
        127.0.0.0/8, whatever they name (a DSN from a secret is checked when read)."""
        from orchestrator.netguard import dsn_problem, url_problem

        if not info.data.get("endpoint_url") or not isinstance(value, ProbesConfig):
            return value
        for key in ("db", "global_db", "http"):
            target = getattr(value, key)
            if not target or target.startswith("arn:"):
                continue
            problem = (
                url_problem(target) if key == "http" else dsn_problem(target, {}, sockets=True)
            )
            if problem:
                raise ValueError(
                    f"probes.{key}: {problem}, as this environment talks to an emulator "
                    "(endpoint_url)"
                )
        return value


class PathsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    experiments: list[str] = Field(default_factory=lambda: ["experiments"])
    runbooks: list[str] = Field(default_factory=lambda: ["runbooks"])
    drills: list[str] = Field(default_factory=lambda: ["drills"])

    @field_validator("experiments", "runbooks", "drills", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class BlackoutWindow(BaseModel):
    """A change freeze: scheduled drills falling inside are skipped and recorded."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    name: str
    start: str = Field(description="ISO date/time, or a cron expression with `duration`")
    end: str | None = None
    duration: str | None = None
    timezone: str = "UTC"


def _http_url(url: str) -> str:
    """A webhook URL of ``notify:``. Only http(s) is posted to: another one (its scheme
    forgotten) was accepted, and every notice to it was a log line at the time it was
    due (``gameday create --notify`` refuses it). Shown redacted: its path may be its
    token."""
    from orchestrator.notify.webhook import redact_webhook

    if not url.startswith(("http://", "https://")):
        raise ValueError(
            f"webhook URL {redact_webhook(url)} is not an http(s) URL: "
            "notifications are posted to http:// or https:// URLs only"
        )
    return url


class Settings(BaseModel):
    """The whole of drill.yaml."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    database: str | None = None
    state_dir: str = DEFAULT_STATE_DIR
    default_env: str = "lab"
    environments: dict[str, EnvironmentConfig] = {}
    paths: PathsConfig = Field(default_factory=PathsConfig.model_construct)  # valid as is
    blackout_windows: list[BlackoutWindow] = []
    notify: list[Annotated[str, AfterValidator(_http_url)]] = Field([], description="webhook URLs")
    signing_key: str | None = Field(None, description="path of the Ed25519 private key")

    @field_validator("notify", mode="before")
    @classmethod
    def _one_url(cls, value: Any) -> Any:
        """One URL is a list of one: ``DRILL_NOTIFY=https://…`` said "Input should be a
        valid list" (a list from a variable is JSON: ``["https://…", …]``)."""
        return [value] if isinstance(value, str) and value.strip() else value

    @field_validator("database")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        scheme = value.split("://", 1)[0] if "://" in value else ""
        if scheme not in ("sqlite", "postgresql", "postgresql+psycopg"):
            # another driver (postgresql+psycopg2://) used to pass here and fail later
            # with libpq's `missing "=" after …` about the whole URL
            raise ValueError(
                "database must be sqlite:///PATH or postgresql+psycopg://… (or postgresql://…)"
                + (f", not {scheme}://" if scheme else "")
            )
        if scheme == "sqlite":
            if ":memory:" in value or value.rstrip("/") == "sqlite:":
                raise ValueError(
                    "an in-memory SQLite database keeps no evidence: give a file, "
                    "e.g. sqlite:///.drill/evidence.db"
                )
            if "?" in value:
                raise ValueError(
                    "SQLite URL parameters (such as mode=ro) are not supported: "
                    "drill writes evidence, so it needs the file read-write"
                )
        return value

    @field_validator("state_dir")
    @classmethod
    def _state_dir(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("state_dir is empty")
        path = Path(value).expanduser().absolute()
        for system in ("/proc", "/sys", "/dev"):
            if path.is_relative_to(system):
                raise ValueError(
                    f"state_dir {value} is in {system}, which holds no files: "
                    "drill keeps its evidence and lab there"
                )
        return value

    # Not part of the file: where it was read from, to resolve relative paths.
    base_dir: Path = Field(default_factory=Path.cwd, exclude=True)
    source: str | None = Field(None, exclude=True)
    #: what is odd but not wrong (a `paths:` entry that is no directory), for the CLI
    _warnings: tuple[str, ...] = PrivateAttr(())

    @property
    def warnings(self) -> tuple[str, ...]:
        return self._warnings

    def resolve(self, value: str) -> Path:
        """A path drill.yaml (or a DRILL_* variable) names: ``~`` is the home directory,
        as for ``signing_key`` (``paths: {runbooks: ~/rb}`` was read as ./~/rb), and a
        relative path is taken from drill.yaml's directory."""
        path = Path(value).expanduser()
        return path if path.is_absolute() else self.base_dir / path

    def state_path(self) -> Path:
        return self.resolve(self.state_dir)

    def database_url(self) -> str:
        if self.database:
            return _absolutize_sqlite(self.database, self.base_dir)
        return f"sqlite:///{self.state_path() / 'evidence.db'}"

    def environment(self, name: str | None) -> tuple[str, EnvironmentConfig]:
        """Look an environment up by name; ``lab`` always exists."""
        name = name or self.default_env
        env = self.environments.get(name)
        if env is None:
            known = ", ".join(sorted(self.environments)) or "(none)"
            if name == "lab-aws":  # labaws.env.ENV_NAME, imported only here
                from orchestrator.labaws.env import why_absent

                raise ConfigError(
                    "environment 'lab-aws' exists while the AWS-shaped lab runs: "
                    + why_absent(self.state_path() / "lab"),
                    "`drill lab up --aws` starts it, or restarts what is missing "
                    f"(known environments now: {known})",
                )
            raise ConfigError(
                f"unknown environment {name!r}",
                f"known environments: {known}; add it under `environments:` in drill.yaml",
            )
        return name, env

    def search_dirs(self, kind: Literal["experiments", "runbooks", "drills"]) -> list[Path]:
        return [self.resolve(entry) for entry in getattr(self.paths, kind)]


def _absolutize_sqlite(url: str, base: Path) -> str:
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and ":memory:" not in url:
        return prefix + str(base / Path(url[len(prefix) :]).expanduser())
    return url


_NOT_SETTINGS = {"base_dir", "source"}

#: The source name of the settings when there is no drill.yaml (never shown to a user).
DEFAULTS = "<defaults>"


def _apply_env_overrides(
    data: dict[str, Any], environ: dict[str, str]
) -> tuple[dict[str, Any], dict[str, str], set[str]]:
    """Merge ``DRILL_*`` variables into the raw settings (nested with ``__``).

    A value is taken as text (pydantic turns ``true`` or ``30`` into the setting's type,
    and ``DRILL_DEFAULT_ENV=123`` stays the name ``"123"``); one that starts with ``[``
    or ``{`` is JSON, for lists and mappings. Returns the data; for each overridden
    setting's YAML path, the variable that set it; and the paths of the mappings only
    variables made (an environment drill.yaml does not have): errors blame the variable."""
    skip = {"DRILL_CONFIG", "DRILL_TEST_PG_DSN"}
    blame: dict[str, str] = {}
    made: set[str] = set()
    for key, raw in sorted(environ.items()):
        if not key.startswith("DRILL_") or key in skip or key.startswith("DRILL_LAB_"):
            continue
        parts = [p.lower() for p in key[len("DRILL_") :].split("__")]
        if parts[0] not in Settings.model_fields or parts[0] in _NOT_SETTINGS:
            _refuse_near_miss(key, parts[0])
            continue
        if not all(parts):
            raise ConfigError(
                f"{key}: an empty name between `__`",
                "write e.g. DRILL_ENVIRONMENTS__STAGING__PROTECTED=true",
            )
        value: Any = raw
        if raw.lstrip()[:1] in ("[", "{"):
            try:
                value = json.loads(raw)
            except ValueError as exc:
                raise ConfigError(
                    f"{key}: invalid JSON ({exc})", "a value starting with [ or { is read as JSON"
                ) from None
        node = data
        for i, part in enumerate(parts):
            part = parts[i] = _existing_key(node, part, key)
            if i == len(parts) - 1:
                break
            if part not in node:  # a mapping only variables make: theirs to blame
                made.add(".".join(parts[: i + 1]))
            # the embedded lab is `{provider: lab}`: a variable changes one field of it
            default = {"provider": "lab"} if parts[: i + 1] == ["environments", "lab"] else {}
            node = node.setdefault(part, default)
            if not isinstance(node, dict):
                raise ConfigError(f"{key} overrides a setting that is not a mapping")
        node[parts[-1]] = value
        blame[".".join(parts)] = key
    return data, blame, made


def _existing_key(node: dict[str, Any], part: str, var: str) -> str:
    """The key of drill.yaml's mapping that a variable's lowercased name part means: a
    variable name holds no `-` and is written in capitals, so PROD_EU is the environment
    `prod-eu` (or `Prod_EU`). Without one, the part itself (a new key)."""
    same = [k for k in node if isinstance(k, str) and k.lower().replace("-", "_") == part]
    if len(same) > 1:
        raise ConfigError(
            f"{var} could mean any of {', '.join(same)} in drill.yaml",
            "give them names that differ in more than case and `-`/`_`",
        )
    return same[0] if same else part


def _refuse_near_miss(key: str, name: str) -> None:
    """``DRILL_DATABSE`` or ``DRILL_ENVIRONMENT__PROD__PROTECTED`` was silently ignored:
    drill ran with the default (evidence in the wrong database, an unprotected prod).
    A ``DRILL_*`` variable that is no setting but looks like one is an error; others
    (``DRILL_SERVE_TOKEN``, ``DRILL_PG_BINDIR``…) are drill's too, and left alone."""
    import difflib

    settings = [f for f in Settings.model_fields if f not in _NOT_SETTINGS]
    close = difflib.get_close_matches(name, settings, n=1, cutoff=0.8)
    if close:
        rest = key[len("DRILL_") :].split("__", 1)[1:]
        meant = "__".join(["DRILL_" + close[0].upper(), *rest])
        raise ConfigError(
            f"{key} is not a setting (did you mean {meant}?)",
            "settings from variables: "
            + ", ".join("DRILL_" + f.upper() for f in settings)
            + " (README: Configuration)",
        )


def _blamed(
    problems: list[Problem], blame: dict[str, str], made: set[str] | None = None
) -> list[Problem]:
    """Problems in a setting a DRILL_* variable set name the variable, not drill.yaml."""
    out = []
    for problem in problems:
        path = problem.path or ""
        var = next(
            (v for p, v in blame.items() if path == p or path.startswith((p + ".", p + "["))), None
        )
        if var is None and path:  # a problem with a mapping a variable filled in
            var = next((v for p, v in blame.items() if p.startswith(path + ".")), None)
        parent = path.rsplit(".", 1)[0]
        if var is None and "." in path and (problem.file == DEFAULTS or parent in (made or ())):
            # a field the variables left out of a mapping they made (no drill.yaml, or
            # an environment it does not have): e.g. that environment's provider
            var = next((v for p, v in blame.items() if p.startswith(parent + ".")), None)
        out.append(Problem(problem.message, var, None, path) if var else problem)
    return out


def _missing_paths(settings: Settings, doc: SourceDoc) -> list[Problem]:
    """Directories named in ``paths:`` that are not there: a warning (a team may name
    one before it exists), as a typo there was silent and `drill run ID` then ran the
    *bundled* definition of that id instead of the team's own. The defaults
    (``runbooks/`` …) may be absent without a word."""
    if "paths" not in settings.model_fields_set:
        return []
    out = []
    for kind in ("experiments", "runbooks", "drills"):
        if kind not in settings.paths.model_fields_set:
            continue
        for i, directory in enumerate(settings.search_dirs(kind)):
            if not directory.is_dir():
                out.append(doc.problem(f"no such directory: {directory}", ("paths", kind, i)))
    return out


_NAME_THE_FILE = "name the drill.yaml file itself"


def find_config_file(explicit: str | None, environ: dict[str, str] | None = None) -> Path | None:
    environ = dict(os.environ) if environ is None else environ
    if explicit:
        path = Path(explicit)
        if not path.exists():  # anything else (a FIFO, a device) is refused by load_file
            raise ConfigError(f"config file not found: {explicit}", "check the --config path")
        if path.is_dir():  # the option, not just the path (and no "run drill validate")
            raise ConfigError(f"--config {explicit} is a directory", _NAME_THE_FILE)
        return path
    if environ.get("DRILL_CONFIG"):
        path = Path(environ["DRILL_CONFIG"])
        if not path.exists():
            raise ConfigError(f"DRILL_CONFIG names a missing file: {path}")
        if path.is_dir():
            raise ConfigError(f"DRILL_CONFIG={path} is a directory", _NAME_THE_FILE)
        return path
    local = Path.cwd() / CONFIG_FILE_NAME
    return local if local.exists() or local.is_symlink() else None


def _one_lab_one_protection(settings: Settings) -> None:
    """Every environment that drives the local lab (``lab``, ``lab-aws``, any ``provider:
    lab``) changes the same servers: when one of them is ``protected``, all are (DESIGN
    10). With ``prod-lab: {provider: lab, protected: true}``, `drill run rds-failover
    --env lab` failed the protected lab's primary over without --yes."""
    from orchestrator.engine.locks import LOCAL_LAB, lock_scope

    on_lab = [n for n in settings.environments if lock_scope(settings, n) == LOCAL_LAB]
    guard = next((n for n in sorted(on_lab) if settings.environments[n].protected), None)
    if guard is None:
        return
    for name in on_lab:
        cfg = settings.environments[name]
        if not cfg.protected:
            copy = cfg.model_copy(update={"protected": True})
            copy._protected_as = guard
            settings.environments[name] = copy


def protected_note(env: EnvironmentConfig) -> str:
    """Why ``env`` is protected when drill.yaml does not say so of it ("" otherwise)."""
    guard = env._protected_as
    return f" (it drives the local lab, as the protected {guard!r} does)" if guard else ""


def load_settings(explicit: str | None = None, environ: dict[str, str] | None = None) -> Settings:
    """Load drill.yaml (if any), apply DRILL_* overrides, validate, add ``lab``."""
    environ = dict(os.environ) if environ is None else environ
    path = find_config_file(explicit, environ)
    doc = SourceDoc(file=DEFAULTS, data={})
    if path is not None:
        doc = load_file(path)
        if doc.data is None:
            doc.data = {}
        if not isinstance(doc.data, dict):
            raise DefinitionError([doc.problem("drill.yaml must be a mapping")])
    data, blame, made = _apply_env_overrides(dict(doc.data), environ)
    from orchestrator.secrets import remember_from

    remember_from(data)  # DSN passwords etc.: masked wherever they show up later
    try:
        # Nothing to check (no drill.yaml, no DRILL_* variable): the defaults, which is
        # what validating {} gives, without building a validator — the first one built
        # cost `drill run` ~7 ms of CPU: the schemas, and pydantic's plugin discovery,
        # which reads every installed package's entry points (Typer turns it off for its
        # own adapters)
        settings = Settings.model_validate(data) if data else Settings.model_construct()
    except ValidationError as exc:
        problems = _blamed(pydantic_problems(doc, exc), blame, made)
        raise DefinitionError(
            problems, "fix drill.yaml or the DRILL_* variable named (README: Configuration)"
        ) from None
    settings.base_dir = (path.parent if path else Path.cwd()).resolve()
    state = settings.state_path()
    if state.exists() and not state.is_dir():
        problem = _blamed(
            [doc.problem(f"state_dir {state} is not a directory", ("state_dir",))], blame
        )
        raise DefinitionError(problem, "point state_dir at a directory (drill creates it)")
    settings._warnings = tuple(str(p) for p in _blamed(_missing_paths(settings, doc), blame))
    settings.source = str(path) if path else None
    settings.environments.setdefault(  # a constant: nothing to validate (as above)
        "lab", EnvironmentConfig.model_construct(provider=ProviderKind.LAB)
    )
    if "lab-aws" not in settings.environments:  # while `drill lab up --aws` runs
        from orchestrator.labaws.env import environment

        lab_aws = environment(settings)
        if lab_aws is not None:
            settings.environments["lab-aws"] = lab_aws
    _one_lab_one_protection(settings)
    default = settings.default_env
    if default not in settings.environments and default != "lab-aws":  # that one comes and goes
        # said where it was set (it was only "unknown environment" when a command used it)
        known = ", ".join(sorted(settings.environments))
        unknown = doc.problem(f"unknown environment {default!r}", ("default_env",))
        raise DefinitionError(
            _blamed([unknown], blame),
            f"known environments: {known}; or add it under `environments:`",
        )
    return settings
