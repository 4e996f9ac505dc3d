"""`drill run` reads a valid Chaos Toolkit experiment the way `chaos run` does (PyYAML), and
anything invalid through the line-tracking parser, so errors still carry file:line."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from orchestrator.definitions.kinds import DefinitionKind, Experiment
from orchestrator.definitions.loader import load_definition
from orchestrator.errors import DefinitionError

VALID = """title: one probe
description: YAML 1.1 booleans as chaos reads them
configuration:
  flag: yes
method:
  - type: probe
    name: root-exists
    provider: {type: python, module: os.path, func: exists, arguments: {path: /}}
"""


def test_valid_experiment_is_read_as_chaos_reads_it(tmp_path: Path) -> None:
    path = tmp_path / "one.yaml"
    path.write_text(VALID)
    kind, definition, _doc = load_definition(path)
    assert kind is DefinitionKind.EXPERIMENT
    assert definition.document == yaml.safe_load(VALID)  # type: ignore[union-attr]
    assert definition.document["configuration"]["flag"] is True  # type: ignore[union-attr]


def test_invalid_experiment_still_reports_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(VALID.replace("type: python", "type: telepathy"))
    with pytest.raises(DefinitionError) as err:
        load_definition(path)
    problem = err.value.problems[0]
    assert problem.file == str(path) and problem.line == 6


def test_strict_mode_warns_about_what_chaos_accepts(tmp_path: Path) -> None:
    """drill validate agrees with chaos validate (DESIGN 13): a duplicate key chaos
    accepts is a warning from drill's stricter reader, not an error."""
    path = tmp_path / "dup.yaml"
    path.write_text(VALID + "title: again\n")
    assert load_definition(path)[0] is DefinitionKind.EXPERIMENT  # as `chaos run` does
    kind, definition, _doc = load_definition(path, strict=True)  # `drill validate`
    assert kind is DefinitionKind.EXPERIMENT and isinstance(definition, Experiment)
    assert any("duplicate" in w and "title" in w for w in definition.warnings)
