"""The IAM policy generated for the bundled quarterly-dr drill, and RDS event parsing."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from orchestrator.actions import ACTIONS

REPO = Path(__file__).resolve().parents[2]


def test_quarterly_dr_policy_is_valid_iam_and_covers_the_scenarios(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from orchestrator.config import load_settings
    from orchestrator.definitions.catalog import Catalog
    from orchestrator.engine.plan import build_plan
    from orchestrator.providers.aws.iam import actions_of, policy

    monkeypatch.chdir(REPO)
    settings = load_settings(environ={})
    plan = build_plan(Catalog(settings), "quarterly-dr")
    env = settings.model_validate(
        {
            "environments": {
                "prod": {
                    "provider": "aws",
                    "region": "us-east-1",
                    "dr_region": "us-west-2",
                    "terraform": {"state": "s3://tf-state/prod/terraform.tfstate"},
                }
            }
        }
    ).environments["prod"]
    doc = json.loads(json.dumps(policy(plan, env)))
    assert doc["Version"] == "2012-10-17"
    actions = [a for st in doc["Statement"] for a in st["Action"]]
    assert all(re.match(r"^[a-z0-9-]+:[A-Za-z0-9]+$", a) for a in actions)
    for needed in (
        "rds:RebootDBInstance",
        "rds:PromoteReadReplica",
        "route53:ChangeResourceRecordSets",
        "ec2:CreateNetworkAcl",
        "ec2:ReplaceNetworkAclAssociation",
        "backup:StartRestoreJob",
        "rds:DeleteDBInstance",
    ):
        assert needed in actions
    s3 = [st for st in doc["Statement"] if st["Sid"] == "DrillReadTerraformState"]
    assert s3 == [
        {
            "Sid": "DrillReadTerraformState",
            "Effect": "Allow",
            "Action": ["s3:GetObject"],
            "Resource": "arn:aws:s3:::tf-state/prod/terraform.tfstate",
        }
    ]
    # exactly the declared ones: nothing a scenario does not use
    used = actions_of(plan)
    declared = {
        p
        for n in used
        for p in ACTIONS.get(n).permissions.get("aws", ())
        if ":" in p and " " not in p
    }
    from orchestrator.providers.aws.iam import CLEANUP

    assert set(actions) == declared | set(CLEANUP) | {"s3:GetObject"}


def test_rds_event_classification() -> None:
    from orchestrator.providers.aws.observer import classify

    assert classify("Multi-AZ instance failover started.", ["failover"]) == "failover_started"
    assert classify("Multi-AZ instance failover completed.", ["failover"]) == "failover_completed"
    assert classify("Promoted Read Replica to a standalone database instance.", []) == "promotion"
    assert classify("Finished DB Instance backup", ["backup"]) == "other"
