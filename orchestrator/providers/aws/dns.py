"""dns.point: repoint the Route53 record at another role's endpoint, restorably.

The record set as it was before is returned in ``rollback_args.original`` (the engine
saves it in the pending rollback row *before* anything else happens), so the rollback
— or crash recovery — UPSERTs exactly the original back, whatever it was.
"""

from __future__ import annotations

from typing import Any

from orchestrator.errors import ProviderError
from orchestrator.inventory.roles import Target
from orchestrator.providers.aws.context import AwsContext, aws_error, call
from orchestrator.providers.base import PlannedCall, StepContext

R53_REGION = "us-east-1"  # Route53 is global; its API lives in us-east-1


def _fqdn(t: Target) -> str:
    return (t.name or "").rstrip(".") + "."


def _endpoint_of(c: AwsContext, role: str) -> str:
    t = c.target(role)
    if not t.endpoint:
        raise ProviderError(f"role {role!r} ({t.address}) has no endpoint in the state")
    return t.endpoint


def _current(c: AwsContext, rec: Target) -> dict[str, Any]:
    r53 = c.clients.client("route53", R53_REGION)
    sets = r53.list_resource_record_sets(
        HostedZoneId=rec.extra.get("zone_id"),
        StartRecordName=_fqdn(rec),
        StartRecordType=rec.extra.get("record_type") or "CNAME",
        MaxItems="10",
    )
    for rs in sets["ResourceRecordSets"]:
        if (
            rs["Name"] == _fqdn(rec)
            and rs["Type"] == rec.extra.get("record_type")
            and rs.get("SetIdentifier") == rec.extra.get("set_identifier")
        ):
            return dict(rs)
    raise ProviderError(
        f"DNS record {_fqdn(rec)} not found in zone {rec.extra.get('zone_id')}",
        "run `drill inventory` to check for drift",
    )


def plan_point(c: AwsContext, args: dict[str, Any], mode: str) -> list[PlannedCall]:
    rec = c.target(args.get("record", "dns_record"))
    zone = rec.extra.get("zone_id")
    if mode == "isolated":
        return []  # production DNS is left alone in isolated mode
    value = (args.get("original") and "the original record set") or _endpoint_of(
        c, args.get("to", "dr_replica")
    )
    return [
        call(
            "route53",
            "global",
            "ListResourceRecordSets",
            False,
            HostedZoneId=zone,
            StartRecordName=_fqdn(rec),
        ),
        call(
            "route53",
            "global",
            "ChangeResourceRecordSets",
            HostedZoneId=zone,
            Action="UPSERT",
            Name=_fqdn(rec),
            Type=rec.extra.get("record_type"),
            Value=value,
        ),
        call("route53", "global", "GetChange", False),
    ]


def point(c: AwsContext, args: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
    from botocore.exceptions import ClientError

    rec = c.target(args.get("record", "dns_record"))
    if ctx.mode == "isolated":
        return {"skipped": True, "reason": "isolated mode: the production DNS record is left alone"}
    r53 = c.clients.client("route53", R53_REGION)
    try:
        before = _current(c, rec)
        if args.get("original"):
            new = dict(args["original"])
        else:
            if before.get("AliasTarget"):
                raise ProviderError(
                    f"{_fqdn(rec)} is an alias record; drill repoints CNAME/A records with values"
                )
            new = {k: v for k, v in before.items() if k not in ("ResourceRecords",)}
            new["ResourceRecords"] = [{"Value": _endpoint_of(c, args.get("to", "dr_replica"))}]
        change = r53.change_resource_record_sets(
            HostedZoneId=rec.extra.get("zone_id"),
            ChangeBatch={
                "Comment": f"drill run {ctx.run_id}",
                "Changes": [{"Action": "UPSERT", "ResourceRecordSet": new}],
            },
        )
        change_id = change["ChangeInfo"]["Id"]
        waited = c.wait(
            f"DNS change {change_id} in sync",
            lambda: r53.get_change(Id=change_id)["ChangeInfo"]["Status"] == "INSYNC",
            ctx,
        )
    except ClientError as exc:
        raise aws_error(exc, f"repointing {_fqdn(rec)}") from None
    values = [r["Value"] for r in new.get("ResourceRecords", [])]
    out: dict[str, Any] = {
        "record": _fqdn(rec),
        "values": values,
        "previous": [r["Value"] for r in before.get("ResourceRecords", [])],
        "change_id": change_id,
        "waited_s": waited,
    }
    if not args.get("original"):
        out["rollback_args"] = {"original": before}
    probes = c.env.probes
    if probes is not None and probes != "none" and probes.global_db:
        from orchestrator.providers.aws.dsn import probe_dsn

        out["dsn"] = probe_dsn(c, probes.global_db)  # what clients of the record reach
    return out
