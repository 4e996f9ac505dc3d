"""A Multi-AZ instance stays Multi-AZ while the lab rebuilds its standby (DESIGN 12).

After a forced failover (or a class change applied through one) the lab's old primary
is rebuilt as the new standby. Meanwhile `DescribeDBInstances` said `available` with
`MultiAZ: false` and no `SecondaryAvailabilityZone`, as if the instance had been
converted to Single-AZ. RDS keeps `MultiAZ: true` (a setting, which nobody changed)
and reports the reboot or the modification in flight until the pair is whole again:
`rebooting` (a reboot with failover), `modifying` (a new class), then `available`.
When the lab loses the standby behind the API's back (its AZ cut), the instance is
still Multi-AZ, its secondary AZ the lost one, and a forced failover is refused (there
is nothing to fail over to) rather than answered. Plain boto3 clients, no drill code.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import aws_client, lab_status

pytestmark = [pytest.mark.lab, pytest.mark.aws, pytest.mark.slow]

PRIMARY = "drill-lab-db"
AZ_NAMES = {"use1-az1": "us-east-1b", "use1-az2": "us-east-1c"}


def _lab(awslab: Path) -> dict[str, Any]:
    """The lab's own state file, read at once (no subprocess: the window is short)."""
    doc: dict[str, Any] = json.loads((awslab / ".drill" / "lab" / "state.json").read_text())
    return doc


def _db(rds: Any) -> dict[str, Any]:
    return dict(rds.describe_db_instances(DBInstanceIdentifier=PRIMARY)["DBInstances"][0])


def _watch(awslab: Path, rds: Any) -> list[tuple[str, bool, str | None, bool]]:
    """(status, MultiAZ, SecondaryAvailabilityZone, lab has a standby) from the call's
    answer until RDS says `available` again; the lab's state read right after each
    answer."""
    seen: list[tuple[str, bool, str | None, bool]] = []
    deadline = time.monotonic() + 180
    while True:
        db = _db(rds)
        standby = bool(_lab(awslab)["standby"])
        seen.append(
            (db["DBInstanceStatus"], db["MultiAZ"], db.get("SecondaryAvailabilityZone"), standby)
        )
        if db["DBInstanceStatus"] == "available":
            return seen
        assert time.monotonic() < deadline, seen[-5:]
        time.sleep(0.02)


def _settled(rds: Any) -> None:
    deadline = time.monotonic() + 180
    while not ((db := _db(rds))["DBInstanceStatus"] == "available" and db["MultiAZ"]):
        assert time.monotonic() < deadline, db["DBInstanceStatus"]
        time.sleep(0.2)


@pytest.mark.parametrize("how", ["failover", "class"])
def test_multi_az_while_the_standby_is_rebuilt(awslab: Path, how: str) -> None:
    rds = aws_client(awslab, "rds")
    _settled(rds)
    before = _lab(awslab)["primary"]
    if how == "failover":
        answer = rds.reboot_db_instance(DBInstanceIdentifier=PRIMARY, ForceFailover=True)
        status = "rebooting"
    else:
        new = "db.r6g.large" if _db(rds)["DBInstanceClass"] != "db.r6g.large" else "db.t3.micro"
        answer = rds.modify_db_instance(
            DBInstanceIdentifier=PRIMARY, DBInstanceClass=new, ApplyImmediately=True
        )
        status = "modifying"
    assert answer["DBInstance"]["DBInstanceStatus"] == status
    seen = _watch(awslab, rds)
    lab = _lab(awslab)
    assert lab["primary"] != before  # the lab really failed over
    # Multi-AZ throughout, with a secondary AZ; the work in flight until the pair is
    # whole: `available` only once the lab has its standby back
    assert {s[0] for s in seen} <= {status, "available"}, seen
    assert all(s[1] is True and s[2] for s in seen), seen
    assert seen[-1][3] is True, seen
    end = _db(rds)
    primary_az = next(c["az"] for c in lab["components"].values() if c["name"] == lab["primary"])
    standby_az = next(c["az"] for c in lab["components"].values() if c["name"] == lab["standby"])
    assert (end["AvailabilityZone"], end["SecondaryAvailabilityZone"]) == (
        AZ_NAMES[primary_az],
        AZ_NAMES[standby_az],
    )


def test_a_lost_standby_keeps_the_instance_multi_az(awslab: Path) -> None:
    """The standby's AZ cut through a deny-all rule on its subnet's own ACL: the lab
    drops the silent standby (the primary keeps taking writes). RDS still says Multi-AZ,
    secondary in the lost AZ; a forced failover is refused, not answered."""
    from botocore.exceptions import ClientError

    from tests.integration.lab.conftest import wait_until

    rds, ec2 = aws_client(awslab, "rds"), aws_client(awslab, "ec2")
    _settled(rds)
    status = lab_status(awslab)
    standby_az = next(c["az"] for c in status["components"] if c["name"] == status["standby"])
    state = json.loads(Path(status["aws"]["terraform_state"]).read_text())
    (subnet,) = [
        i["attributes"]["id"]
        for r in state["resources"]
        if r["type"] == "aws_subnet"
        for i in r["instances"]
        if i["attributes"]["availability_zone_id"] == standby_az
    ]
    (shared,) = ec2.describe_network_acls(
        Filters=[{"Name": "association.subnet-id", "Values": [subnet]}]
    )["NetworkAcls"]
    assoc = next(a for a in shared["Associations"] if a["SubnetId"] == subnet)
    deny = ec2.create_network_acl(VpcId=shared["VpcId"])["NetworkAcl"]["NetworkAclId"]
    moved = ec2.replace_network_acl_association(
        AssociationId=assoc["NetworkAclAssociationId"], NetworkAclId=deny
    )["NewAssociationId"]
    try:
        wait_until(lambda: not _lab(awslab)["standby"], 60, "the lab to drop its standby")
        db = _db(rds)
        assert (db["MultiAZ"], db["SecondaryAvailabilityZone"]) == (True, AZ_NAMES[standby_az])
        with pytest.raises(ClientError) as refused:
            rds.reboot_db_instance(DBInstanceIdentifier=PRIMARY, ForceFailover=True)
        error = refused.value.response["Error"]
        assert error["Code"] == "InvalidDBInstanceState" and "no standby" in error["Message"]
    finally:
        ec2.replace_network_acl_association(
            AssociationId=moved, NetworkAclId=shared["NetworkAclId"]
        )
        ec2.delete_network_acl(NetworkAclId=deny)
    wait_until(lambda: _lab(awslab)["standby"], 120, "the standby back")
    _settled(rds)
