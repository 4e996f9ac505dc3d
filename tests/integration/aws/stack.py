"""Create the reference stack (DESIGN section 1) in moto, and the Terraform state of it.

The state is *generated from what moto reports*, so every id, ARN and endpoint in it
matches the emulator — exactly the situation of a real state file next to real AWS.
Addresses only as data: 10.x CIDRs are never connected to.
"""

from __future__ import annotations

import json
from typing import Any

import boto3

PRIMARY, DR = "us-east-1", "us-west-2"
AWS = 'provider["registry.terraform.io/hashicorp/aws"]'
DB_PASSWORD = "s3cr3t-Pa55word"


def _client(url: str, service: str, region: str = PRIMARY) -> Any:
    return boto3.client(
        service,
        region_name=region,
        endpoint_url=url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def _res(
    type_: str,
    name: str,
    attrs: dict[str, Any],
    module: str | None = None,
    alias: str | None = None,
    index: Any = None,
) -> dict[str, Any]:
    inst: dict[str, Any] = {"schema_version": 0, "attributes": attrs, "sensitive_attributes": []}
    if index is not None:
        inst["index_key"] = index
    out: dict[str, Any] = {
        "mode": "managed",
        "type": type_,
        "name": name,
        "provider": AWS + (f".{alias}" if alias else ""),
        "instances": [inst],
    }
    if module:
        out["module"] = module
    return out


def _db_attrs(db: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": db["DbiResourceId"],
        "identifier": db["DBInstanceIdentifier"],
        "resource_id": db["DbiResourceId"],
        "arn": db["DBInstanceArn"],
        "address": db["Endpoint"]["Address"],
        "port": db["Endpoint"]["Port"],
        "endpoint": f"{db['Endpoint']['Address']}:{db['Endpoint']['Port']}",
        "engine": db["Engine"],
        "instance_class": db["DBInstanceClass"],
        "multi_az": bool(db.get("MultiAZ")),
        "availability_zone": db.get("AvailabilityZone"),
        "replicate_source_db": db.get("ReadReplicaSourceDBInstanceIdentifier") or "",
        "tags": {t["Key"]: t["Value"] for t in db.get("TagList", [])},
    }


def build(url: str) -> dict[str, Any]:
    """Create everything in moto; return a Terraform state v4 document of it."""
    resources: list[dict[str, Any]] = []
    ec2 = _client(url, "ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]
    resources.append(
        _res(
            "aws_vpc",
            "main",
            {
                "id": vpc["VpcId"],
                "cidr_block": "10.0.0.0/16",
                "arn": f"arn:aws:ec2:{PRIMARY}:123456789012:vpc/{vpc['VpcId']}",
            },
            module="module.network",
        )
    )
    subnets: dict[str, dict[str, Any]] = {}
    for tier, base in (("public", 0), ("private", 10), ("database", 20)):
        for i, az in enumerate(("a", "b")):
            sn = ec2.create_subnet(
                VpcId=vpc["VpcId"],
                CidrBlock=f"10.0.{base + i}.0/24",
                AvailabilityZone=f"{PRIMARY}{az}",
            )["Subnet"]
            subnets[f"{tier}-{az}"] = sn
            resources.append(
                _res(
                    "aws_subnet",
                    tier,
                    {
                        "id": sn["SubnetId"],
                        "arn": sn.get("SubnetArn"),
                        "vpc_id": vpc["VpcId"],
                        "cidr_block": sn["CidrBlock"],
                        "availability_zone": sn["AvailabilityZone"],
                        "availability_zone_id": sn["AvailabilityZoneId"],
                        "tags": {"Name": f"prod-{tier}-{az}"},
                    },
                    module="module.network",
                    index=i,
                )
            )
    rds = _client(url, "rds")
    rds.create_db_subnet_group(
        DBSubnetGroupName="prod-db",
        DBSubnetGroupDescription="db",
        SubnetIds=[subnets["database-a"]["SubnetId"], subnets["database-b"]["SubnetId"]],
    )
    primary = rds.create_db_instance(
        DBInstanceIdentifier="prod-db",
        Engine="postgres",
        EngineVersion="15.5",
        DBInstanceClass="db.r6g.large",
        AllocatedStorage=100,
        MasterUsername="app",
        MasterUserPassword=DB_PASSWORD,
        MultiAZ=True,
        AvailabilityZone=f"{PRIMARY}a",
        DBSubnetGroupName="prod-db",
        BackupRetentionPeriod=7,
        Tags=[{"Key": "env", "Value": "prod"}],
    )["DBInstance"]
    ro = rds.create_db_instance_read_replica(
        DBInstanceIdentifier="prod-db-ro",
        SourceDBInstanceIdentifier="prod-db",
        DBInstanceClass="db.r6g.large",
    )["DBInstance"]
    dr = _client(url, "rds", DR).create_db_instance_read_replica(
        DBInstanceIdentifier="prod-db-dr",
        SourceDBInstanceIdentifier=primary["DBInstanceArn"],
        DBInstanceClass="db.r6g.large",
        SourceRegion=PRIMARY,
    )["DBInstance"]
    desc = {d["DBInstanceIdentifier"]: d for d in rds.describe_db_instances()["DBInstances"]}
    dr_desc = _client(url, "rds", DR).describe_db_instances(DBInstanceIdentifier="prod-db-dr")[
        "DBInstances"
    ][0]
    resources.append(_res("aws_db_instance", "primary", _db_attrs(desc["prod-db"])))
    ro_attrs = _db_attrs(desc[ro["DBInstanceIdentifier"]])
    ro_attrs["multi_az"] = False  # an in-region read replica, single-AZ
    resources.append(_res("aws_db_instance", "read_replica", ro_attrs))
    resources.append(
        _res("aws_db_instance", "replica", _db_attrs(dr_desc), module="module.dr", alias="dr")
    )
    del dr
    rds.create_db_snapshot(DBSnapshotIdentifier="prod-db-nightly", DBInstanceIdentifier="prod-db")

    r53 = _client(url, "route53")
    zone = r53.create_hosted_zone(Name="example.internal", CallerReference="drill-test")
    zone_id = zone["HostedZone"]["Id"].rsplit("/", 1)[-1]
    endpoint = desc["prod-db"]["Endpoint"]["Address"]
    r53.change_resource_record_sets(
        HostedZoneId=zone_id,
        ChangeBatch={
            "Changes": [
                {
                    "Action": "CREATE",
                    "ResourceRecordSet": {
                        "Name": "db.example.internal.",
                        "Type": "CNAME",
                        "TTL": 60,
                        "ResourceRecords": [{"Value": endpoint}],
                    },
                }
            ]
        },
    )
    resources.append(
        _res(
            "aws_route53_zone",
            "internal",
            {
                "id": zone_id,
                "zone_id": zone_id,
                "name": "example.internal",
                "arn": f"arn:aws:route53:::hostedzone/{zone_id}",
            },
        )
    )
    resources.append(
        _res(
            "aws_route53_record",
            "db",
            {
                "id": f"{zone_id}_db.example.internal_CNAME",
                "zone_id": zone_id,
                "name": "db.example.internal",
                "fqdn": "db.example.internal",
                "type": "CNAME",
                "ttl": 60,
                "records": [endpoint],
                "set_identifier": "",
                "alias": [],
            },
        )
    )

    for region, name, mod, alias in (
        (PRIMARY, "prod-vault", None, None),
        (DR, "prod-vault-dr", "module.dr", "dr"),
    ):
        vault = _client(url, "backup", region).create_backup_vault(BackupVaultName=name)
        resources.append(
            _res(
                "aws_backup_vault",
                "main" if alias is None else "copy",
                {"id": name, "name": name, "arn": vault["BackupVaultArn"]},
                module=mod,
                alias=alias,
            )
        )

    lt = ec2.create_launch_template(
        LaunchTemplateName="prod-app",
        LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "t3.small"},
    )["LaunchTemplate"]
    asg = _client(url, "autoscaling")
    app_subnets = [subnets["private-a"]["SubnetId"], subnets["private-b"]["SubnetId"]]
    asg.create_auto_scaling_group(
        AutoScalingGroupName="prod-app",
        MinSize=2,
        MaxSize=4,
        DesiredCapacity=2,
        LaunchTemplate={"LaunchTemplateId": lt["LaunchTemplateId"], "Version": "$Latest"},
        VPCZoneIdentifier=",".join(app_subnets),
    )
    group = asg.describe_auto_scaling_groups(AutoScalingGroupNames=["prod-app"])[
        "AutoScalingGroups"
    ][0]
    resources.append(
        _res(
            "aws_autoscaling_group",
            "app",
            {
                "id": "prod-app",
                "name": "prod-app",
                "arn": group["AutoScalingGroupARN"],
                "vpc_zone_identifier": app_subnets,
                "availability_zones": [f"{PRIMARY}a", f"{PRIMARY}b"],
            },
        )
    )

    elb = _client(url, "elbv2")
    lb = elb.create_load_balancer(
        Name="prod-alb", Subnets=[subnets["public-a"]["SubnetId"], subnets["public-b"]["SubnetId"]]
    )["LoadBalancers"][0]
    tg = elb.create_target_group(
        Name="prod-app", Protocol="HTTP", Port=8080, VpcId=vpc["VpcId"], TargetType="instance"
    )["TargetGroups"][0]
    instances = [i["InstanceId"] for i in group["Instances"]]
    elb.register_targets(
        TargetGroupArn=tg["TargetGroupArn"], Targets=[{"Id": i, "Port": 8080} for i in instances]
    )
    resources.append(
        _res(
            "aws_lb",
            "app",
            {
                "id": lb["LoadBalancerArn"],
                "arn": lb["LoadBalancerArn"],
                "name": "prod-alb",
                "dns_name": lb["DNSName"],
            },
        )
    )
    resources.append(
        _res(
            "aws_lb_target_group",
            "app",
            {"id": tg["TargetGroupArn"], "arn": tg["TargetGroupArn"], "name": "prod-app"},
        )
    )

    sm = _client(url, "secretsmanager")
    secret = sm.create_secret(
        Name="prod/db/app", SecretString=json.dumps({"username": "app", "password": DB_PASSWORD})
    )
    resources.append(
        _res(
            "aws_secretsmanager_secret",
            "db",
            {"id": secret["ARN"], "arn": secret["ARN"], "name": "prod/db/app"},
        )
    )
    return {
        "version": 4,
        "terraform_version": "1.6.6",
        "serial": 42,
        "lineage": "0b7c4f8e-drill-test",
        "outputs": {},
        "resources": resources,
        "check_results": None,
    }


def to_show_json(state: dict[str, Any]) -> dict[str, Any]:
    """The same resources in `terraform show -json` shape (modules nested)."""
    root: dict[str, Any] = {"resources": [], "child_modules": []}
    mods: dict[str, dict[str, Any]] = {}
    for res in state["resources"]:
        for inst in res["instances"]:
            base = f"{res['type']}.{res['name']}"
            idx = inst.get("index_key")
            addr = base if idx is None else f"{base}[{idx}]"
            if res.get("module"):
                addr = f"{res['module']}.{addr}"
            entry = {
                "address": addr,
                "mode": "managed",
                "type": res["type"],
                "name": res["name"],
                "provider_name": "registry.terraform.io/hashicorp/aws",
                "schema_version": 0,
                "values": inst["attributes"],
                "sensitive_values": {},
            }
            if idx is not None:
                entry["index"] = idx
            if res.get("module"):
                mod = mods.setdefault(res["module"], {"address": res["module"], "resources": []})
                mod["resources"].append(entry)
            else:
                root["resources"].append(entry)
    root["child_modules"] = list(mods.values())
    return {
        "format_version": "1.0",
        "terraform_version": "1.6.6",
        "values": {"outputs": {}, "root_module": root},
    }


def put_replica_lag(url: str, seconds: float) -> None:
    """CloudWatch's side of the replica: a ReplicaLag datapoint, as RDS would publish."""
    _client(url, "cloudwatch", DR).put_metric_data(
        Namespace="AWS/RDS",
        MetricData=[
            {
                "MetricName": "ReplicaLag",
                "Value": seconds,
                "Unit": "Seconds",
                "Dimensions": [{"Name": "DBInstanceIdentifier", "Value": "prod-db-dr"}],
            }
        ],
    )
