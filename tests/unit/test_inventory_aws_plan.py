"""The AWS provider's plans, from the Terraform state alone: every supported action
plans its calls without making any (the endpoint is a dead loopback port)."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.actions import ACTIONS
from orchestrator.config import EnvironmentConfig, Settings
from orchestrator.errors import ProviderError
from orchestrator.pgbin import free_port

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "terraform"


@pytest.fixture
def provider(monkeypatch: pytest.MonkeyPatch) -> object:
    from orchestrator.providers.aws.provider import AwsProvider

    for key in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    env = EnvironmentConfig.model_validate(
        {
            "provider": "aws",
            "region": "us-east-1",
            "dr_region": "us-west-2",
            "endpoint_url": f"http://127.0.0.1:{free_port()}",  # nothing listens there
            "terraform": {"state": str(FIX / "reference.tfstate")},
            "probes": "none",
        }
    )
    return AwsProvider("fixture", env, Settings(base_dir=FIX))


def _example_args(name: str) -> dict[str, object]:
    from ruamel.yaml import YAML

    step = YAML(typ="safe").load(ACTIONS.get(name).example)[0]
    return ACTIONS.get(name).validate_args(step.get("args") or {}).model_dump()


@pytest.mark.parametrize("name", ACTIONS.names())
def test_every_supported_action_plans_without_calling_aws(provider: object, name: str) -> None:
    from orchestrator.providers.aws.provider import AwsProvider

    assert isinstance(provider, AwsProvider)
    if not provider.supports(name):
        with pytest.raises(ProviderError, match="not implemented by the AWS provider"):
            provider.plan(name, {}, "live")
        return
    args = _example_args(name)
    if name.startswith("link.") and name != "link.restore":
        with pytest.raises(ProviderError, match="FIS experiment template"):
            provider.plan(name, args, "live")
        return
    for mode in ("live", "isolated"):
        calls = provider.plan(name, args, mode)
        for c in calls:
            assert c.operation and c.target
    assert provider.clients.journal == []  # not a single API call


def test_failover_plan_names_the_primary(provider: object) -> None:
    from orchestrator.providers.aws.provider import AwsProvider

    assert isinstance(provider, AwsProvider)
    calls = provider.plan("db.failover", {"target": "primary_db"}, "live")
    assert (calls[0].target, calls[0].operation, calls[0].arguments) == (
        "rds (us-east-1)",
        "RebootDBInstance",
        {"DBInstanceIdentifier": "prod-db", "ForceFailover": True},
    )
    promote = provider.plan("db.promote_replica", {"target": "dr_replica"}, "live")
    assert promote[0].target == "rds (us-west-2)" and promote[0].arguments == {
        "DBInstanceIdentifier": "prod-db-dr"
    }
    iso = provider.plan("az.isolate", {"az": "us-east-1a"}, "live")
    assert [c.operation for c in iso].count("ReplaceNetworkAclAssociation") == 3


def test_az_primary_plans_the_az_chosen_when_the_step_runs(provider: object) -> None:
    """The primary's AZ is read from RDS when the step runs (a failover moves it; the
    state keeps the AZ it was created in): the plan lists that read and shows the
    state's AZ and subnets as the state's, not as the AZ that will be cut."""
    from orchestrator.providers.aws.provider import AwsProvider

    assert isinstance(provider, AwsProvider)
    explicit = provider.plan("az.isolate", {"az": "us-east-1a"}, "live")
    alias = provider.plan("az.isolate", {"az": "primary"}, "live")
    read = alias[0]
    assert (read.target, read.operation, read.arguments, read.mutating) == (
        "rds (us-east-1)",
        "DescribeDBInstances",
        {"DBInstanceIdentifier": "prod-db"},
        False,
    )
    assert [c.operation for c in alias[1:]] == [c.operation for c in explicit]
    shown = str([c.arguments for c in alias])
    assert "when the step runs (us-east-1a in the Terraform state)" in shown
    assert "'az:us-east-1a'" not in shown and "=az:us-east-1a," not in shown
    for c in alias:
        for value in c.arguments.values():
            assert not (isinstance(value, str) and value.startswith("subnet-")), c
    restore = provider.plan("az.restore", {"az": "primary"}, "live")
    assert restore and restore[0].operation == "DescribeNetworkAcls"
    assert provider.clients.journal == []  # from the Terraform state alone


def test_a_vault_restore_plans_the_recovery_point_before_the_disaster(provider: object) -> None:
    """The restore picks the continuous recovery point, restored to just before the
    disaster, else the newest recovery point before it (its data ends there: the RPO
    runs from it); the plan said only '<newest>', then never that it asks a time."""
    from orchestrator.providers.aws.provider import AwsProvider

    assert isinstance(provider, AwsProvider)
    calls = provider.plan(
        "db.restore", {"source": "backup_vault", "point_in_time": "disaster"}, "live"
    )
    start = next(c for c in calls if c.operation == "StartRestoreJob")
    assert start.arguments["RecoveryPointArn"] == (
        "<continuous recovery point, else newest before the disaster>"
    )
    assert start.arguments["Metadata"]["RestoreTime"] == "<the disaster - 1 s (continuous only)>"
    snap = provider.plan("db.restore", {"source": "primary_db", "point_in_time": "latest"}, "live")
    assert (
        next(c for c in snap if c.operation == "RestoreDBInstanceFromDBSnapshot").arguments[
            "DBSnapshotIdentifier"
        ]
        == "<newest>"
    )
