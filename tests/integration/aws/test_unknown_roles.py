"""A step naming a role the Terraform state does not have is refused before anything runs.

`drill plan` refused only the first such step, without saying which step or line, and
`drill run` started anyway: the run failed at that step (exit 1), its rollback with it
(`rollback_failed`, "the environment may be degraded"). Now both name every such step
at once, with file:line, its YAML path and the role (exit 2); the run makes no call
and records nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.aws.conftest import HERE, Stack, drill, env_block, write_config

pytestmark = pytest.mark.aws

RUNBOOK = """\
id: role-typos
title: a failover with two misspelt roles
objectives: {rto: 120s, rpo: 0s}
preconditions:
  - {name: standby in sync, kind: probe, action: db.multi_az}
steps:
  - name: force a failover
    action: db.failover
    args: {target: staging_db, wait: false}
    mark: fault_injected
  - name: repoint the global record
    action: dns.point
    args:
      record: dns_record
      to: dr_replca
"""

DRILL = """\
id: typo-drill
title: a drill whose second scenario has the typos
scenarios:
  - runbook: rds-failover
  - runbook: role-typos
"""


@pytest.fixture
def typos(aws_stack: Stack) -> Path:
    (aws_stack.dir / "rb").mkdir()
    path = aws_stack.dir / "rb" / "role-typos.yaml"
    path.write_text(RUNBOOK)
    (aws_stack.dir / "rb" / "typo-drill.yaml").write_text(DRILL)
    doc = {
        "environments": {"aws": env_block(aws_stack.url)},
        "paths": {
            "runbooks": [str(aws_stack.dir / "rb"), str(HERE / "runbooks")],
            "drills": [str(aws_stack.dir / "rb")],
        },
    }
    (aws_stack.dir / "drill.yaml").write_text(json.dumps(doc))
    return path


def _lines(text: str, *needles: str) -> list[int]:
    lines = text.splitlines()
    return [next(i for i, line in enumerate(lines, 1) if n in line) for n in needles]


@pytest.mark.parametrize("target", ["role-typos", "typo-drill"])
@pytest.mark.parametrize("command", ["plan", "run"])
def test_every_unknown_role_is_named_with_its_line_before_anything_runs(
    typos: Path, aws_stack: Stack, capsys: pytest.CaptureFixture[str], command: str, target: str
) -> None:
    assert drill(command, target, "--env", "aws", "--json") == 2
    cap = capsys.readouterr()
    assert cap.out == ""
    first, second = _lines(RUNBOOK, "target: staging_db", "to: dr_replca")
    err = cap.err.splitlines()
    assert err[0] == "drill: error: 2 problem(s) in definitions:"
    assert err[1] == (
        f"  {typos}:{first}: step 'force a failover': role 'staging_db' is not resolved "
        "for environment 'aws': not in the state (steps[0].args.target)"
    )
    assert err[2] == (
        f"  {typos}:{second}: step 'repoint the global record': role 'dr_replca' is not "
        "resolved for environment 'aws': not in the state (steps[1].args.to)"
    )
    assert "known roles:" in err[3] and "primary_db" in err[3]
    assert aws_stack.moto.requests() == []  # not even a read
    assert drill("runs", "list", "--json") == 0
    assert json.loads(capsys.readouterr().out) == []  # no run recorded


def test_what_only_the_run_can_tell_does_not_refuse_it(
    aws_stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    """The check resolves roles only: `az: primary` with a state that does not say
    which AZ hosts the primary is for RDS to answer when the step runs (`drill plan`
    cannot list those calls), not a reason to refuse the run."""
    path = aws_stack.dir / "terraform.tfstate"
    state = json.loads(path.read_text())
    for res in state["resources"]:
        if res["type"] == "aws_db_instance" and res["name"] == "primary":
            for inst in res["instances"]:
                inst["attributes"].pop("availability_zone", None)
    path.write_text(json.dumps(state))
    assert drill("plan", "az-loss", "--env", "aws") == 1
    assert "which AZ hosts the primary" in capsys.readouterr().err
    code = drill("run", "az-loss", "--env", "aws", "--json")
    doc = json.loads(capsys.readouterr().out)
    assert code == 1 and doc["status"] == "failed"  # it ran (moto never fails RDS over)
    requests = [r["operation"] for r in aws_stack.moto.requests()]
    assert "ReplaceNetworkAclAssociation" in requests  # the AZ was isolated for real


def test_validate_with_env_names_them_too_and_without_it_does_not(
    typos: Path, aws_stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    """`drill validate` takes no environment, so it passed a runbook `drill plan` and
    `drill run` refuse; `--env` adds the same check, read from the Terraform state."""
    assert drill("validate", str(typos)) == 0
    capsys.readouterr()
    assert drill("validate", str(typos.parent), "--env", "aws") == 2
    err = capsys.readouterr().err.splitlines()
    first, second = _lines(RUNBOOK, "target: staging_db", "to: dr_replca")
    assert err[0] == "drill: error: 2 problem(s) in definitions:"  # the drill's: said once
    assert err[1].startswith(f"  {typos}:{first}: step 'force a failover': role 'staging_db'")
    assert err[2].startswith(f"  {typos}:{second}: step 'repoint the global record'")
    assert "0 of 2 file(s) valid" not in err[3] and "known roles:" in err[3]
    assert aws_stack.moto.requests() == []  # not even a read


def test_the_hint_never_offers_the_primary_as_the_dr_replica(
    aws_stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    """A state whose replica is in another region than dr_region: the hint said
    `dr_replica: aws_db_instance.primary` whatever the role (a literal example), and a
    user who followed it had region-promotion promote the primary and its rollback
    delete it. It now names the replica, and the region it replicates in."""
    env = env_block(aws_stack.url, dr_region="eu-west-1")
    del env["targets"]
    write_config(aws_stack.dir, aws_stack.url, aws=env)
    assert drill("plan", "region-promotion", "--env", "aws") == 2
    err = capsys.readouterr().err
    assert (
        "module.dr.aws_db_instance.replica replicates it in us-west-2: set dr_region: us-west-2"
    ) in " ".join(err.split())
    (hint,) = [line for line in err.splitlines() if line.lstrip().startswith("hint:")]
    assert "`dr_replica: module.dr.aws_db_instance.replica`" in hint, hint
    assert "aws_db_instance.primary" not in hint


@pytest.mark.parametrize("command", ["plan", "run", "inventory"])
def test_the_primary_named_as_the_dr_replica_is_refused_before_anything_runs(
    aws_stack: Stack, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    """`targets: {dr_replica: aws_db_instance.primary}`: region-promotion promoted the
    primary (PromoteReadReplica) and its rollback deleted it, with a final snapshot, to
    re-create it as a replica of itself. Now refused (exit 2), nothing called."""
    env = env_block(aws_stack.url, targets={"dr_replica": "aws_db_instance.primary"})
    write_config(aws_stack.dir, aws_stack.url, aws=env)
    target = [] if command == "inventory" else ["region-promotion"]
    code = drill(command, *target, "--env", "aws")
    err = " ".join(capsys.readouterr().err.split())
    assert code == 2, err
    assert (
        "environments.aws.targets: primary_db and dr_replica are the same resource, "
        "aws_db_instance.primary"
    ) in err
    assert aws_stack.moto.requests() == []  # not even a read


def test_roles_found_through_an_ambiguous_primary_say_so(
    aws_stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two Multi-AZ instances in the state (the app's and a reporting one): primary_db
    is ambiguous, and the DR replica and the DNS record, which drill finds through it,
    were reported 'not in the state' though both are there."""
    path = aws_stack.dir / "terraform.tfstate"
    state = json.loads(path.read_text())
    (primary,) = [
        r for r in state["resources"] if r["type"] == "aws_db_instance" and r["name"] == "primary"
    ]
    reporting = json.loads(json.dumps(primary))
    reporting["name"] = "reporting"
    reporting["instances"][0]["attributes"]["identifier"] = "reporting-db"
    state["resources"].append(reporting)
    path.write_text(json.dumps(state))
    env = env_block(aws_stack.url)
    del env["targets"]
    write_config(aws_stack.dir, aws_stack.url, aws=env)
    assert drill("plan", "region-promotion", "--env", "aws") == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "not in the state" not in err
    for role in ("dr_replica", "dns_record"):
        assert (
            f"role '{role}' is not resolved for environment 'aws': found through primary_db, "
            "which is unresolved"
        ) in err
    assert aws_stack.moto.requests() == []
