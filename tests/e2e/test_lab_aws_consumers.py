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

from tests.e2e.conftest import lab_status

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
