"""The AWS-shaped lab's pure parts: request naming, the lab-aws environment, plan checks."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

from orchestrator.labaws.middleware import parse

AUTH = (
    "AWS4-HMAC-SHA256 Credential=x/20261130/{region}/{service}/aws4_request, "
    "SignedHeaders=host, Signature=0"
)


def _environ(
    service: str, region: str, method: str, path: str, body: bytes, ctype: str = "", **extra: str
) -> dict[str, Any]:
    env = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "CONTENT_TYPE": ctype,
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "HTTP_AUTHORIZATION": AUTH.format(region=region, service=service),
    }
    env.update(extra)
    return env


def test_query_protocol_call_is_named_with_its_params() -> None:
    body = b"Action=RebootDBInstance&Version=2014-10-31&DBInstanceIdentifier=db&ForceFailover=true"
    call = parse(
        _environ(
            "rds",
            "us-east-1",
            "POST",
            "/",
            body,
            "application/x-www-form-urlencoded; charset=utf-8",
        ),
        body,
    )
    assert (call.service, call.region, call.operation) == ("rds", "us-east-1", "RebootDBInstance")
    assert call.params == {"DBInstanceIdentifier": "db", "ForceFailover": "true"}
    assert call.mutating


def test_route53_change_lists_each_upsert_with_its_values() -> None:
    body = b"""<?xml version="1.0"?>
<ChangeResourceRecordSetsRequest xmlns="https://route53.amazonaws.com/doc/2013-04-01/">
<ChangeBatch><Changes><Change><Action>UPSERT</Action><ResourceRecordSet>
<Name>db.lab-aws.internal.</Name><Type>CNAME</Type><TTL>5</TTL>
<ResourceRecords><ResourceRecord><Value>drill-lab-dr.lab-aws.internal</Value>
</ResourceRecord></ResourceRecords></ResourceRecordSet></Change>
<Change><Action>DELETE</Action><ResourceRecordSet><Name>old.</Name></ResourceRecordSet>
</Change></Changes></ChangeBatch></ChangeResourceRecordSetsRequest>"""
    call = parse(
        _environ("route53", "us-east-1", "POST", "/2013-04-01/hostedzone/Z1/rrset/", body), body
    )
    assert call.operation == "ChangeResourceRecordSets" and call.mutating
    assert call.params["records"] == [("db.lab-aws.internal.", ["drill-lab-dr.lab-aws.internal"])]


def test_backup_rest_calls_and_reads() -> None:
    put = parse(_environ("backup", "us-east-1", "PUT", "/restore-jobs", b"{}"), b"{}")
    assert put.operation == "StartRestoreJob" and put.mutating
    get = parse(
        _environ("backup", "us-east-1", "GET", "/backup-vaults/v/recovery-points/", b""), b""
    )
    assert get.operation == "ListRecoveryPointsByBackupVault" and not get.mutating
    other = parse(_environ("s3", "us-east-1", "GET", "/bucket/key", b""), b"")
    assert other.operation == "GET /bucket/key" and not other.mutating


def test_json_protocol_target() -> None:
    call = parse(
        _environ(
            "monitoring",
            "us-west-2",
            "POST",
            "/",
            b"{}",
            "application/x-amz-json-1.0",
            HTTP_X_AMZ_TARGET="GraniteServiceVersion20100801.GetMetricStatistics",
        ),
        b"{}",
    )
    assert call.operation == "GetMetricStatistics" and not call.mutating


def test_lab_aws_exists_only_while_the_aws_api_runs(tmp_path: Path) -> None:
    from orchestrator.config import Settings, load_settings
    from orchestrator.labaws.env import environment

    settings = Settings(state_dir=str(tmp_path / ".drill"), base_dir=tmp_path)
    assert environment(settings) is None  # no lab at all
    root = tmp_path / ".drill" / "lab"
    (root / "aws").mkdir(parents=True)
    comps = {
        n: {"name": n, "kind": "proxy", "role": n, "port": p, "host": "127.0.0.1"}
        for n, p in (("db-endpoint", 5001), ("global-endpoint", 5002), ("lb", 5003))
    }
    comps["aws-api"] = {
        "name": "aws-api",
        "kind": "aws",
        "role": "aws_api",
        "port": 5004,
        "host": "127.0.0.1",
        "pid": os.getpid(),
    }
    (root / "state.json").write_text(
        json.dumps({"created_at": "2026-11-30T00:00:00Z", "components": comps})
    )
    assert environment(settings) is None  # running, but not ready (resources not seeded)
    (root / "aws" / "ready").write_text(str(os.getpid()))
    env = environment(settings)
    assert env is not None and env.endpoint_url == "http://127.0.0.1:5004"
    assert env.provider.value == "aws" and (env.region, env.dr_region) == ("us-east-1", "us-west-2")
    assert env.terraform is not None and env.terraform.state.endswith("terraform.tfstate")
    assert env.probes != "none" and env.probes is not None
    assert "port=5001" in (env.probes.db or "") and "port=5002" in (env.probes.global_db or "")
    old = os.getcwd()
    try:
        os.chdir(tmp_path)
        assert "lab-aws" in load_settings(environ={}).environments
    finally:
        os.chdir(old)


def test_check_against_plan_names_unplanned_mutations() -> None:
    from orchestrator.providers.aws.clients import ApiCall
    from orchestrator.providers.aws.context import call
    from orchestrator.providers.aws.provider import check_against_plan

    planned = [
        call("rds", "us-east-1", "RebootDBInstance"),
        call("rds", "us-east-1", "DescribeDBInstances", False),
        call("route53", "global", "ChangeResourceRecordSets"),
    ]
    made = [
        ApiCall("rds", "us-east-1", "RebootDBInstance"),
        ApiCall("route53", "us-east-1", "ChangeResourceRecordSets"),
        ApiCall("rds", "us-west-2", "RebootDBInstance"),
        ApiCall("rds", "us-east-1", "DeleteDBInstance"),
    ]
    assert check_against_plan(planned, made) == [
        "rds:RebootDBInstance (us-west-2)",
        "rds:DeleteDBInstance (us-east-1)",
    ]
