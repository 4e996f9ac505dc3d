"""Read commands with a run awaiting recovery, on the AWS emulator: no mutating call.

A drill on the emulated account is SIGKILLed (test hook) right after it swapped the
network ACLs of an AZ. Every read-only command is then run; the moto server's own
request recorder must show not one mutating request, and each command says in one
stderr line that a run awaits recovery. ``drill recover`` then makes the undo calls
and puts every association back.
"""

from __future__ import annotations

import json
import signal
from typing import Any

import pytest

from tests.clihelp import spawn
from tests.integration.aws.conftest import Stack, drill

pytestmark = [pytest.mark.aws, pytest.mark.slow]

READS = ("Describe", "List", "Get", "GET ")


def _mutating(stack: Stack) -> list[str]:
    return [r["operation"] for r in stack.moto.requests() if not r["operation"].startswith(READS)]


def _acls(stack: Stack) -> dict[str, str]:
    acls = stack.client("ec2").describe_network_acls()["NetworkAcls"]
    return {a["SubnetId"]: acl["NetworkAclId"] for acl in acls for a in acl["Associations"]}


def test_read_commands_make_no_mutating_call(
    aws_stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _acls(aws_stack)
    point = "step:az-loss:3:end"  # az.isolate done: the AZ's subnets are cut off
    proc = spawn(
        aws_stack.dir,
        "run",
        "az-loss",
        "--env",
        "aws",
        "--yes",
        "--json",
        env={"DRILL_TEST_CRASH_AT": point},
    )
    _out, err = proc.communicate(timeout=300)
    assert proc.returncode == -signal.SIGKILL and f" at {point}" in err, err[-3000:]
    assert "ReplaceNetworkAclAssociation" in _mutating(aws_stack)
    assert _acls(aws_stack) != before

    aws_stack.moto._post("/moto-api/recorder/reset-recording")
    capsys.readouterr()
    assert drill("runs", "list", "--json") == 0
    (entry,) = json.loads(capsys.readouterr().out)
    run_id = entry["run_id"]
    for args in (
        ["runs", "list"],
        ["runs", "show", run_id],
        ["status"],
        ["findings", "list"],
        ["evidence", "verify"],
        ["list"],
        ["plan", "az-loss", "--env", "aws"],
        ["inventory", "--env", "aws"],
        ["report", run_id, "--html", "--out", str(aws_stack.dir / "r.html")],
    ):
        code = drill(*args)
        err = capsys.readouterr().err
        assert code == (1 if args[0] == "inventory" else 0), (args, err)  # 1: drift found
        assert "drill: error" not in err, (args, err)
        assert err.count("awaits recovery") == 1 and run_id in err, (args, err)
        assert _mutating(aws_stack) == [], f"{args} made a mutating call"
    assert _acls(aws_stack) != before

    assert drill("recover", "--env", "aws") == 0, capsys.readouterr().err
    muts = _mutating(aws_stack)
    assert "ReplaceNetworkAclAssociation" in muts and "DeleteNetworkAcl" in muts
    assert _acls(aws_stack) == before
    capsys.readouterr()
    assert drill("runs", "show", run_id, "--json") == 0
    shown: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert shown["status"] == "crashed"
    assert all(s["status"] == "succeeded" for s in shown["steps"] if s["phase"] == "rollback")
