"""Terraform state → roles, without AWS: both state formats, discovery rules, errors."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from orchestrator.config import EnvironmentConfig
from orchestrator.errors import ConfigError
from orchestrator.inventory.roles import resolve
from orchestrator.inventory.state import load_state, parse_state

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "terraform"
STATE = json.loads((FIX / "reference.tfstate").read_text())


def _env(**kw: Any) -> EnvironmentConfig:
    return EnvironmentConfig.model_validate(
        {"provider": "aws", "region": "us-east-1", "dr_region": "us-west-2", **kw}
    )


def test_v4_addresses_modules_indexes_and_alias() -> None:
    st = load_state(str(FIX / "reference.tfstate"), FIX)
    by = st.by_address()
    replica = by["module.dr.aws_db_instance.replica"]
    assert replica.provider_alias == "dr" and replica.region == "us-west-2"
    assert "module.network.aws_subnet.database[1]" in by
    assert by["aws_db_instance.primary"].region == "us-east-1"


def test_show_json_reads_the_same_resources() -> None:
    v4 = load_state(str(FIX / "reference.tfstate"), FIX)
    show = load_state(str(FIX / "reference.show.json"), FIX)
    assert sorted(v4.by_address()) == sorted(show.by_address())
    a, b = v4.by_address(), show.by_address()
    assert all(a[k].attributes == b[k].attributes for k in a)


def test_discovery_resolves_every_role() -> None:
    inv = resolve(parse_state(STATE, "x"), "prod", _env())
    assert set(inv.targets) == {
        "primary_db",
        "dr_replica",
        "dns_record",
        "backup_vault",
        "asg",
        "alb",
        "target_group",
    }
    assert inv.targets["primary_db"].address == "aws_db_instance.primary"
    # the in-region read replica is not the DR replica: only the one in dr_region is
    assert inv.targets["dr_replica"].address == "module.dr.aws_db_instance.replica"
    assert inv.targets["backup_vault"].name == "prod-vault"
    assert all(t.how == "discovered" for t in inv.targets.values())
    assert {s.az for s in inv.subnets_in("us-east-1a")} == {"us-east-1a"}
    az_id = inv.subnets_in("us-east-1a")[0].az_id
    assert az_id and inv.subnets_in(az_id) == inv.subnets_in("us-east-1a")


def test_explicit_targets_win_and_typos_are_explained() -> None:
    inv = resolve(
        parse_state(STATE, "x"),
        "prod",
        _env(targets={"primary_db": "aws_db_instance.read_replica"}),
    )
    assert inv.targets["primary_db"].how == "explicit"
    assert inv.targets["primary_db"].name == "prod-db-ro"
    with pytest.raises(ConfigError) as err:
        resolve(
            parse_state(STATE, "state.json"),
            "prod",
            _env(targets={"dns_record": "aws_route53_record.dbb"}),
        )
    assert "environments.prod.targets.dns_record" in err.value.message
    assert "aws_route53_record.db" in err.value.message


def test_tagged_role_wins_and_ambiguity_is_reported() -> None:
    doc = copy.deepcopy(STATE)
    vaults = [r for r in doc["resources"] if r["type"] == "aws_backup_vault"]
    vaults[1]["instances"][0]["attributes"]["tags"] = {"drill:role": "backup_vault"}
    inv = resolve(parse_state(doc, "x"), "prod", _env())
    assert inv.targets["backup_vault"].how == "tag"
    assert inv.targets["backup_vault"].name == "prod-vault-dr"
    # two Multi-AZ primaries: nothing guessed
    dbs = [r for r in doc["resources"] if r["type"] == "aws_db_instance"]
    dbs[1]["instances"][0]["attributes"].update(multi_az=True, replicate_source_db="")
    inv = resolve(parse_state(doc, "x"), "prod", _env())
    assert "primary_db" not in inv.targets
    assert "ambiguous" in inv.unresolved["primary_db"]
    with pytest.raises(ConfigError, match="targets"):
        inv.target("primary_db")


def test_bad_state_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tfstate"
    bad.write_text('{\n  "version": 4,\n  "resources": [\n}')
    with pytest.raises(ConfigError, match=r"bad\.tfstate:4: invalid JSON"):
        load_state(str(bad), tmp_path)
    old = tmp_path / "old.tfstate"
    old.write_text('{"version": 3, "modules": []}')
    with pytest.raises(ConfigError, match="version 3 is not supported"):
        load_state(str(old), tmp_path)
    with pytest.raises(ConfigError, match="cannot read Terraform state"):
        load_state("missing.tfstate", tmp_path)


def test_a_role_on_a_resource_of_the_wrong_type_is_refused() -> None:
    """`targets: {primary_db: aws_backup_vault.main}` or a `drill:role=primary_db` tag on a
    vault was taken as is: the failover would have called RDS with the vault's name."""
    with pytest.raises(ConfigError) as err:
        resolve(
            parse_state(STATE, "x"), "prod", _env(targets={"primary_db": "aws_backup_vault.main"})
        )
    assert err.value.message == (
        "environments.prod.targets.primary_db: aws_backup_vault.main is an aws_backup_vault, "
        "which cannot be primary_db (aws_db_instance / aws_rds_cluster)"
    )
    doc = copy.deepcopy(STATE)
    vault = next(r for r in doc["resources"] if r["type"] == "aws_backup_vault")
    vault["instances"][0]["attributes"]["tags"] = {"drill:role": "dr_replica"}
    with pytest.raises(ConfigError) as err:
        resolve(parse_state(doc, "state.json"), "prod", _env())
    assert err.value.message == (
        "aws_backup_vault.main in state.json is tagged drill:role=dr_replica, but an "
        "aws_backup_vault cannot be dr_replica (aws_db_instance / aws_rds_cluster)"
    )
    vault["instances"][0]["attributes"]["tags"] = {"drill:role": "orders_db"}  # a team's own role
    assert resolve(parse_state(doc, "x"), "prod", _env()).targets["orders_db"].how == "tag"
