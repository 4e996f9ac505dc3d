"""More AWS calls mirrored on the AWS-shaped lab, or refused (DESIGN 12).

moto answered `ModifyDBInstance`, elbv2 `DeregisterTargets` and EC2 `RebootInstances`
as done while the real lab processes went on as before: a new instance class said
`available` at once with no failover, `MultiAZ: false` was answered and the next
describe said true again, a deregistered app instance kept serving behind the load
balancer, a rebooted one was never restarted. Plain boto3 clients (no drill code).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.clihelp import run
from tests.e2e.conftest import aws_client, lab_status

pytestmark = [pytest.mark.lab, pytest.mark.aws, pytest.mark.slow]

PRIMARY = "drill-lab-db"


def _db(rds: Any, ident: str = PRIMARY) -> dict[str, Any]:
    return dict(rds.describe_db_instances(DBInstanceIdentifier=ident)["DBInstances"][0])


def _settled(rds: Any) -> dict[str, Any]:
    """The primary once RDS says it is available and Multi-AZ again (re-protected)."""
    deadline = time.monotonic() + 180
    db = _db(rds)
    while not (db["DBInstanceStatus"] == "available" and db["MultiAZ"]):
        assert time.monotonic() < deadline, db["DBInstanceStatus"]
        time.sleep(0.2)
        db = _db(rds)
    return db


def _inventory(awslab: Path) -> tuple[int, dict[str, Any]]:
    res = run(awslab, "inventory", "--env", "lab-aws", "--json")
    return res.code, json.loads(res.out)


def _modify_class(rds: Any, new: str) -> dict[str, Any]:
    return dict(
        rds.modify_db_instance(
            DBInstanceIdentifier=PRIMARY, DBInstanceClass=new, ApplyImmediately=True
        )["DBInstance"]
    )


def test_a_new_instance_class_fails_the_multi_az_primary_over(awslab: Path) -> None:
    """RDS applies a new class to a Multi-AZ instance's standby, then fails over to it:
    clients see a failover. `drill inventory` reports the class against the state."""
    rds = aws_client(awslab, "rds")
    first = lab_status(awslab)
    was = _db(rds)["DBInstanceClass"]
    assert _modify_class(rds, "db.r6g.large")["DBInstanceStatus"] == "modifying"
    db = _settled(rds)
    assert lab_status(awslab)["primary"] != first["primary"]  # the lab really failed over
    assert db["DBInstanceClass"] == "db.r6g.large"
    messages = [
        e["Message"]
        for e in rds.describe_events(SourceIdentifier=PRIMARY, SourceType="db-instance")["Events"]
    ]
    assert messages[-2:] == [
        "Multi-AZ instance failover started.",
        "Multi-AZ instance failover completed.",
    ]
    code, doc = _inventory(awslab)
    resized = [(d["role"], d["expected"], d["actual"]) for d in doc["drift"]]
    assert (code, resized) == (1, [("primary_db", was, "db.r6g.large")]), doc["drift"]
    # the same class again changes nothing (no failover); the old one fails over back
    assert _modify_class(rds, "db.r6g.large")["DBInstanceStatus"] == "available"
    assert lab_status(awslab)["primary"] != first["primary"]
    _modify_class(rds, was)
    _settled(rds)
    assert lab_status(awslab)["primary"] == first["primary"]
    code, doc = _inventory(awslab)
    assert (code, doc["drift"]) == (0, [])


@pytest.mark.parametrize(
    ("region", "ident", "change", "says"),
    [
        ("us-east-1", PRIMARY, {"MultiAZ": False, "ApplyImmediately": True}, "MultiAZ"),
        ("us-east-1", PRIMARY, {"DBInstanceClass": "db.r6g.large"}, "ApplyImmediately"),
        ("us-east-1", PRIMARY, {"DeletionProtection": False}, "deletion protection"),
        (
            "us-west-2",
            "drill-lab-dr",
            {"DBInstanceClass": "db.r6g.large", "ApplyImmediately": True},
            PRIMARY,
        ),
    ],
)
def test_a_change_the_lab_cannot_apply_is_refused(
    awslab: Path, region: str, ident: str, change: dict[str, Any], says: str
) -> None:
    from botocore.exceptions import ClientError

    rds = aws_client(awslab, "rds", region)
    before = _db(rds, ident)
    with pytest.raises(ClientError) as refused:
        rds.modify_db_instance(DBInstanceIdentifier=ident, **change)
    error = refused.value.response["Error"]
    assert error["Code"] == "InvalidParameterCombination" and says in error["Message"], error
    after = _db(rds, ident)
    for key in ("DBInstanceClass", "MultiAZ", "DeletionProtection", "DBInstanceStatus"):
        assert after[key] == before[key], key


def test_a_setting_nothing_runs_on_is_kept(awslab: Path) -> None:
    rds = aws_client(awslab, "rds")
    answer = rds.modify_db_instance(DBInstanceIdentifier=PRIMARY, BackupRetentionPeriod=14)
    assert answer["DBInstance"]["DBInstanceStatus"] == "available"
    assert _db(rds)["BackupRetentionPeriod"] == 14


def test_a_forced_failover_of_an_instance_without_standby_is_refused(awslab: Path) -> None:
    """The replica is no Multi-AZ instance: RDS refuses a forced failover of it. The lab
    answered `available` and nothing happened."""
    from botocore.exceptions import ClientError

    rds = aws_client(awslab, "rds", "us-west-2")
    with pytest.raises(ClientError) as refused:
        rds.reboot_db_instance(DBInstanceIdentifier="drill-lab-dr", ForceFailover=True)
    assert "not a Multi-AZ instance" in refused.value.response["Error"]["Message"]


def _app_instances(ec2: Any) -> dict[str, str]:
    """App component name → its EC2 instance id (the `Name` tag)."""
    out = {}
    for reservation in ec2.describe_instances()["Reservations"]:
        for inst in reservation["Instances"]:
            tags = {t["Key"]: t["Value"] for t in inst.get("Tags", [])}
            if tags.get("Name", "").startswith("app-"):
                out[tags["Name"]] = inst["InstanceId"]
    return out


def _apps(awslab: Path) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in lab_status(awslab)["components"] if c["kind"] == "app"}


def _get(url: str) -> tuple[int, dict[str, Any], str | None]:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, json.loads(resp.read()), resp.headers.get("X-Drill-Backend")
    except urllib.error.HTTPError as exc:
        return exc.code, {}, None


def test_a_rebooted_app_instance_is_restarted(awslab: Path) -> None:
    """chaosaws's `restart_instances` (EC2 RebootInstances): the app's process restarts,
    EC2 says `running` throughout, and it serves again."""
    ec2 = aws_client(awslab, "ec2")
    iid = _app_instances(ec2)["app-use1-az1"]
    before = _apps(awslab)
    ec2.reboot_instances(InstanceIds=[iid])
    after = _apps(awslab)
    assert after["app-use1-az1"]["pid"] != before["app-use1-az1"]["pid"]
    assert after["app-use1-az2"]["pid"] == before["app-use1-az2"]["pid"]
    assert {n: c["process"] for n, c in after.items()} == {
        "app-use1-az1": "running",
        "app-use1-az2": "running",
    }
    state = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
    assert state["State"]["Name"] == "running"
    app = after["app-use1-az1"]
    assert _get(f"http://{app['host']}:{app['port']}/health")[0] == 200


def test_a_deregistered_app_instance_gets_no_requests(awslab: Path) -> None:
    """chaosaws's `deregister_target` (elbv2 DeregisterTargets): the load balancer stops
    sending that app requests, which keeps running; RegisterTargets brings it back. The
    load balancer went on routing to it."""
    elb, ec2 = aws_client(awslab, "elbv2"), aws_client(awslab, "ec2")
    group = elb.describe_target_groups(Names=["drill-lab-app"])["TargetGroups"][0]
    ids = _app_instances(ec2)
    lb = lab_status(awslab)["endpoints"]["app"].rsplit("/", 1)[0]

    def rotation() -> dict[str, bool]:
        return {b["name"]: b["registered"] for b in _get(f"{lb}/lb/status")[1]["backends"]}

    def served(n: int = 8) -> set[str | None]:
        return {_get(f"{lb}/health")[2] for _ in range(n)}

    out = {"Id": ids["app-use1-az1"], "Port": 8080}
    elb.deregister_targets(TargetGroupArn=group["TargetGroupArn"], Targets=[out])
    assert rotation() == {"app-use1-az1": False, "app-use1-az2": True}
    assert served() == {"app-use1-az2"}
    app = _apps(awslab)["app-use1-az1"]
    assert app["process"] == "running"  # deregistered, not stopped
    assert _get(f"http://{app['host']}:{app['port']}/health")[0] == 200
    health = elb.describe_target_health(TargetGroupArn=group["TargetGroupArn"])
    assert {t["Target"]["Id"] for t in health["TargetHealthDescriptions"]} == {ids["app-use1-az2"]}
    elb.register_targets(TargetGroupArn=group["TargetGroupArn"], Targets=[out])
    assert rotation() == {"app-use1-az1": True, "app-use1-az2": True}
    assert served() == {"app-use1-az1", "app-use1-az2"}


def test_a_reboot_of_the_replica_restarts_it_in_place(awslab: Path) -> None:
    """RebootDBInstance of the cross-region replica was answered `available` and the
    lab's replica never restarted. RDS restarts it: `rebooting`, then `available`, a
    replica still."""
    import psycopg

    rds = aws_client(awslab, "rds", "us-west-2")
    ep = _db(rds, "drill-lab-dr")["Endpoint"]
    dsn = f"host={ep['Address']} port={ep['Port']} dbname=app user=drill connect_timeout=5"
    started = "SELECT pg_postmaster_start_time(), pg_is_in_recovery()"
    with psycopg.connect(dsn) as conn:
        before = conn.execute(started).fetchone()
    answer = rds.reboot_db_instance(DBInstanceIdentifier="drill-lab-dr")["DBInstance"]
    assert answer["DBInstanceStatus"] == "rebooting"
    deadline = time.monotonic() + 120
    while _db(rds, "drill-lab-dr")["DBInstanceStatus"] != "available":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    with psycopg.connect(dsn) as conn:
        after = conn.execute(started).fetchone()
    assert before is not None and after is not None
    assert after[0] > before[0] and after[1] is True  # restarted, still a replica
    events = rds.describe_events(SourceIdentifier="drill-lab-dr", SourceType="db-instance")
    messages = [e["Message"] for e in events["Events"]]
    assert messages[-2:] == ["DB instance shutdown", "DB instance restarted"], messages


def test_the_load_balancer_and_its_listener_cannot_be_deleted(awslab: Path) -> None:
    """chaosaws's `delete_load_balancer`: moto deleted the lab's load balancer while the
    lab's went on serving, and every describe said it was gone. Its deletion protection
    is on (in the API and the state) and stays on; its one listener stays too."""
    from botocore.exceptions import ClientError

    elb = aws_client(awslab, "elbv2")
    (lb,) = elb.describe_load_balancers(Names=["drill-lab"])["LoadBalancers"]
    arn = lb["LoadBalancerArn"]
    (listener,) = elb.describe_listeners(LoadBalancerArn=arn)["Listeners"]
    calls = [
        lambda: elb.delete_load_balancer(LoadBalancerArn=arn),
        lambda: elb.modify_load_balancer_attributes(
            LoadBalancerArn=arn,
            Attributes=[{"Key": "deletion_protection.enabled", "Value": "false"}],
        ),
        lambda: elb.delete_listener(ListenerArn=listener["ListenerArn"]),
    ]
    for refused_call in calls:
        with pytest.raises(ClientError) as refused:
            refused_call()
        assert refused.value.response["Error"]["Code"] == "OperationNotPermitted"
    assert elb.describe_listeners(LoadBalancerArn=arn)["Listeners"] == [listener]
    attrs = elb.describe_load_balancer_attributes(LoadBalancerArn=arn)["Attributes"]
    assert {"Key": "deletion_protection.enabled", "Value": "true"} in attrs
    state = json.loads(Path(lab_status(awslab)["aws"]["terraform_state"]).read_text())
    (res,) = [r for r in state["resources"] if r["type"] == "aws_lb"]
    assert res["instances"][0]["attributes"]["enable_deletion_protection"] is True
    app = lab_status(awslab)["endpoints"]["app"]
    assert _get(app)[0] == 200  # still serving, as the API says


def _available(rds: Any, ident: str) -> dict[str, Any]:
    deadline = time.monotonic() + 180
    db = _db(rds, ident)
    while db["DBInstanceStatus"] != "available":
        assert time.monotonic() < deadline, db["DBInstanceStatus"]
        time.sleep(0.2)
        db = _db(rds, ident)
    return db


def test_a_reboot_while_one_is_in_flight_is_refused(awslab: Path) -> None:
    """RDS reboots an `available` instance only. A forced failover sent while an
    in-place reboot was in flight killed the restarting primary, no failover followed,
    and the instance said `rebooting` for good. (The failover sent first stays in
    flight for the controller's detection delay at least: the second call meets it.)"""
    from botocore.exceptions import ClientError

    rds = aws_client(awslab, "rds")
    _settled(rds)
    first = rds.reboot_db_instance(DBInstanceIdentifier=PRIMARY, ForceFailover=True)
    assert first["DBInstance"]["DBInstanceStatus"] == "rebooting"
    with pytest.raises(ClientError) as refused:
        rds.reboot_db_instance(DBInstanceIdentifier=PRIMARY)
    error = refused.value.response["Error"]
    assert error["Code"] == "InvalidDBInstanceState" and "rebooting" in error["Message"]
    _settled(rds)
    # once available again, a reboot is accepted and completes
    again = rds.reboot_db_instance(DBInstanceIdentifier=PRIMARY)["DBInstance"]
    assert again["DBInstanceStatus"] == "rebooting"
    _available(rds, PRIMARY)


def test_a_forced_failover_of_a_multi_az_restore_restarts_its_server(awslab: Path) -> None:
    """Isolated mode's clone of the primary is a restore created Multi-AZ: one lab
    server. Its forced failover was answered and nothing happened; it restarts."""
    import psycopg

    rds = aws_client(awslab, "rds")
    rds.restore_db_instance_to_point_in_time(
        SourceDBInstanceIdentifier=PRIMARY,
        TargetDBInstanceIdentifier="fo-clone",
        UseLatestRestorableTime=True,
        MultiAZ=True,
    )
    ep = _available(rds, "fo-clone")["Endpoint"]
    dsn = f"host={ep['Address']} port={ep['Port']} dbname=app user=drill connect_timeout=5"
    with psycopg.connect(dsn) as conn:
        before = conn.execute("SELECT pg_postmaster_start_time()").fetchone()
    answer = rds.reboot_db_instance(DBInstanceIdentifier="fo-clone", ForceFailover=True)
    assert answer["DBInstance"]["DBInstanceStatus"] == "rebooting"
    _available(rds, "fo-clone")
    with psycopg.connect(dsn) as conn:
        after = conn.execute("SELECT pg_postmaster_start_time()").fetchone()
    assert before is not None and after is not None and after[0] > before[0]
    rds.delete_db_instance(DBInstanceIdentifier="fo-clone", SkipFinalSnapshot=True)
