"""`drill inventory` on the emulator: every role resolved, drift reported."""

from __future__ import annotations

import json

import pytest

from tests.integration.aws import stack as stack_mod
from tests.integration.aws.conftest import Stack, drill, env_block, write_config

pytestmark = pytest.mark.aws

ROLES = {"primary_db", "dr_replica", "dns_record", "backup_vault", "asg", "alb", "target_group"}


def _inventory(capsys: pytest.CaptureFixture[str], env: str = "aws") -> tuple[int, dict]:
    capsys.readouterr()
    code = drill("inventory", "--env", env, "--json")
    return code, json.loads(capsys.readouterr().out)


def test_resolves_every_role_explicit_and_discovered(
    aws_stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    code, doc = _inventory(capsys)
    assert code == 0, doc["drift"]
    assert set(doc["roles"]) == ROLES
    roles = doc["roles"]
    assert roles["dr_replica"]["how"] == "explicit"
    assert roles["dr_replica"]["address"] == "module.dr.aws_db_instance.replica"
    assert roles["dr_replica"]["region"] == "us-west-2"
    assert roles["primary_db"]["how"] == "discovered"
    assert roles["primary_db"]["name"] == "prod-db"
    assert roles["primary_db"]["multi_az"] is True
    assert roles["primary_db"]["az"] == "us-east-1a"
    primary = aws_stack.client("rds").describe_db_instances(DBInstanceIdentifier="prod-db")[
        "DBInstances"
    ][0]
    assert roles["primary_db"]["arn"] == primary["DBInstanceArn"]
    assert roles["primary_db"]["endpoint"] == primary["Endpoint"]["Address"]
    # two vaults (one per region): the primary region's is the role
    assert roles["backup_vault"]["name"] == "prod-vault"
    assert roles["dns_record"]["details"]["records"] == [primary["Endpoint"]["Address"]]
    assert {s["az"] for s in doc["subnets"]} == {"us-east-1a", "us-east-1b"}
    assert doc["drift"] == [] and doc["unresolved"] == {}
    # only read calls were made to check drift
    assert all(op.startswith(("Describe", "List", "GET")) for op in aws_stack.moto.operations())


def test_reports_injected_drift(aws_stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    aws_stack.client("rds").modify_db_instance(
        DBInstanceIdentifier="prod-db",
        MultiAZ=False,
        DBInstanceClass="db.r6g.xlarge",
        ApplyImmediately=True,
    )
    dr = aws_stack.client("rds", "us-west-2")
    # (moto cannot delete a cross-region replica directly: detach it first)
    dr.promote_read_replica(DBInstanceIdentifier="prod-db-dr")
    dr.delete_db_instance(DBInstanceIdentifier="prod-db-dr", SkipFinalSnapshot=True)
    code, doc = _inventory(capsys)
    assert code == 1
    kinds = {(d["role"], d["kind"]) for d in doc["drift"]}
    assert ("primary_db", "multi_az_off") in kinds
    resized = next(d for d in doc["drift"] if d["kind"] == "instance_class")
    state_class = aws_stack.attrs("aws_db_instance.primary")["instance_class"]
    assert (resized["role"], resized["actual"]) == ("primary_db", "db.r6g.xlarge")
    assert resized["expected"] == state_class != "db.r6g.xlarge"
    assert ("dr_replica", "gone") in kinds
    assert any("replica missing" in d["message"] for d in doc["drift"])


def test_state_from_s3_and_show_json(aws_stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    s3 = aws_stack.client("s3")
    s3.create_bucket(Bucket="tf-state")
    s3.put_object(
        Bucket="tf-state", Key="prod/terraform.tfstate", Body=json.dumps(aws_stack.state).encode()
    )
    (aws_stack.dir / "show.json").write_text(json.dumps(stack_mod.to_show_json(aws_stack.state)))
    write_config(
        aws_stack.dir,
        aws_stack.url,
        s3=env_block(aws_stack.url, terraform={"state": "s3://tf-state/prod/terraform.tfstate"}),
        show=env_block(aws_stack.url, terraform={"state": "show.json"}),
    )
    aws_stack.moto._post("/moto-api/recorder/reset-recording")
    _code, from_s3 = _inventory(capsys, "s3")
    _code, from_show = _inventory(capsys, "show")
    assert set(from_s3["roles"]) == set(from_show["roles"]) == ROLES
    for role in ROLES:
        assert from_s3["roles"][role]["arn"] == from_show["roles"][role]["arn"]
    assert from_s3["drift"] == from_show["drift"] == []
    ops = aws_stack.moto.operations()
    assert any(op.startswith("GET /tf-state") for op in ops)  # read with GetObject …
    assert not any(op.startswith(("PUT /tf-state", "DELETE")) for op in ops)  # … and no lock


def test_unknown_target_address_is_a_clear_error(
    aws_stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    write_config(
        aws_stack.dir,
        aws_stack.url,
        aws=env_block(aws_stack.url, targets={"dr_replica": "module.dr.aws_db_instance.replca"}),
    )
    assert drill("inventory", "--env", "aws") == 2
    err = capsys.readouterr().err
    assert "drill: error: environments.aws.targets.dr_replica: no resource" in err
    assert "module.dr.aws_db_instance.replica" in err  # the suggestion
    assert "Traceback" not in err


def test_assume_role_is_used_for_every_client(
    aws_stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    write_config(
        aws_stack.dir,
        aws_stack.url,
        assume=env_block(
            aws_stack.url, assume_role_arn="arn:aws:iam::123456789012:role/drill-runner"
        ),
    )
    aws_stack.moto._post("/moto-api/recorder/reset-recording")
    code, doc = _inventory(capsys, "assume")
    assert code == 0 and set(doc["roles"]) == ROLES
    reqs = aws_stack.moto.requests()
    assert reqs[0]["operation"] == "AssumeRole"
    assert reqs[0]["params"]["RoleArn"] == "arn:aws:iam::123456789012:role/drill-runner"
    assert sum(r["operation"] == "AssumeRole" for r in reqs) == 1  # one session, all regions


def test_inventory_of_a_lab_env_is_a_usage_error(
    aws_stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    assert drill("inventory", "--env", "lab") == 2
    assert "is a lab environment" in capsys.readouterr().err


def test_two_primaries_are_not_said_to_match_aws(
    aws_stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    """A state with a second Multi-AZ primary (one AWS has never heard of): the role is
    ambiguous, so neither instance was compared with AWS — and the inventory still said
    'no drift: AWS matches the Terraform state'."""
    import copy

    state = copy.deepcopy(aws_stack.state)
    primary = next(
        r for r in state["resources"] if r["type"] == "aws_db_instance" and r["name"] == "primary"
    )
    other = copy.deepcopy(primary)
    other["name"] = "primary2"
    other["instances"][0]["attributes"]["identifier"] = "ghost-db"
    state["resources"].append(other)
    (aws_stack.dir / "two.tfstate").write_text(json.dumps(state))
    write_config(
        aws_stack.dir,
        aws_stack.url,
        aws=env_block(aws_stack.url, terraform={"state": "two.tfstate"}),
    )
    capsys.readouterr()
    assert drill("inventory", "--env", "aws") == 0
    out = " ".join(capsys.readouterr().out.split())
    assert (
        "unresolved primary_db: ambiguous: aws_db_instance.primary, aws_db_instance.primary2" in out
    )
    assert "AWS matches the Terraform state" not in out
    assert "not checked: primary_db (unresolved)" in out
