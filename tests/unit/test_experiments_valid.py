"""Every experiment in experiments/ passes chaoslib's own validation (`chaos validate`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

EXPERIMENTS = sorted(
    p
    for p in (Path(__file__).resolve().parents[2] / "experiments").iterdir()
    if p.suffix in (".yaml", ".yml", ".json")
)


def _load(path: Path) -> Any:
    if path.suffix == ".json":
        return json.loads(path.read_text())
    from ruamel.yaml import YAML

    return YAML(typ="safe").load(path.read_text())


def test_there_are_experiments() -> None:
    assert EXPERIMENTS


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.name)
def test_chaos_validate(path: Path) -> None:
    from chaoslib.experiment import ensure_experiment_is_valid

    ensure_experiment_is_valid(_load(path))  # raises InvalidExperiment with the reason


def test_validation_catches_a_bad_argument(tmp_path: Path) -> None:
    """The check above can fail: a wrong argument name is rejected."""
    from chaoslib.exceptions import InvalidActivity, InvalidExperiment

    doc = _load(EXPERIMENTS[0])
    act = next(a for a in doc["method"] if a.get("provider", {}).get("type") == "python")
    act["provider"]["arguments"] = {"no_such_argument": 1}
    with pytest.raises((InvalidActivity, InvalidExperiment)):
        from chaoslib.experiment import ensure_experiment_is_valid

        ensure_experiment_is_valid(doc)
