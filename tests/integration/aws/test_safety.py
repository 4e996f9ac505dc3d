"""Safety on AWS: protected environments, plan makes no call, isolated mode, leftovers."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.integration.aws.conftest import Stack, drill

pytestmark = pytest.mark.aws

READS = ("Describe", "List", "Get", "GET ")


def _mutating(stack: Stack) -> list[str]:
    return [r["operation"] for r in stack.moto.requests() if not r["operation"].startswith(READS)]


@pytest.mark.parametrize("runbook", ["rds-failover", "az-loss", "region-promotion"])
def test_protected_env_refuses_without_yes(
    runbook: str, aws_stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    assert drill("run", runbook, "--env", "prot") == 2
    err = capsys.readouterr().err
    assert "drill: error: environment 'prot' is protected" in err and "--yes" in err
    assert aws_stack.moto.requests() == []  # not even a read: refused before any client


def test_protected_env_with_yes_records_the_approval(
    aws_stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    from orchestrator.config import load_settings
    from orchestrator.evidence.records import Approval
    from orchestrator.evidence.writer import EvidenceDB

    assert drill("run", "rds-failover", "--env", "prot", "--yes", "--json") == 0
    run_id = json.loads(capsys.readouterr().out)["run_id"]
    assert _mutating(aws_stack) == ["RebootDBInstance"]
    db = EvidenceDB.open(load_settings().database_url())
    approvals = db.records(Approval, "run_id = ?", (run_id,))
    db.close()
    assert len(approvals) == 1 and approvals[0].env == "prot"


def test_chaos_activity_on_protected_env_needs_approval(aws_stack: Stack) -> None:
    from chaoslib.exceptions import InterruptExecution

    from orchestrator.chaos import db

    with pytest.raises(InterruptExecution, match="protected"):
        db.failover(
            configuration={"drill_env": "prot", "drill_config": str(aws_stack.dir / "drill.yaml")}
        )
    assert _mutating(aws_stack) == []
    out = db.failover(
        configuration={
            "drill_env": "prot",
            "drill_yes": True,
            "drill_config": str(aws_stack.dir / "drill.yaml"),
        }
    )
    assert out["operation"] == "RebootDBInstance" and _mutating(aws_stack) == ["RebootDBInstance"]


def test_plan_lists_calls_and_makes_none(
    aws_stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    assert drill("plan", "rds-failover", "--env", "prot", "--json") == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["needs_confirmation"] is True
    calls = [c for st in doc["scenarios"][0]["steps"] for c in st["calls"]]
    reboot = [c for c in calls if c["operation"] == "RebootDBInstance"]
    assert reboot == [
        {
            "target": "rds (us-east-1)",
            "operation": "RebootDBInstance",
            "arguments": {"DBInstanceIdentifier": "prod-db", "ForceFailover": True},
            "mutating": True,
        }
    ]
    assert aws_stack.moto.requests() == []


def test_isolated_promotion_clones_and_leaves_production_alone(
    aws_stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    code = drill("run", "region-promotion", "--env", "aws", "--yes", "--mode", "isolated", "--json")
    doc = json.loads(capsys.readouterr().out)
    assert code == 0, doc
    muts = [
        (r["operation"], r["params"].get("DBInstanceIdentifier"))
        for r in aws_stack.moto.requests()
        if not r["operation"].startswith(READS)
    ]
    assert [m[0] for m in muts] == [
        "CreateDBInstanceReadReplica",
        "PromoteReadReplica",
        "DeleteDBInstance",
    ]
    clone = muts[0][1]
    assert clone.startswith("drill-") and all(m[1] == clone for m in muts)
    dr = aws_stack.client("rds", "us-west-2").describe_db_instances()["DBInstances"]
    assert [d["DBInstanceIdentifier"] for d in dr] == ["prod-db-dr"]
    assert dr[0]["ReadReplicaSourceDBInstanceIdentifier"]  # still replicating
    # the plan says the clone's class and how it is deleted, as the run sent them
    sent = {
        r["operation"]: r["params"]
        for r in aws_stack.moto.requests()
        if not r["operation"].startswith(READS)
    }
    assert drill("plan", "region-promotion", "--env", "aws", "--mode", "isolated", "--json") == 0
    plan = json.loads(capsys.readouterr().out)
    planned = {
        c["operation"]: c["arguments"]
        for st in plan["scenarios"][0]["steps"]
        for c in [*st["calls"], *(st.get("rollback") or {}).get("calls", [])]
        if c["mutating"]
    }
    create = planned["CreateDBInstanceReadReplica"]
    assert create["DBInstanceClass"] == sent["CreateDBInstanceReadReplica"]["DBInstanceClass"]
    assert planned["DeleteDBInstance"]["DeleteAutomatedBackups"] is True
    assert str(sent["DeleteDBInstance"]["DeleteAutomatedBackups"]).lower() == "true"


def test_next_run_cleans_up_a_crashed_runs_leftovers(
    aws_stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    """A run that died mid-AZ-loss left a deny-all ACL and a restored instance behind."""
    from orchestrator.config import load_settings
    from orchestrator.providers.aws.provider import AwsProvider
    from orchestrator.providers.base import StepContext

    settings = load_settings()
    name, env = settings.environment("aws")
    ec2 = aws_stack.client("ec2")
    before = {
        a["SubnetId"]: acl["NetworkAclId"]
        for acl in ec2.describe_network_acls()["NetworkAcls"]
        for a in acl["Associations"]
    }
    provider = AwsProvider(name, env, settings)
    ctx = StepContext(run_id="r-crashed", scenario_id="az-loss", mode="live", deadline_s=60)
    provider.execute("az.isolate", {"az": "us-east-1b"}, ctx)
    provider.execute("db.restore", {"source": "primary_db", "point_in_time": "latest"}, ctx)
    provider.close()
    assert {
        a["SubnetId"]: acl["NetworkAclId"]
        for acl in ec2.describe_network_acls()["NetworkAcls"]
        for a in acl["Associations"]
    } != before

    assert drill("run", "rds-failover", "--env", "aws", "--yes") == 0
    assert "left by run r-crashed" in capsys.readouterr().err
    after = {
        a["SubnetId"]: acl["NetworkAclId"]
        for acl in ec2.describe_network_acls()["NetworkAcls"]
        for a in acl["Associations"]
    }
    assert after == before
    names = [
        d["DBInstanceIdentifier"]
        for d in aws_stack.client("rds").describe_db_instances()["DBInstances"]
    ]
    assert not any(n.startswith("drill-r-crashed") for n in names)


def test_plan_of_quarterly_dr_names_every_call(
    aws_stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    assert drill("plan", "quarterly-dr", "--env", "aws", "--json") == 0
    doc = json.loads(capsys.readouterr().out)
    ops = {
        c["operation"]
        for sc in doc["scenarios"]
        for st in sc["steps"]
        for c in [*st.get("calls", []), *st.get("rollback", {}).get("calls", [])]
    }
    assert {
        "RebootDBInstance",
        "PromoteReadReplica",
        "ChangeResourceRecordSets",
        "CreateNetworkAcl",
        "ReplaceNetworkAclAssociation",
    } <= ops
    assert ops & {
        "RestoreDBInstanceToPointInTime",
        "StartRestoreJob",
        "RestoreDBInstanceFromDBSnapshot",
    }
    assert not [r for r in aws_stack.moto.requests() if not r["operation"].startswith(READS)]


def test_isolated_failover_works_on_a_tagged_clone(aws_stack: Stack) -> None:
    from orchestrator.config import load_settings
    from orchestrator.providers.aws.provider import AwsProvider
    from orchestrator.providers.base import StepContext

    settings = load_settings()
    name, env = settings.environment("aws")
    provider = AwsProvider(name, env, settings)
    ctx = StepContext(run_id="r-iso", scenario_id="rds-failover", mode="isolated", deadline_s=60)
    out = provider.execute("db.failover", {"target": "primary_db", "wait": True}, ctx)
    clone = out["clone"]
    assert clone.startswith("drill-r-iso") and out["instance"] == clone
    undo = provider.execute("db.reprotect", {"target": "primary_db", **out["rollback_args"]}, ctx)
    provider.close()
    assert undo["deleted_clone"] is True
    muts = [
        (
            r["operation"],
            r["params"].get("DBInstanceIdentifier")
            or r["params"].get("TargetDBInstanceIdentifier"),
        )
        for r in aws_stack.moto.requests()
        if not r["operation"].startswith(READS)
    ]
    assert muts == [
        ("RestoreDBInstanceToPointInTime", clone),
        ("RebootDBInstance", clone),
        ("DeleteDBInstance", clone),
    ]


@pytest.mark.parametrize(
    ("action", "args", "mode"),
    [
        ("db.failover", {"target": "primary_db", "wait": True}, "isolated"),
        ("db.restore", {"source": "primary_db", "point_in_time": "latest"}, "live"),
    ],
)
def test_undo_without_the_steps_output_still_removes_what_it_created(
    aws_stack: Stack, action: str, args: dict[str, Any], mode: str
) -> None:
    """drill died while the step ran (a clone or a restore being created): the pending
    undo holds only the step's own args, not its output — recovery plays exactly that.
    It still finds the instance by the run id (it left the clone / restore behind)."""
    from orchestrator.actions import rollback_of
    from orchestrator.config import load_settings
    from orchestrator.providers.aws.provider import AwsProvider
    from orchestrator.providers.base import StepContext

    settings = load_settings()
    name, env = settings.environment("aws")
    provider = AwsProvider(name, env, settings)
    ctx = StepContext(run_id="r-died", scenario_id="x", mode=mode, deadline_s=60)
    created = provider.execute(action, dict(args), ctx)
    made = created.get("clone") or created.get("new_instance")
    assert made and made.startswith("drill-r-died"), created
    undo = rollback_of(action, dict(args))
    assert undo is not None
    provider.execute(undo[0], undo[1], ctx)  # what the pending row holds: no output
    provider.close()
    names = [
        d["DBInstanceIdentifier"]
        for d in aws_stack.client("rds").describe_db_instances()["DBInstances"]
    ]
    assert made not in names, names
