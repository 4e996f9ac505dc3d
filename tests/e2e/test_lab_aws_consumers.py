"""The AWS-shaped lab read and driven as other tools would (DESIGN 12).

The Terraform state as `terraform show -json` and tfstate parsers read it: each
resource address once. The lab wrote `aws_subnet.lab` twice, one entry per AZ with
`index_key` 0 and 1 — Terraform writes a `count` resource as one entry whose
instances carry the keys, and a reader keyed by address kept one subnet of the two.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import aws_client, lab_status

pytestmark = [pytest.mark.lab, pytest.mark.aws, pytest.mark.slow]


def _addresses(state: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every resource instance by its Terraform address (as `terraform state list`)."""
    out: dict[str, dict[str, Any]] = {}
    for res in state["resources"]:
        base = f"{res['type']}.{res['name']}"
        for inst in res["instances"]:
            key = inst.get("index_key")
            out[base if key is None else f"{base}[{key}]"] = {**inst, "provider": res["provider"]}
    return out


def test_terraform_state_lists_each_address_once(awslab: Path) -> None:
    aws = lab_status(awslab)["aws"]
    state = json.loads(Path(aws["terraform_state"]).read_text())
    entries = Counter(
        (r.get("module"), r["mode"], r["type"], r["name"]) for r in state["resources"]
    )
    assert [k for k, n in entries.items() if n > 1] == []
    addresses = _addresses(state)
    subnets = {a: i for a, i in addresses.items() if a.startswith("aws_subnet.")}
    assert sorted(subnets) == ["aws_subnet.lab[0]", "aws_subnet.lab[1]"]
    zones = {i["attributes"]["availability_zone"] for i in subnets.values()}
    assert len(zones) == 2  # one subnet per AZ
    vpc = addresses["aws_vpc.lab"]["attributes"]
    assert {i["attributes"]["vpc_id"] for i in subnets.values()} == {vpc["id"]}
    for address, inst in addresses.items():  # every ARN names its account, as AWS's do
        arn = inst["attributes"].get("arn")
        if arn and not arn.startswith("arn:aws:route53:"):  # global: no region, no account
            assert arn.split(":")[4] == "123456789012", (address, arn)
    replica = addresses["aws_db_instance.replica"]
    assert replica["provider"] == 'provider["registry.terraform.io/hashicorp/aws"].usw2'
    primary = addresses["aws_db_instance.primary"]["attributes"]
    assert replica["attributes"]["replicate_source_db"] == primary["arn"]


def _app_instance(ec2: Any, name: str) -> str:
    found = ec2.describe_instances(Filters=[{"Name": "tag:Name", "Values": [name]}])
    return str(found["Reservations"][0]["Instances"][0]["InstanceId"])


def _state(ec2: Any, iid: str) -> str:
    found = ec2.describe_instances(InstanceIds=[iid])
    return str(found["Reservations"][0]["Instances"][0]["State"]["Name"])


def _apps(awslab: Path) -> dict[str, str]:
    comps = lab_status(awslab)["components"]
    return {c["name"]: c["process"] for c in comps if c["kind"] == "app"}


def _served_by(url: str) -> str | None:
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return str(json.loads(resp.read())["instance"])
    except OSError:
        return None


def test_stopping_an_app_instance_stops_the_lab_app(awslab: Path) -> None:
    """EC2 StopInstances on an app instance answered `stopping`, the lab's app kept
    serving, and the next DescribeInstances said `running` again."""
    import time

    ec2 = aws_client(awslab, "ec2")
    iid = _app_instance(ec2, "app-use1-az1")
    ec2.stop_instances(InstanceIds=[iid])
    assert _apps(awslab) == {"app-use1-az1": "stopped", "app-use1-az2": "running"}
    assert _state(ec2, iid) == "stopped"
    url = lab_status(awslab)["endpoints"]["app"]
    deadline = time.monotonic() + 60  # the load balancer's health check notices it
    served = [_served_by(url)]
    while served[-1] != "app-use1-az2" and time.monotonic() < deadline:
        served.append(_served_by(url))
    assert served[-1] == "app-use1-az2", served
    ec2.start_instances(InstanceIds=[iid])
    assert _apps(awslab) == {"app-use1-az1": "running", "app-use1-az2": "running"}
    assert _state(ec2, iid) == "running"


STOP_EXPERIMENT = {
    "title": "one app instance stopped (chaosaws)",
    "description": "the classic EC2 experiment, against the AWS-shaped lab",
    "configuration": {"aws_region": "us-east-1", "iid": "set by --var"},
    "method": [
        {
            "type": "action",
            "name": "stop-app",
            "provider": {
                "type": "python",
                "module": "chaosaws.ec2.actions",
                "func": "stop_instances",
                "arguments": {"instance_ids": ["${iid}"], "force": True},
            },
        },
        {
            "type": "probe",
            "name": "stopped-as-ec2-says",
            "provider": {
                "type": "python",
                "module": "chaosaws.ec2.probes",
                "func": "instance_state",
                "arguments": {"state": "stopped", "instance_ids": ["${iid}"]},
            },
        },
    ],
    "rollbacks": [
        {
            "type": "action",
            "name": "start-app",
            "provider": {
                "type": "python",
                "module": "chaosaws.ec2.actions",
                "func": "start_instances",
                "arguments": {"instance_ids": ["${iid}"]},
            },
        }
    ],
}


def test_chaos_run_of_chaosaws_stop_instances(awslab: Path) -> None:
    import subprocess
    import sys

    from tests.clihelp import subprocess_env

    ec2 = aws_client(awslab, "ec2")
    iid = _app_instance(ec2, "app-use1-az2")
    exp = awslab / "stop-app.json"
    exp.write_text(json.dumps(STOP_EXPERIMENT))
    journal = awslab / "stop-app-journal.json"
    env = subprocess_env(
        {
            "AWS_ENDPOINT_URL": lab_status(awslab)["aws"]["endpoint_url"],
            "AWS_ACCESS_KEY_ID": "x",
            "AWS_SECRET_ACCESS_KEY": "x",
            "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        }
    )
    chaos = str(Path(sys.executable).with_name("chaos"))
    cmd = [chaos, "--no-version-check", "run", str(exp), "--var", f"iid={iid}"]
    proc = subprocess.run(
        [*cmd, "--journal-path", str(journal)],
        cwd=awslab,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc = json.loads(journal.read_text())
    steps = [(r["activity"]["name"], r["status"], r.get("output")) for r in doc["run"]]
    assert steps[1] == ("stopped-as-ec2-says", "succeeded", True), steps
    assert [(r["activity"]["name"], r["status"]) for r in doc["rollbacks"]] == [
        ("start-app", "succeeded")
    ]
    assert _apps(awslab) == {"app-use1-az1": "running", "app-use1-az2": "running"}
    assert _state(ec2, iid) == "running"


def test_a_restore_has_no_endpoint_until_its_server_runs(awslab: Path) -> None:
    """The answer to a restore (`creating`) carried moto's endpoint: a name under
    rds.amazonaws.com and the *primary's* port — a client that connected at once
    reached production instead of the restore. RDS gives no endpoint while creating."""
    import time

    import psycopg

    rds = aws_client(awslab, "rds")
    answer = rds.restore_db_instance_to_point_in_time(
        SourceDBInstanceIdentifier="drill-lab-db",
        TargetDBInstanceIdentifier="early-bird",
        UseLatestRestorableTime=True,
    )["DBInstance"]
    assert answer["DBInstanceStatus"] == "creating"
    assert "Endpoint" not in answer, answer.get("Endpoint")
    deadline = time.monotonic() + 180
    db = rds.describe_db_instances(DBInstanceIdentifier="early-bird")["DBInstances"][0]
    while db["DBInstanceStatus"] != "available" and time.monotonic() < deadline:
        assert db["DBInstanceStatus"] == "creating" and "Endpoint" not in db, db
        time.sleep(0.2)
        db = rds.describe_db_instances(DBInstanceIdentifier="early-bird")["DBInstances"][0]
    assert db["DBInstanceStatus"] == "available"
    status = lab_status(awslab)
    restored = {c["name"]: c["port"] for c in status["components"]}["early-bird"]
    assert (db["Endpoint"]["Address"], db["Endpoint"]["Port"]) == ("127.0.0.1", restored)
    dsn = f"host=127.0.0.1 port={restored} dbname=app user=drill connect_timeout=5"
    with psycopg.connect(dsn) as conn:  # the restored server itself, not the primary
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone() == (False,)
        assert conn.execute("SELECT current_setting('cluster_name')").fetchone() == ("early-bird",)
    rds.delete_db_instance(DBInstanceIdentifier="early-bird", SkipFinalSnapshot=True)


def test_a_reboot_without_failover_restarts_the_primary_in_place(awslab: Path) -> None:
    """chaosaws's `reboot_db_instance` reboots without failover by default: RDS restarts
    the engine on the primary, no failover. The lab answered `available` and did
    nothing — the experiment "succeeded" without a fault."""
    import time

    import psycopg

    status = lab_status(awslab)
    rds = aws_client(awslab, "rds")
    started = "SELECT pg_postmaster_start_time(), current_setting('cluster_name')"
    with psycopg.connect(status["endpoints"]["db"], connect_timeout=5) as conn:
        before = conn.execute(started).fetchone()
    answer = rds.reboot_db_instance(DBInstanceIdentifier="drill-lab-db")["DBInstance"]
    assert answer["DBInstanceStatus"] == "rebooting"
    deadline = time.monotonic() + 120
    db = rds.describe_db_instances(DBInstanceIdentifier="drill-lab-db")["DBInstances"][0]
    while db["DBInstanceStatus"] != "available" and time.monotonic() < deadline:
        time.sleep(0.2)
        db = rds.describe_db_instances(DBInstanceIdentifier="drill-lab-db")["DBInstances"][0]
    assert db["DBInstanceStatus"] == "available"
    with psycopg.connect(status["endpoints"]["db"], connect_timeout=5) as conn:
        after = conn.execute(started).fetchone()
        conn.execute("CREATE TABLE IF NOT EXISTS reboot_check (n int)")
        conn.execute("INSERT INTO reboot_check VALUES (1)")  # the sync standby is back
    assert before is not None and after is not None
    assert after[1] == before[1] == status["primary"]  # the same server: no failover
    assert after[0] > before[0]  # … restarted
    now = lab_status(awslab)
    assert (now["primary"], now["standby"]) == (status["primary"], status["standby"])
    events = rds.describe_events(SourceIdentifier="drill-lab-db", SourceType="db-instance")
    messages = [e["Message"] for e in events["Events"]]
    assert messages[-2:] == ["DB instance shutdown", "DB instance restarted"], messages


def test_stopping_the_primary_is_refused_as_rds_refuses_it(awslab: Path) -> None:
    """chaosaws's `stop_db_instance` on the primary was answered `stopped`, the lab's
    database kept serving and the next describe said `available`. RDS refuses to stop
    an instance that has a read replica; so does the lab now, and one it cannot stop."""
    import psycopg
    from botocore.exceptions import ClientError

    status = lab_status(awslab)
    rds = aws_client(awslab, "rds")
    with pytest.raises(ClientError) as refused:
        rds.stop_db_instance(DBInstanceIdentifier="drill-lab-db")
    error = refused.value.response["Error"]
    assert error["Code"] == "InvalidDBInstanceState"
    assert "read replica" in error["Message"]
    db = rds.describe_db_instances(DBInstanceIdentifier="drill-lab-db")["DBInstances"][0]
    assert db["DBInstanceStatus"] == "available"
    with psycopg.connect(status["endpoints"]["db"], connect_timeout=5) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_deleting_the_primary_is_refused(awslab: Path) -> None:
    """moto deleted the primary while the lab's database went on serving; every
    describe then said it did not exist. Its deletion protection is on (the state says
    so) and the emulator keeps it on."""
    from botocore.exceptions import ClientError

    aws = lab_status(awslab)["aws"]
    rds = aws_client(awslab, "rds")
    with pytest.raises(ClientError) as refused:
        rds.delete_db_instance(DBInstanceIdentifier="drill-lab-db", SkipFinalSnapshot=True)
    assert refused.value.response["Error"]["Code"] == "InvalidParameterCombination"
    (db,) = rds.describe_db_instances(DBInstanceIdentifier="drill-lab-db")["DBInstances"]
    assert db["DeletionProtection"] is True and db["DBInstanceStatus"] == "available"
    state = json.loads(Path(aws["terraform_state"]).read_text())
    attrs = _addresses(state)["aws_db_instance.primary"]["attributes"]
    assert attrs["deletion_protection"] is True
    # the replica is not protected: drill's own rollback deletes and re-creates it
    assert (
        _addresses(state)["aws_db_instance.replica"]["attributes"]["deletion_protection"] is False
    )


def test_creating_an_instance_the_lab_has_no_server_for_is_refused(awslab: Path) -> None:
    """A plain CreateDBInstance was answered `available` at 127.0.0.1:5432: no lab
    server behind it, and whatever listened on that port answered as the instance."""
    from botocore.exceptions import ClientError

    rds = aws_client(awslab, "rds")
    with pytest.raises(ClientError) as refused:
        rds.create_db_instance(
            DBInstanceIdentifier="scratch",
            Engine="postgres",
            DBInstanceClass="db.t4g.micro",
            AllocatedStorage=20,
            MasterUsername="x",
            MasterUserPassword="not-a-secret-here",
        )
    assert "restores" in refused.value.response["Error"]["Message"]
    found = rds.describe_db_instances()["DBInstances"]
    assert "scratch" not in {d["DBInstanceIdentifier"] for d in found}
