"""The AWS-shaped lab (DESIGN section 12): the local DR lab behind an AWS API.

``drill lab up --aws`` starts, next to the lab, one more helper process
(:mod:`orchestrator.labaws.server`): moto in server mode on 127.0.0.1 with a small
WSGI middleware in front of it. moto answers every API call as it always does; the
middleware only

* before a read, copies the lab's real state into moto's backends
  (:mod:`~orchestrator.labaws.sync`: instance status, the primary's AZ, replica lag,
  endpoints on 127.0.0.1, app instances stopped when their AZ is isolated), and
* after a mutating call moto accepted, makes the lab do what AWS would
  (:mod:`~orchestrator.labaws.effects`: a forced-failover reboot kills the primary and
  the lab's controller fails over; promoting the replica promotes ``usw2``; …).

A call RDS would refuse on this topology, or one the lab cannot act on, is refused
before moto sees it (:mod:`~orchestrator.labaws.refuse`): never a success that changed
nothing. The few AWS Backup calls moto does not implement (recovery points, restore jobs) are
answered from the lab's real vault (:mod:`~orchestrator.labaws.backup_api`).
The resources are created through the API itself at start-up, and the Terraform
state v4 describing them is written from what the API reports
(:mod:`~orchestrator.labaws.seed`).
"""

from __future__ import annotations

REGION, DR_REGION = "us-east-1", "us-west-2"
ACCOUNT = "123456789012"  # moto's default account
PRIMARY_ID = "drill-lab-db"
REPLICA_ID = "drill-lab-dr"
VAULT = "drill-lab-vault"
LOAD_BALANCER = "drill-lab"  # the lab load balancer (deletion protection on)
TARGET_GROUP = "drill-lab-app"  # the app instances behind the load balancer
ZONE = "lab-aws.internal"
RECORD = f"db.{ZONE}"
# The lab's AZs are AZ *ids* (use1-az1, …), as in AWS where names map to ids per
# account; in the emulator's account us-east-1b is use1-az1 and us-east-1c use1-az2.
AZ_NAMES = {"use1-az1": f"{REGION}b", "use1-az2": f"{REGION}c"}
DR_AZ = f"{DR_REGION}a"
LAB_AZ = {v: k for k, v in AZ_NAMES.items()}
INTERNAL_HEADER = "X-Drill-Lab-Internal"  # the emulator's own calls: no lab effect


def dns_name(identifier: str) -> str:
    """The name an instance has in the private zone (what the global record points at)."""
    return f"{identifier}.{ZONE}"
