"""drill.yaml, DRILL_CONFIG and DRILL_* overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.config import load_settings
from orchestrator.errors import ConfigError, DefinitionError


def test_defaults_without_any_file(workdir: Path) -> None:
    s = load_settings(environ={})
    assert s.database_url() == f"sqlite:///{workdir}/.drill/evidence.db"
    name, env = s.environment(None)
    assert name == "lab" and env.provider.value == "lab"


def test_defaults_are_what_validating_nothing_gives(workdir: Path) -> None:
    """Without a drill.yaml or a DRILL_* variable the settings are constructed, not
    validated (start-up time): the same values, down to the lab environment and the
    default paths, as validating an empty drill.yaml and a lab entry."""
    from orchestrator.config import EnvironmentConfig, PathsConfig, Settings

    built = load_settings(environ={})
    validated = Settings.model_validate({})  # what load_settings did before, step by step
    validated.base_dir = workdir.resolve()
    validated.source = None
    validated.environments["lab"] = EnvironmentConfig.model_validate({"provider": "lab"})
    assert built == validated and built.model_dump() == validated.model_dump()
    assert built.model_fields_set == validated.model_fields_set
    assert built.paths == PathsConfig.model_validate({})
    assert built.environments["lab"].model_fields_set == {"provider"}
    (workdir / "drill.yaml").write_text("{}\n")  # an empty file: the same defaults
    assert load_settings(environ={}).model_dump() == validated.model_dump()


def test_file_env_var_and_overrides(workdir: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "elsewhere.yaml"
    cfg.write_text("""database: sqlite:///data/ev.db
environments:
  staging:
    provider: aws
    region: us-east-1
    dr_region: us-west-2
    terraform: {state: s3://tf-state/prod/terraform.tfstate}
    targets: {primary_db: module.db.aws_db_instance.primary}
""")
    s = load_settings(
        environ={
            "DRILL_CONFIG": str(cfg),
            "DRILL_ENVIRONMENTS__STAGING__PROTECTED": "true",
            "DRILL_DEFAULT_ENV": "staging",
        }
    )
    assert s.database_url() == f"sqlite:///{tmp_path}/data/ev.db"
    name, env = s.environment(None)
    assert name == "staging" and env.protected is True
    assert env.targets["primary_db"] == "module.db.aws_db_instance.primary"
    assert "lab" in s.environments


def test_database_override(workdir: Path) -> None:
    s = load_settings(environ={"DRILL_DATABASE": "postgresql+psycopg://u@127.0.0.1/db"})
    assert s.database_url() == "postgresql+psycopg://u@127.0.0.1/db"


def test_unknown_setting_is_located(workdir: Path) -> None:
    (workdir / "drill.yaml").write_text("databse: x\n")
    with pytest.raises(DefinitionError) as exc:
        load_settings(environ={})
    (p,) = exc.value.problems
    assert p.line == 1 and "unknown field 'databse'" in p.message


def test_missing_explicit_config(workdir: Path) -> None:
    with pytest.raises(ConfigError):
        load_settings("nope.yaml", environ={})
