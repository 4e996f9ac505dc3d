"""Create the lab's AWS resources through the emulator's own API, and their Terraform state.

The state is written from what the API reports (ids, ARNs, AZ ids), exactly as a real
``terraform.tfstate`` mirrors AWS. CIDR blocks are data only: nothing connects to them.
DB instances are named in the private zone (``<id>.lab-aws.internal``, their ``address``
in the state, the values the global record takes); their API endpoint is
``127.0.0.1:<port>``, where clients really connect, and their ``endpoint`` in the state
(with ``username`` and ``db_name``: probes derived from the state reach the real
database). The load balancer's ``dns_name`` is 127.0.0.1 and its HTTP listener the lab
load balancer's port, for the same reason.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from orchestrator.labaws import (
    ACCOUNT,
    AZ_NAMES,
    DR_REGION,
    INTERNAL_HEADER,
    LOAD_BALANCER,
    PRIMARY_ID,
    RECORD,
    REGION,
    REPLICA_ID,
    TARGET_GROUP,
    VAULT,
    ZONE,
    dns_name,
)
from orchestrator.providers.lab.state import APP_DB, DB_USER

AWS = 'provider["registry.terraform.io/hashicorp/aws"]'
LOOPBACK = "127.0.0.1"


def client(url: str, service: str, region: str = REGION) -> Any:
    """A boto3 client for the emulator's own calls (marked: they drive nothing)."""
    import boto3

    c = boto3.client(
        service,
        region_name=region,
        endpoint_url=url,
        aws_access_key_id="drill-lab",
        aws_secret_access_key="drill-lab",
    )

    def mark(request: Any, **_kw: Any) -> None:
        request.headers[INTERNAL_HEADER] = "1"

    c.meta.events.register("request-created", mark)
    return c


def _res(
    type_: str, name: str, attrs: dict[str, Any] | list[dict[str, Any]], alias: str | None = None
) -> dict[str, Any]:
    """One resource of the state. A list of attributes is a ``count`` resource: one
    entry whose instances carry ``index_key`` 0, 1, … — Terraform writes each address
    once, and a reader keyed by address (``terraform show``, tfstate parsers) kept only
    one of two entries that shared it."""
    many = attrs if isinstance(attrs, list) else [attrs]
    instances = [{"schema_version": 0, "attributes": a, "sensitive_attributes": []} for a in many]
    if isinstance(attrs, list):
        for index, inst in enumerate(instances):
            inst["index_key"] = index
    return {
        "mode": "managed",
        "type": type_,
        "name": name,
        "provider": AWS + (f".{alias}" if alias else ""),
        "instances": instances,
    }


def _db_attrs(db: dict[str, Any]) -> dict[str, Any]:
    ident = db["DBInstanceIdentifier"]
    return {
        "id": db["DbiResourceId"],
        "identifier": ident,
        "resource_id": db["DbiResourceId"],
        "arn": db["DBInstanceArn"],
        "address": dns_name(ident),
        "port": db["Endpoint"]["Port"],
        # where clients connect, as the API reports it (127.0.0.1:<port>): what a probe
        # DSN derived from the state uses (providers/aws/probedb.py)
        "endpoint": f"{db['Endpoint']['Address']}:{db['Endpoint']['Port']}",
        "username": db.get("MasterUsername") or DB_USER,
        "db_name": APP_DB,
        "engine": db["Engine"],
        "instance_class": db["DBInstanceClass"],
        "multi_az": bool(db.get("MultiAZ")),
        "deletion_protection": bool(db.get("DeletionProtection")),
        "availability_zone": db.get("AvailabilityZone"),
        "replicate_source_db": db.get("ReadReplicaSourceDBInstanceIdentifier") or "",
        "tags": {t["Key"]: t["Value"] for t in db.get("TagList", [])},
    }


def seed(url: str, ports: dict[str, int], refresh: Callable[[], None]) -> dict[str, Any]:
    """Create everything; return the Terraform state v4 document.

    ``ports``: ``primary`` (the lab's database endpoint), ``replica`` (usw2) and ``lb``
    (the lab's load balancer);
    ``refresh`` brings the instances in line with the lab before they are described.
    """
    resources: list[dict[str, Any]] = []
    ec2 = client(url, "ec2")
    vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    resources.append(
        _res(
            "aws_vpc",
            "lab",
            {
                "id": vpc,
                "cidr_block": "10.42.0.0/16",
                "arn": f"arn:aws:ec2:{REGION}:{ACCOUNT}:vpc/{vpc}",
            },
        )
    )
    subnets: dict[str, str] = {}
    subnet_attrs: list[dict[str, Any]] = []
    instances: dict[str, str] = {}
    for i, (lab_az, az) in enumerate(AZ_NAMES.items()):
        sn = ec2.create_subnet(
            VpcId=vpc,
            CidrBlock=f"10.42.{i}.0/24",
            AvailabilityZone=az,
            TagSpecifications=[
                {
                    "ResourceType": "subnet",
                    "Tags": [
                        {"Key": "Name", "Value": f"lab-{lab_az}"},
                        {"Key": "drill:lab-az", "Value": lab_az},
                    ],
                }
            ],
        )["Subnet"]
        subnets[lab_az] = sn["SubnetId"]
        subnet_attrs.append(
            {
                "id": sn["SubnetId"],
                "arn": sn.get("SubnetArn"),
                "vpc_id": vpc,
                "cidr_block": sn["CidrBlock"],
                "availability_zone": az,
                "availability_zone_id": sn["AvailabilityZoneId"],
                "tags": {"Name": f"lab-{lab_az}", "drill:lab-az": lab_az},
            }
        )
        inst = ec2.run_instances(
            ImageId="ami-12c6146b",
            MinCount=1,
            MaxCount=1,
            InstanceType="t3.small",
            SubnetId=sn["SubnetId"],
            TagSpecifications=[
                {"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": f"app-{lab_az}"}]}
            ],
        )
        instances[lab_az] = inst["Instances"][0]["InstanceId"]
    resources.append(_res("aws_subnet", "lab", subnet_attrs))  # count = one per AZ
    _load_balancer(url, vpc, subnets, instances, resources, ports.get("lb"))
    rds = client(url, "rds")
    rds.create_db_subnet_group(
        DBSubnetGroupName="drill-lab",
        DBSubnetGroupDescription="lab",
        SubnetIds=list(subnets.values()),
    )
    primary = rds.create_db_instance(
        DBInstanceIdentifier=PRIMARY_ID,
        Engine="postgres",
        EngineVersion="16.4",
        DBInstanceClass="db.t4g.medium",
        AllocatedStorage=20,
        MasterUsername="drill",
        MasterUserPassword="not-used-by-the-lab",
        MultiAZ=True,
        AvailabilityZone=AZ_NAMES["use1-az1"],
        DBSubnetGroupName="drill-lab",
        Port=ports["primary"],
        BackupRetentionPeriod=7,
        DeletionProtection=True,  # production's database (refuse.py keeps it on)
    )["DBInstance"]
    usw2 = client(url, "rds", DR_REGION)
    usw2.create_db_instance_read_replica(
        DBInstanceIdentifier=REPLICA_ID,
        SourceDBInstanceIdentifier=primary["DBInstanceArn"],
        DBInstanceClass="db.t4g.medium",
        SourceRegion=REGION,
        Port=ports["replica"],
        DeletionProtection=False,  # drill deletes and re-creates it (db.rebuild_replica)
    )
    refresh()
    desc = rds.describe_db_instances(DBInstanceIdentifier=PRIMARY_ID)["DBInstances"][0]
    dr = usw2.describe_db_instances(DBInstanceIdentifier=REPLICA_ID)["DBInstances"][0]
    resources.append(_res("aws_db_instance", "primary", _db_attrs(desc)))
    resources.append(_res("aws_db_instance", "replica", _db_attrs(dr), alias="usw2"))
    r53 = client(url, "route53")
    zone = r53.create_hosted_zone(
        Name=ZONE,
        CallerReference="drill-lab",
        HostedZoneConfig={"PrivateZone": True, "Comment": "lab"},
        VPC={"VPCRegion": REGION, "VPCId": vpc},
    )
    zone_id = zone["HostedZone"]["Id"].rsplit("/", 1)[-1]
    r53.change_resource_record_sets(
        HostedZoneId=zone_id,
        ChangeBatch={
            "Changes": [
                {
                    "Action": "CREATE",
                    "ResourceRecordSet": {
                        "Name": f"{RECORD}.",
                        "Type": "CNAME",
                        "TTL": 5,
                        "ResourceRecords": [{"Value": dns_name(PRIMARY_ID)}],
                    },
                }
            ]
        },
    )
    resources.append(
        _res(
            "aws_route53_zone",
            "lab",
            {
                "id": zone_id,
                "zone_id": zone_id,
                "name": ZONE,
                "arn": f"arn:aws:route53:::hostedzone/{zone_id}",
                "vpc": [{"vpc_id": vpc}],
            },
        )
    )
    resources.append(
        _res(
            "aws_route53_record",
            "global_db",
            {
                "id": f"{zone_id}_{RECORD}_CNAME",
                "zone_id": zone_id,
                "name": RECORD,
                "fqdn": RECORD,
                "type": "CNAME",
                "ttl": 5,
                "records": [dns_name(PRIMARY_ID)],
                "set_identifier": "",
                "alias": [],
            },
        )
    )
    vault = client(url, "backup").create_backup_vault(BackupVaultName=VAULT)
    resources.append(
        _res(
            "aws_backup_vault", "lab", {"id": VAULT, "name": VAULT, "arn": vault["BackupVaultArn"]}
        )
    )
    return {
        "version": 4,
        "terraform_version": "1.9.8",
        "serial": 1,
        "lineage": "drill-lab-aws",
        "outputs": {},
        "resources": resources,
        "check_results": None,
    }


def _load_balancer(
    url: str,
    vpc: str,
    subnets: dict[str, str],
    instances: dict[str, str],
    resources: list[dict[str, Any]],
    port: int | None,
) -> None:
    elb = client(url, "elbv2")
    lb = elb.create_load_balancer(
        Name=LOAD_BALANCER, Subnets=list(subnets.values()), Scheme="internal"
    )["LoadBalancers"][0]
    elb.modify_load_balancer_attributes(  # production's: refuse.py keeps it on
        LoadBalancerArn=lb["LoadBalancerArn"],
        Attributes=[{"Key": "deletion_protection.enabled", "Value": "true"}],
    )
    tg = elb.create_target_group(
        Name=TARGET_GROUP, Protocol="HTTP", Port=8080, VpcId=vpc, TargetType="instance"
    )["TargetGroups"][0]
    elb.register_targets(
        TargetGroupArn=tg["TargetGroupArn"],
        Targets=[{"Id": i, "Port": 8080} for i in instances.values()],
    )
    resources.append(
        _res(
            "aws_lb",
            "lab",
            {
                "id": lb["LoadBalancerArn"],
                "arn": lb["LoadBalancerArn"],
                "name": LOAD_BALANCER,
                "dns_name": LOOPBACK,  # the lab's load balancer listens there
                "enable_deletion_protection": True,
            },
        )
    )
    if port:
        listener = elb.create_listener(
            LoadBalancerArn=lb["LoadBalancerArn"],
            Protocol="HTTP",
            Port=port,
            DefaultActions=[{"Type": "forward", "TargetGroupArn": tg["TargetGroupArn"]}],
        )["Listeners"][0]
        resources.append(
            _res(
                "aws_lb_listener",
                "app",
                {
                    "id": listener["ListenerArn"],
                    "arn": listener["ListenerArn"],
                    "load_balancer_arn": lb["LoadBalancerArn"],
                    "port": port,
                    "protocol": "HTTP",
                },
            )
        )
    resources.append(
        _res(
            "aws_lb_target_group",
            "app",
            {"id": tg["TargetGroupArn"], "arn": tg["TargetGroupArn"], "name": TARGET_GROUP},
        )
    )


def write_state(path: Path, state: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=1))
    tmp.replace(path)
