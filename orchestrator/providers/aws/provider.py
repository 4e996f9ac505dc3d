"""The AWS provider: provider-neutral actions → AWS API calls, one registry entry each.

Construction is cheap (no client, no state read): clients come from an injected
session factory through :class:`ClientFactory` (``endpoint_url``, assumed role), the
Terraform inventory is read on first need. ``plan`` lists every call an action would
make without making any; ``execute`` makes them and returns, besides its result, the
mutating API calls it made (``api_calls``) as evidence.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from orchestrator.config import EnvironmentConfig, Settings
from orchestrator.errors import DrillError, ProviderError
from orchestrator.providers.aws import backup, dns, network, probes, rds, restore, sql
from orchestrator.providers.aws.clients import ClientFactory, SessionFactory
from orchestrator.providers.aws.context import AwsContext
from orchestrator.providers.base import PlannedCall, StepContext
from orchestrator.registry import Registry

PlanFn = Callable[[AwsContext, dict[str, Any], str], list[PlannedCall]]
RunFn = Callable[[AwsContext, dict[str, Any], StepContext], dict[str, Any]]


@dataclass(frozen=True)
class Handler:
    plan: PlanFn
    run: RunFn
    needs_db_path: bool = False  # SQL through the probe DSN: skipped with `probes: none`


NO_PATH = (
    "skipped: probes: none — the runner has no network path to the database, so "
    "this SQL step cannot run; API probes and AWS's own signals stand in"
)
NO_DSN = (
    "skipped: {why} — drill has no network path to the database, so this SQL step "
    "cannot run; API probes and AWS's own signals stand in"
)


HANDLERS: Registry[Handler] = Registry("AWS action")


PRIMARY_AZ = "primary"  # alias: the AZ hosting the primary database when the action runs


def _az(args: dict[str, Any]) -> str:
    return f"az:{args.get('az') or PRIMARY_AZ}"


def _primary_az_planned(c: AwsContext) -> str:
    """For plans (no API call): the primary's AZ as the Terraform state records it."""
    t = c.target("primary_db")
    if not t.az:
        raise ProviderError(
            "the Terraform state does not say which AZ hosts the primary",
            "name the AZ explicitly (az: us-east-1a or an AZ id)",
        )
    return t.az


def _primary_az_now(c: AwsContext) -> str:
    """At run time: the primary's AvailabilityZone as RDS reports it now."""
    from orchestrator.providers.aws.context import describe_instance

    t = c.target("primary_db")
    db = describe_instance(c, t.name or "", t.region or c.region)
    zone = (db or {}).get("AvailabilityZone")
    if not zone:
        raise ProviderError(
            f"cannot tell which AZ hosts the primary {t.name}",
            "name the AZ explicitly (az: us-east-1a or an AZ id)",
        )
    return str(zone)


def _plan_az_isolate(c: AwsContext, args: dict[str, Any], mode: str) -> list[PlannedCall]:
    scope = _az(args)
    if scope != f"az:{PRIMARY_AZ}":
        return network.plan_isolate(c, scope, mode, _fis(c, "az-loss"))
    # Which AZ is known only when the step runs: RDS moves the primary on every failover
    # while the Terraform state keeps the AZ it was created in. The plan said "az:<the
    # state's AZ>" as if certain — after one failover the standby's AZ, not the one cut.
    from orchestrator.providers.aws.context import call

    t = c.target("primary_db")
    stated = _primary_az_planned(c)
    planned = network.plan_isolate(c, f"az:{stated}", mode, _fis(c, "az-loss"))
    then = f"the primary's AZ when the step runs ({stated} in the Terraform state)"
    region = t.region or c.region
    read = call("rds", region, "DescribeDBInstances", False, DBInstanceIdentifier=t.name)
    return [read, *(_at_run_time(p, stated, then) for p in planned)]


def _at_run_time(p: PlannedCall, stated: str, then: str) -> PlannedCall:
    """A planned call of an AZ chosen at run time: the state's AZ and subnets shown as
    what they are — the state's guess."""
    args: dict[str, Any] = {}
    for key, value in p.arguments.items():
        if key == "SubnetIds":
            value = f"<the subnets of {then}: {', '.join(value)}>"
        elif key == "SubnetId":
            value = f"<a subnet of that AZ: {value} if {stated}>"
        elif isinstance(value, str):
            value = value.replace(f"az:{stated}", f"az:<{then}>")
        args[key] = value
    return PlannedCall(p.target, p.operation, args, p.mutating, p.effects)


def _az_isolate(c: AwsContext, args: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
    requested = str(args.get("az") or PRIMARY_AZ)
    zone = _primary_az_now(c) if requested == PRIMARY_AZ else requested
    out = network.isolate(c, f"az:{zone}", ctx, _fis(c, "az-loss"))
    out.update(az=zone, requested=requested)
    out["rollback_args"] = {**(out.get("rollback_args") or {}), "az": zone}
    return out


def _plan_az_restore(c: AwsContext, args: dict[str, Any], mode: str) -> list[PlannedCall]:
    scope = _az(args)
    if scope == f"az:{PRIMARY_AZ}" and not args.get("experiment_id"):
        # the AZ isolated is the primary's when it ran: the state's is only a guess
        stated = _primary_az_planned(c)
        planned = network.plan_restore(c, "az:<the isolated AZ>", args, f"az:{stated}")
        return [_at_run_time(p, stated, "the isolated AZ") for p in planned]
    return network.plan_restore(c, scope, args)


def _az_restore(c: AwsContext, args: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
    requested = str(args.get("az") or PRIMARY_AZ)
    if requested != PRIMARY_AZ or args.get("experiment_id"):
        return network.restore(c, f"az:{requested}", args, ctx)
    # the rollback normally gets the resolved AZ; without it, bring back whichever AZ
    # drill isolated (the primary has moved away from it by now)
    zones = sorted(
        {
            t["Value"]
            for acl in network.drill_acls(c)
            for t in acl.get("Tags", [])
            if t["Key"] == network.SCOPE_TAG and t["Value"].startswith("az:")
        }
    )
    if not zones:
        zones = [f"az:{_primary_az_now(c)}"]
    outs = [network.restore(c, zone, args, ctx) for zone in zones]
    if len(outs) == 1:
        return outs[0]
    return {
        "method": "nacl-swap",
        "scopes": zones,
        "results": outs,
        "noop": all(o.get("noop") for o in outs),
    }


def _fis(c: AwsContext, fault: str) -> str | None:
    return c.env.fis_templates.get(fault)


def _link(fault: str) -> Handler:
    def plan(c: AwsContext, args: dict[str, Any], mode: str) -> list[PlannedCall]:
        return network.plan_isolate(c, "link", mode, _need_fis(c, fault))

    def run(c: AwsContext, args: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
        return network.isolate(c, "link", ctx, _need_fis(c, fault))

    return Handler(plan, run)


def _need_fis(c: AwsContext, fault: str) -> str:
    template = _fis(c, fault)
    if not template:
        raise ProviderError(
            f"{fault} on AWS needs an AWS FIS experiment template: RDS cross-region "
            "replication runs on AWS's network and cannot be cut from a VPC",
            f"create one (aws:network:disrupt-connectivity) and set fis_templates: "
            f"{{{fault}: EXT…}} for the environment",
        )
    return template


for _name, _handler in {
    "db.failover": Handler(rds.plan_failover, rds.failover),
    "db.reprotect": Handler(rds.plan_reprotect, rds.reprotect),
    "db.promote_replica": Handler(rds.plan_promote, rds.promote),
    "db.rebuild_replica": Handler(rds.plan_rebuild, rds.rebuild),
    "dns.point": Handler(dns.plan_point, dns.point),
    "backup.create": Handler(backup.plan_create, backup.create),
    "db.restore": Handler(restore.plan_restore, restore.restore),
    "db.delete_restored": Handler(restore.plan_delete, restore.delete_restored),
    "az.isolate": Handler(_plan_az_isolate, _az_isolate),
    "az.restore": Handler(_plan_az_restore, _az_restore),
    "region.isolate": Handler(
        lambda c, a, m: network.plan_isolate(c, "region", m, _fis(c, "region-loss")),
        lambda c, a, x: network.isolate(c, "region", x, _fis(c, "region-loss")),
    ),
    "region.restore": Handler(
        lambda c, a, m: network.plan_restore(c, "region", a),
        lambda c, a, x: network.restore(c, "region", a, x),
    ),
    "link.cut": _link("link-cut"),
    "link.latency": _link("link-latency"),
    "link.restore": Handler(
        lambda c, a, m: network.plan_restore(c, "link", a),
        lambda c, a, x: network.restore(c, "link", a, x),
    ),
    "db.health": Handler(probes.plan_health, probes.health),
    "db.multi_az": Handler(probes.plan_multi_az, probes.multi_az),
    "db.replication_lag": Handler(probes.plan_lag, probes.replication_lag),
    "app.health": Handler(probes.plan_app, probes.app_health),
    "db.writable": Handler(sql.plan_writable, sql.writable, needs_db_path=True),
    "data.verify": Handler(sql.plan_verify, sql.verify, needs_db_path=True),
    "data.drop_table": Handler(sql.plan_drop, sql.drop_table, needs_db_path=True),
    "data.recreate_table": Handler(sql.plan_recreate, sql.recreate_table, needs_db_path=True),
}.items():
    HANDLERS.register(_name, _handler)


def check_against_plan(planned: list[PlannedCall], made: list[Any]) -> list[str]:
    """Mutating calls made that the plan of the same action does not list.

    ``drill plan`` shows what each action's plan function says; this compares it with
    the journal of the very calls the action just made (service, region, operation), so
    a plan that drifts from execution shows up in the run's evidence and in tests."""
    allowed = {(p.target, p.operation) for p in planned if p.mutating}
    out = []
    for c in made:
        region = "global" if c.service == "route53" else c.region
        if (f"{c.service} ({region})", c.operation) not in allowed:
            out.append(f"{c.service}:{c.operation} ({c.region})")
    return out


class AwsProvider:
    """Executes provider-neutral actions against one AWS environment."""

    name = "aws"

    def __init__(
        self,
        env_name: str,
        env: EnvironmentConfig,
        settings: Settings,
        session_factory: SessionFactory | None = None,
        client_overrides: dict[str, Any] | None = None,
    ) -> None:
        self.env_name = env_name
        self.clients = ClientFactory(env, session_factory, client_overrides)
        self.ctx = AwsContext(env_name, env, settings, self.clients)

    def prepare(self, log: Callable[[str], None]) -> None:
        """Resolve the inventory (fails early on a bad state) and sweep leftovers."""
        from orchestrator.providers.aws.sweep import sweep

        self.ctx.inventory()
        sweep(self.ctx, log)

    def supports(self, action: str) -> bool:
        return action in HANDLERS

    def _handler(self, action: str) -> Handler:
        if action not in HANDLERS:
            raise ProviderError(
                f"action {action!r} is not implemented by the AWS provider",
                f"AWS supports: {', '.join(HANDLERS.names())}",
            )
        return HANDLERS.get(action)

    def skip_reason(self, action: str, args: dict[str, Any]) -> str | None:
        handler = HANDLERS.get(action) if action in HANDLERS else None
        if handler is None or not handler.needs_db_path:
            return None
        from orchestrator.providers.aws.probedb import db_probe

        if self.ctx.env.probes == "none":
            return NO_PATH
        why = db_probe(self.ctx).why_not  # nothing in probes.db, nothing derivable
        return NO_DSN.format(why=why) if why else None

    def probe_sources(self) -> dict[str, str]:
        """Where the probes come from (``probes:`` or derived from the state), redacted:
        for ``drill plan``, ``drill inventory`` and the run's evidence. Raises
        ConfigError when a derived probe would leave loopback in an emulated
        environment."""
        from orchestrator.providers.aws.probedb import sources

        return sources(self.ctx)

    def plan(self, action: str, args: dict[str, Any], mode: str) -> list[PlannedCall]:
        return self._handler(action).plan(self.ctx, args, mode)

    def execute(self, action: str, args: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
        handler = self._handler(action)
        mark = len(self.clients.journal)
        try:
            out = handler.run(self.ctx, args, ctx)
        finally:
            made = self.clients.mutating_calls(mark)
        if made:
            out = {**out, "api_calls": [c.as_dict() for c in made]}
            try:
                planned = handler.plan(self.ctx, args, ctx.mode)
            except DrillError as exc:  # the action ran; a plan that cannot say so is noted
                planned = []
                out["plan_error"] = exc.message
            unplanned = check_against_plan(planned, made)
            if unplanned:  # the plan would have lied: say so in the evidence, loudly
                out["unplanned_calls"] = unplanned
                ctx.log(f"{action}: API calls missing from its plan: {', '.join(unplanned)}")
        return out

    def observer(self, scenario_id: str, scenario_kind: str | None, run_id: str) -> Any:
        from orchestrator.providers.aws.observer import build

        return build(self.ctx, scenario_kind, run_id)

    def close(self) -> None:
        self.clients.close()
