"""Losing an AZ or a region: a deny-all network ACL swap (or an AWS FIS experiment).

Isolation swaps every subnet of the AZ (region) onto a new deny-all network ACL and
takes the AZ's subnets out of the app's auto scaling group (with ``AZRebalance``
suspended), so nothing in it answers and nothing is launched into it. What was there
before is written *on AWS itself*, as tags of the deny-all ACL (``drill:orig:<subnet>``
→ original ACL, ``drill:asg:<name>`` → original subnets), so a restore needs no local
state: the rollback, a later ``az.restore`` step, or the next run's sweep after a
crash can all put every association back.

When ``fis_templates`` names a template for the fault (``az-loss``, ``link-cut``,
``link-latency``), an AWS FIS experiment is started instead and stopped on restore.
"""

from __future__ import annotations

from typing import Any

from orchestrator.errors import ProviderError
from orchestrator.inventory.roles import Subnet
from orchestrator.providers.aws.context import AwsContext, aws_error, call
from orchestrator.providers.base import PlannedCall, StepContext

SCOPE_TAG = "drill:scope"
ORIG_PREFIX = "drill:orig:"
ASG_PREFIX = "drill:asg:"
SUSPENDED = ["AZRebalance"]


def _subnets(c: AwsContext, scope: str) -> list[Subnet]:
    inv = c.inventory()
    if scope == "region":
        found = [s for s in inv.subnets if s.region in (None, c.region)]
    else:
        found = inv.subnets_in(scope.split(":", 1)[1])
    if not found:
        zones = sorted({f"{s.az} ({s.az_id})" for s in inv.subnets})
        raise ProviderError(
            f"no subnets of {scope} in the Terraform state",
            f"zones in the state: {', '.join(zones) or 'none'}",
        )
    return found


def _asg_plan(c: AwsContext, subnet_ids: set[str]) -> tuple[str, list[str], list[str]] | None:
    t = c.inventory().targets.get("asg")
    if t is None:
        return None
    groups = c.clients.client("autoscaling", t.region or c.region).describe_auto_scaling_groups(
        AutoScalingGroupNames=[t.name]
    )["AutoScalingGroups"]
    if not groups:
        return None
    current = [s for s in groups[0].get("VPCZoneIdentifier", "").split(",") if s]
    remaining = [s for s in current if s not in subnet_ids]
    if remaining == current or not remaining:  # untouched, or nowhere left to run
        return None
    return t.name or "", current, remaining


def _asg_planned(c: AwsContext, subnet_ids: set[str]) -> Any:
    """For plans, from the state: the ASG whose subnets isolating these would change
    (the same rule as :func:`_asg_plan`, which asks AWS at run time)."""
    t = c.inventory().targets.get("asg")
    if t is None:
        return None
    current = list(t.extra.get("subnets") or [])
    remaining = [s for s in current if s not in subnet_ids]
    return t if current and remaining and remaining != current else None


# ---- FIS ----------------------------------------------------------------------------
def _fis_start(c: AwsContext, template: str, ctx: StepContext, fault: str) -> dict[str, Any]:
    from botocore.exceptions import ClientError

    fis = c.clients.client("fis", c.region)
    try:
        exp = fis.start_experiment(
            experimentTemplateId=template,
            clientToken=ctx.run_id[-64:],
            tags={t["Key"]: t["Value"] for t in c.tags(ctx, fault)},
        )
        exp_id = exp["experiment"]["id"]
        state = {"status": exp["experiment"].get("state", {}).get("status")}

        def running() -> bool:
            state["status"] = fis.get_experiment(id=exp_id)["experiment"]["state"]["status"]
            if state["status"] in ("failed", "stopped", "cancelled"):
                raise ProviderError(f"FIS experiment {exp_id} {state['status']}")
            return state["status"] in ("running", "completed")

        c.wait(f"FIS experiment {exp_id} running", running, ctx)
    except ClientError as exc:
        raise aws_error(exc, f"FIS experiment from template {template}") from None
    return {
        "method": "fis",
        "experiment_id": exp_id,
        "template": template,
        "status": state["status"],
        "rollback_args": {"experiment_id": exp_id},
    }


def _fis_stop(c: AwsContext, exp_id: str, ctx: StepContext) -> dict[str, Any]:
    from botocore.exceptions import ClientError

    fis = c.clients.client("fis", c.region)
    try:
        status = fis.get_experiment(id=exp_id)["experiment"]["state"]["status"]
        if status in ("pending", "initiating", "running"):
            fis.stop_experiment(id=exp_id)
            status = fis.get_experiment(id=exp_id)["experiment"]["state"]["status"]
    except ClientError as exc:
        raise aws_error(exc, f"stopping FIS experiment {exp_id}") from None
    return {"method": "fis", "experiment_id": exp_id, "status": status}


# ---- NACL swap ------------------------------------------------------------------------
def _associations(c: AwsContext, subnet_ids: list[str]) -> dict[str, tuple[str, str]]:
    """subnet → (association id, network ACL id) as AWS has it now."""
    ec2 = c.clients.client("ec2", c.region)
    acls = ec2.describe_network_acls(
        Filters=[{"Name": "association.subnet-id", "Values": subnet_ids}]
    )["NetworkAcls"]
    out = {}
    for acl in acls:
        for a in acl.get("Associations", []):
            if a["SubnetId"] in subnet_ids:
                out[a["SubnetId"]] = (a["NetworkAclAssociationId"], acl["NetworkAclId"])
    return out


def plan_isolate(c: AwsContext, scope: str, mode: str, template: str | None) -> list[PlannedCall]:
    if template:
        return [
            call("fis", c.region, "StartExperiment", experimentTemplateId=template),
            call("fis", c.region, "GetExperiment", False),
        ]
    subnets = _subnets(c, scope)
    ids = [s.id for s in subnets]
    calls = [call("ec2", c.region, "DescribeNetworkAcls", False, SubnetIds=ids)]
    for vpc in sorted({s.vpc_id or "" for s in subnets}):
        calls.append(
            call(
                "ec2",
                c.region,
                "CreateNetworkAcl",
                VpcId=vpc,
                Tags=f"{SCOPE_TAG}={scope}, drill:orig:<subnet>=<acl>",
            )
        )
    calls += [
        call("ec2", c.region, "ReplaceNetworkAclAssociation", SubnetId=s, NetworkAclId="<deny-all>")
        for s in ids
    ]
    asg = _asg_planned(c, set(ids))
    if asg is not None:
        calls += [
            call(
                "autoscaling",
                c.region,
                "DescribeAutoScalingGroups",
                False,
                AutoScalingGroupNames=[asg.name],
            ),
            call(
                "autoscaling",
                c.region,
                "SuspendProcesses",
                AutoScalingGroupName=asg.name,
                ScalingProcesses=SUSPENDED,
            ),
            call(
                "autoscaling",
                c.region,
                "UpdateAutoScalingGroup",
                AutoScalingGroupName=asg.name,
                VPCZoneIdentifier=f"<its subnets minus {scope}>",
            ),
        ]
    return calls


def isolate(c: AwsContext, scope: str, ctx: StepContext, template: str | None) -> dict[str, Any]:
    from botocore.exceptions import ClientError

    if ctx.mode == "isolated":
        raise ProviderError(
            f"losing {scope} disrupts production; isolated mode never does",
            "run this scenario in live mode on a non-production environment",
        )
    if template:
        return {**_fis_start(c, template, ctx, scope), "scope": scope}
    subnets = _subnets(c, scope)
    ids = [s.id for s in subnets]
    ec2 = c.clients.client("ec2", c.region)
    current = _associations(c, ids)
    missing = [s for s in ids if s not in current]
    if missing:
        raise ProviderError(f"no network ACL association found for {', '.join(missing)}")
    asg = _asg_plan(c, set(ids))
    out: dict[str, Any] = {
        "method": "nacl-swap",
        "scope": scope,
        "subnets": ids,
        "deny_acls": [],
        "original": {s: current[s][1] for s in ids},
    }
    try:
        for vpc in sorted({s.vpc_id or "" for s in subnets}):
            mine = [s.id for s in subnets if (s.vpc_id or "") == vpc]
            tags = [*c.tags(ctx, "isolate"), {"Key": SCOPE_TAG, "Value": scope}]
            tags += [{"Key": ORIG_PREFIX + s, "Value": current[s][1]} for s in mine]
            if asg is not None:
                tags.append({"Key": ASG_PREFIX + asg[0], "Value": ",".join(asg[1])})
            acl = ec2.create_network_acl(
                VpcId=vpc, TagSpecifications=[{"ResourceType": "network-acl", "Tags": tags}]
            )["NetworkAcl"]["NetworkAclId"]
            out["deny_acls"].append(acl)
            # from here on the rollback knows the ACL: restore works even if we die now
            for s in mine:
                ec2.replace_network_acl_association(AssociationId=current[s][0], NetworkAclId=acl)
        if asg is not None:
            auto = c.clients.client("autoscaling", c.region)
            auto.suspend_processes(AutoScalingGroupName=asg[0], ScalingProcesses=SUSPENDED)
            auto.update_auto_scaling_group(
                AutoScalingGroupName=asg[0], VPCZoneIdentifier=",".join(asg[2])
            )
            out["asg"] = {"name": asg[0], "subnets_before": asg[1], "subnets_now": asg[2]}
    except ClientError as exc:
        raise aws_error(exc, f"isolating {scope}") from None
    out["rollback_args"] = {"deny_acls": out["deny_acls"]}
    return out


def plan_restore(
    c: AwsContext, scope: str, args: dict[str, Any], subnets_of: str | None = None
) -> list[PlannedCall]:
    """The calls of a restore: one re-association per subnet of the scope (of
    ``subnets_of`` when the scope is only known at run time), the ACL deleted, the ASG
    put back when there is one — the same calls :func:`restore_acl` makes."""
    if args.get("experiment_id"):
        return [call("fis", c.region, "StopExperiment", id=args["experiment_id"])]
    calls = [
        call("ec2", c.region, "DescribeNetworkAcls", False, Filters=f"tag:{SCOPE_TAG}={scope}")
    ]
    if scope == "link":  # only ever an FIS experiment: without one there is nothing
        return calls
    subnets = _subnets(c, subnets_of or scope)
    calls += [
        call(
            "ec2",
            c.region,
            "ReplaceNetworkAclAssociation",
            SubnetId=s.id,
            NetworkAclId="<its original ACL>",
        )
        for s in subnets
    ]
    asg = _asg_planned(c, {s.id for s in subnets})
    if asg is not None:
        calls += [
            call(
                "autoscaling",
                c.region,
                "UpdateAutoScalingGroup",
                AutoScalingGroupName=asg.name,
                VPCZoneIdentifier="<original subnets>",
            ),
            call(
                "autoscaling",
                c.region,
                "ResumeProcesses",
                AutoScalingGroupName=asg.name,
                ScalingProcesses=SUSPENDED,
            ),
        ]
    return [*calls, call("ec2", c.region, "DeleteNetworkAcl", NetworkAclId="<deny-all>")]


def drill_acls(
    c: AwsContext, scope: str | None = None, region: str | None = None
) -> list[dict[str, Any]]:
    """Deny-all ACLs drill created in this environment (optionally for one scope)."""
    filters = [
        {"Name": "tag:drill:created-by", "Values": ["drill"]},
        {"Name": "tag:drill:env", "Values": [c.env_name]},
    ]
    if scope:
        filters.append({"Name": f"tag:{SCOPE_TAG}", "Values": [scope]})
    ec2 = c.clients.client("ec2", region or c.region)
    return list(ec2.describe_network_acls(Filters=filters)["NetworkAcls"])


def restore(c: AwsContext, scope: str, args: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
    if args.get("experiment_id"):
        return _fis_stop(c, args["experiment_id"], ctx)
    acls = drill_acls(c, scope)
    wanted = set(args.get("deny_acls") or [])
    if wanted:
        acls = [a for a in acls if a["NetworkAclId"] in wanted]
    restored: dict[str, str] = {}
    for acl in acls:
        restored.update(restore_acl(c, acl))
    return {
        "method": "nacl-swap",
        "scope": scope,
        "restored": restored,
        "deleted_acls": [a["NetworkAclId"] for a in acls],
        "noop": not acls,
    }


def restore_acl(c: AwsContext, acl: dict[str, Any]) -> dict[str, str]:
    """Put back every association and ASG recorded in a deny-all ACL's tags; delete it."""
    from botocore.exceptions import ClientError

    ec2 = c.clients.client("ec2", c.region)
    tags = {t["Key"]: t["Value"] for t in acl.get("Tags", [])}
    restored = {}
    try:
        for a in acl.get("Associations", []):
            original = tags.get(ORIG_PREFIX + a["SubnetId"])
            if original is None:
                raise ProviderError(
                    f"{acl['NetworkAclId']} has no record of the original ACL "
                    f"of {a['SubnetId']}; restore it by hand"
                )
            ec2.replace_network_acl_association(
                AssociationId=a["NetworkAclAssociationId"], NetworkAclId=original
            )
            restored[a["SubnetId"]] = original
        for key, value in tags.items():
            if key.startswith(ASG_PREFIX):
                auto = c.clients.client("autoscaling", c.region)
                auto.update_auto_scaling_group(
                    AutoScalingGroupName=key[len(ASG_PREFIX) :], VPCZoneIdentifier=value
                )
                auto.resume_processes(
                    AutoScalingGroupName=key[len(ASG_PREFIX) :], ScalingProcesses=SUSPENDED
                )
        ec2.delete_network_acl(NetworkAclId=acl["NetworkAclId"])
    except ClientError as exc:
        raise aws_error(exc, f"restoring from {acl['NetworkAclId']}") from None
    return restored
