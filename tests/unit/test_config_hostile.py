"""Bad configuration and Terraform state (issue 18, item 11): one clear error naming the
file:line or the DRILL_* variable, never an internal error later on."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from orchestrator.config import load_settings
from orchestrator.errors import ConfigError, DefinitionError
from orchestrator.inventory.state import load_state


def _config(tmp_path: Path, text: str) -> Path:
    cfg = tmp_path / "drill.yaml"
    cfg.write_text(text)
    return cfg


def _problem(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> str:
    cfg = _config(tmp_path, text)
    with pytest.raises(DefinitionError) as info:
        load_settings(str(cfg), environ=environ or {})
    assert len(info.value.problems) == 1
    return str(info.value.problems[0])


@pytest.mark.parametrize(
    ("database", "message"),
    [
        ("sqlite:///:memory:", "an in-memory SQLite database keeps no evidence"),
        ("sqlite://", "an in-memory SQLite database keeps no evidence"),
        ("sqlite:///x.db?mode=ro", "SQLite URL parameters (such as mode=ro) are not supported"),
        ("mysql://u@127.0.0.1/x", "database must be sqlite:///PATH or postgresql"),
        ("garbage", "database must be sqlite:///PATH or postgresql"),
    ],
)
def test_unusable_databases_are_refused(tmp_path: Path, database: str, message: str) -> None:
    text = _problem(tmp_path, f'database: "{database}"\n')
    assert text.startswith(f"{tmp_path / 'drill.yaml'}:1: {message}")


def test_state_dir_that_is_a_file_or_in_proc(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("")
    assert "drill.yaml:2: state_dir" in _problem(tmp_path, "default_env: lab\nstate_dir: afile\n")
    assert "is not a directory" in _problem(tmp_path, "state_dir: afile\n")
    assert "is in /proc" in _problem(tmp_path, "state_dir: /proc/self/drill\n")
    text = _problem(tmp_path, "{}\n", {"DRILL_STATE_DIR": "afile"})
    assert text.startswith("DRILL_STATE_DIR: state_dir")


@pytest.mark.parametrize(
    "url", ["garbage", "file:///etc/passwd", "http://", "ftp://127.0.0.1/", "http://h:99999"]
)
def test_endpoint_url_must_be_an_http_url(tmp_path: Path, url: str) -> None:
    text = _problem(tmp_path, f'environments:\n  s: {{provider: aws, endpoint_url: "{url}"}}\n')
    assert ":2: endpoint_url must be an http:// or https:// URL" in text
    assert "(environments.s.endpoint_url)" in text


def test_good_endpoint_urls_pass(tmp_path: Path) -> None:
    for url in ("http://127.0.0.1:5000", "https://rds.us-east-1.amazonaws.com/"):
        cfg = _config(tmp_path, f'environments:\n  s: {{provider: aws, endpoint_url: "{url}"}}\n')
        assert load_settings(str(cfg), environ={}).environments["s"].endpoint_url == url


def test_override_errors_blame_the_variable(tmp_path: Path) -> None:
    text = "default_env: lab\nenvironments:\n  staging: {provider: aws}\n"
    env = {"DRILL_ENVIRONMENTS__STAGING__PROTECTED": "maybe"}
    assert _problem(tmp_path, text, env).startswith(
        "DRILL_ENVIRONMENTS__STAGING__PROTECTED: Input should be a valid boolean"
    )
    assert _problem(tmp_path, text, {"DRILL_ENVIRONMENTS__STAGING": "5"}).startswith(
        "DRILL_ENVIRONMENTS__STAGING: "
    )
    assert _problem(tmp_path, text, {"DRILL_PATHS__RUNBOOKS": "[1]"}).startswith(
        "DRILL_PATHS__RUNBOOKS: "
    )
    # an error in the file is still the file's
    bad = text.replace("{provider: aws}", "{provider: gcp}")
    assert _problem(tmp_path, bad, {"DRILL_DEFAULT_ENV": "lab"}).startswith(
        f"{tmp_path / 'drill.yaml'}:3:"
    )
    with pytest.raises(ConfigError, match="DRILL_NOTIFY: invalid JSON"):
        load_settings(str(_config(tmp_path, text)), environ={"DRILL_NOTIFY": "[1"})


def test_override_values_are_text_unless_json_structures(tmp_path: Path) -> None:
    # an environment named "123" (default_env must name one that exists)
    cfg = _config(tmp_path, "environments:\n  staging: {provider: aws}\n  '123': {provider: lab}\n")
    s = load_settings(
        str(cfg),
        environ={
            "DRILL_DEFAULT_ENV": "123",
            "DRILL_ENVIRONMENTS__STAGING__PROTECTED": "true",
            "DRILL_NOTIFY": '["http://127.0.0.1:9/hook"]',
        },
    )
    assert s.default_env == "123"
    assert s.environments["staging"].protected is True
    assert s.notify == ["http://127.0.0.1:9/hook"]


def test_config_file_that_is_not_a_regular_file(tmp_path: Path) -> None:
    fifo = tmp_path / "drill.yaml"
    os.mkfifo(fifo)
    with pytest.raises(DefinitionError, match="not a regular file"):
        load_settings(str(fifo), environ={})
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(str(tmp_path / "missing.yaml"), environ={})


@pytest.mark.parametrize(
    ("doc", "where"),
    [
        ({"version": 4, "resources": 5}, "resources should be a list, not int"),
        ({"version": 4, "resources": ["x"]}, "resources[0] should be an object"),
        ({"version": 4, "resources": [{"type": 3, "name": "n"}]}, "resources[0].type should"),
        (
            {"version": 4, "resources": [{"type": "t", "name": "n", "instances": "x"}]},
            "resources[0].instances should be a list",
        ),
        (
            {
                "version": 4,
                "resources": [{"type": "t", "name": "n", "instances": [{"attributes": []}]}],
            },
            "resources[0].instances[0].attributes should be an object",
        ),
        (
            {
                "version": 4,
                "resources": [{"type": "t", "name": "n", "instances": [{"index_key": [1]}]}],
            },
            "index_key should be a number or a string",
        ),
        ({"format_version": "1.0", "values": []}, "values should be an object"),
        (
            {"format_version": "1.0", "values": {"root_module": {"child_modules": [7]}}},
            "values.root_module.child_modules[0] should be an object",
        ),
        (
            {"format_version": "1.0", "values": {"root_module": {"resources": [{"address": 1}]}}},
            "values.root_module.resources[0].address should be a string",
        ),
        ({"version": "4"}, "version '4' is not supported"),
    ],
)
def test_terraform_state_of_wrong_shape(tmp_path: Path, doc: object, where: str) -> None:
    path = tmp_path / "tf.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ConfigError) as info:
        load_state(str(path), tmp_path)
    assert info.value.message.startswith(str(path))
    assert where in info.value.message


def test_terraform_state_that_is_a_fifo(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "tf.json")
    with pytest.raises(ConfigError, match=r"tf.json: not a regular file \(a FIFO\)"):
        load_state("tf.json", tmp_path)
