"""Walk every registry entry (STYLE lesson 3): schema, permissions, a valid example."""

from __future__ import annotations

import pytest

from orchestrator.actions import ACTIONS, ActivityKind
from orchestrator.definitions.models import Step
from orchestrator.registry import Registry, UnknownName
from orchestrator.yamlsrc import parse_text


@pytest.mark.parametrize("name", ACTIONS.names())
def test_action_declares_its_contract(name: str) -> None:
    spec = ACTIONS.get(name)
    assert spec.summary.endswith(".")
    assert spec.permissions.get("aws") and spec.permissions.get("lab"), "permissions per provider"
    (raw,) = parse_text(spec.example, f"{name} example").data
    step = Step.model_validate(raw)
    assert step.action == name
    assert ACTIONS.get(name).kind.value == step.kind.value
    spec.validate_args(step.args)
    if spec.rollback is not None:
        undo = ACTIONS.get(spec.rollback.action)
        assert undo.kind is ActivityKind.ACTION
    if spec.destructive:
        assert spec.rollback is not None, f"destructive {name} must declare its rollback"


def test_unknown_name_lists_valid_ones() -> None:
    reg: Registry[int] = Registry("widget")
    reg.register("db.failover", 1)
    reg.register("db.restore", 2)
    with pytest.raises(UnknownName) as exc:
        reg.get("db.failovr")
    assert "did you mean 'db.failover'" in str(exc.value)
    assert "db.restore" in str(exc.value)
    with pytest.raises(ValueError):
        reg.register("db.restore", 3)
