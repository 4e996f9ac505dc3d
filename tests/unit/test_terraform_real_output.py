"""The shapes real Terraform writes (tests/fixtures/terraform/builtin, Terraform 1.11.4):
the state file and `terraform show -json` name the same resources at the same
module-path addresses, and a plan's JSON is refused rather than read as an empty state."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator.errors import ConfigError
from orchestrator.inventory.state import load_state

BUILTIN = Path(__file__).resolve().parents[1] / "fixtures" / "terraform" / "builtin"


def test_state_file_and_show_json_agree_on_module_addresses() -> None:
    state = load_state("terraform.tfstate", BUILTIN)
    show = load_state("show.json", BUILTIN)
    expected = [
        "module.dr.terraform_data.replica[0]",
        "module.dr.terraform_data.replica[1]",
        "terraform_data.primary",
    ]
    for read in (state, show):
        assert sorted(r.address for r in read.resources) == expected
        by = read.by_address()
        assert by["module.dr.terraform_data.replica[1]"].module == "module.dr"
        assert by["module.dr.terraform_data.replica[1]"].index == 1
    # the same instances (a dynamic-typed attribute such as terraform_data's `input` is
    # stored as {value, type} in the state and plain in show; the AWS provider has none)
    assert {r.address: r.attributes["id"] for r in state.resources} == {
        r.address: r.attributes["id"] for r in show.resources
    }


def test_a_plan_is_not_taken_for_an_empty_state() -> None:
    """`terraform show -json PLANFILE` has `format_version` but no `values`: it was read
    as a state without resources, and every role came out unresolved without a hint."""
    assert "planned_values" in json.loads((BUILTIN / "plan.json").read_text())
    with pytest.raises(ConfigError) as err:
        load_state("plan.json", BUILTIN)
    assert "a Terraform plan" in err.value.message and "not the state" in err.value.message
