"""The bundled Chaos Toolkit experiments, run by drill (chaoslib) against the emulator
through the provider-neutral extension `orchestrator.chaos`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.aws.conftest import Stack, drill

pytestmark = pytest.mark.aws

EXPERIMENTS = Path(__file__).resolve().parents[3] / "experiments"


def _mutating(stack: Stack) -> list[str]:
    return [r["operation"] for r in stack.moto.requests()
            if not r["operation"].startswith(("Describe", "List", "Get", "GET "))]


def test_multi_az_failover_experiment(aws_stack: Stack, capsys: pytest.CaptureFixture[str]
                                      ) -> None:
    code = drill("run", str(EXPERIMENTS / "multi-az-failover.yaml"), "--env", "aws", "--yes",
                 "--json")
    doc = json.loads(capsys.readouterr().out)
    assert code == 0, doc
    assert _mutating(aws_stack) == ["RebootDBInstance"]
    assert drill("iam-policy", str(EXPERIMENTS / "multi-az-failover.yaml"), "--env", "aws") == 0
    granted = {a for st in json.loads(capsys.readouterr().out)["Statement"]
               for a in st["Action"]}
    assert {"rds:RebootDBInstance", "rds:DescribeDBInstances"} <= granted


def test_region_promotion_experiment_rolls_back(aws_stack: Stack,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    code = drill("run", str(EXPERIMENTS / "region-promotion.yaml"), "--env", "aws", "--yes",
                 "--json")
    doc = json.loads(capsys.readouterr().out)
    assert code == 0, doc
    ops = [o for o in _mutating(aws_stack)]
    assert ops[0] == "PromoteReadReplica"
    assert sum("/rrset" in o for o in ops) == 2  # repoint, then back
    assert ops[-2:] == ["DeleteDBInstance", "CreateDBInstanceReadReplica"]
    dr = aws_stack.client("rds", "us-west-2").describe_db_instances(
        DBInstanceIdentifier="prod-db-dr")["DBInstances"][0]
    assert dr["ReadReplicaSourceDBInstanceIdentifier"]
