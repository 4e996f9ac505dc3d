"""The bundled Chaos Toolkit experiments, run by drill (chaoslib) against the emulator
through the provider-neutral extension `orchestrator.chaos`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.integration.aws.conftest import Stack, drill

pytestmark = pytest.mark.aws

EXPERIMENTS = Path(__file__).resolve().parents[3] / "experiments"


def _mutating(stack: Stack) -> list[str]:
    return [
        r["operation"]
        for r in stack.moto.requests()
        if not r["operation"].startswith(("Describe", "List", "Get", "GET "))
    ]


def test_multi_az_failover_experiment(aws_stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    code = drill(
        "run", str(EXPERIMENTS / "multi-az-failover.yaml"), "--env", "aws", "--yes", "--json"
    )
    doc = json.loads(capsys.readouterr().out)
    assert code == 0, doc
    assert _mutating(aws_stack) == ["RebootDBInstance"]
    assert drill("iam-policy", str(EXPERIMENTS / "multi-az-failover.yaml"), "--env", "aws") == 0
    granted = {a for st in json.loads(capsys.readouterr().out)["Statement"] for a in st["Action"]}
    assert {"rds:RebootDBInstance", "rds:DescribeDBInstances"} <= granted


def test_region_promotion_experiment_rolls_back(
    aws_stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    code = drill(
        "run", str(EXPERIMENTS / "region-promotion.yaml"), "--env", "aws", "--yes", "--json"
    )
    doc = json.loads(capsys.readouterr().out)
    assert code == 0, doc
    ops = [o for o in _mutating(aws_stack)]
    assert ops[0] == "PromoteReadReplica"
    assert sum("/rrset" in o for o in ops) == 2  # repoint, then back
    assert ops[-2:] == ["DeleteDBInstance", "CreateDBInstanceReadReplica"]
    dr = aws_stack.client("rds", "us-west-2").describe_db_instances(
        DBInstanceIdentifier="prod-db-dr"
    )["DBInstances"][0]
    assert dr["ReadReplicaSourceDBInstanceIdentifier"]


def test_chaosaws_rds_reboot_runs_as_its_header_says(
    aws_stack: Stack,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """`drill run experiments/rds-reboot-failover-chaosaws.yaml --var db_instance=… --env …`
    does what `chaos run --var db_instance=…` does: chaosaws reboots the instance with
    ForceFailover, against the environment's endpoint (drill.yaml's endpoint_url, not the
    caller's AWS_ENDPOINT_URL), and both journals mean the same."""
    from tests.corpus.test_corpus import chaos, summary

    path = str(EXPERIMENTS / "rds-reboot-failover-chaosaws.yaml")
    opts = [
        "--var",
        "db_instance=prod-db",
        "--var",
        "aws_region=us-east-1",
        "--dry",
        "pause",
        "--rollback-strategy",
        "default",
    ]
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.chaostoolkit of the host
    assert chaos("run", "--journal-path", str(tmp_path / "chaos.json"), *opts, path) == 0
    chaos_ops = _mutating(aws_stack)
    aws_stack.moto._post("/moto-api/recorder/reset-recording")

    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # dead: drill must not use it
    code = drill(
        "run",
        path,
        "--env",
        "aws",
        "--yes",
        "--json",
        "--journal-path",
        str(tmp_path / "drill.json"),
        *opts,
    )
    doc = json.loads(capsys.readouterr().out)
    assert code == 0, doc
    reboots = [r for r in aws_stack.moto.requests() if r["operation"] == "RebootDBInstance"]
    assert chaos_ops == _mutating(aws_stack) == ["RebootDBInstance"]
    assert "prod-db" in json.dumps(reboots[0]) and "ForceFailover" in json.dumps(reboots[0])
    assert summary(json.loads((tmp_path / "drill.json").read_text())) == summary(
        json.loads((tmp_path / "chaos.json").read_text())
    )
    assert os.environ["AWS_ENDPOINT_URL"] == "http://127.0.0.1:9", "put back after the run"
