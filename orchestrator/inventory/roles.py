"""Resolve roles (``primary_db``, ``dr_replica``, …) to resources of the state.

Explicit ``targets:`` win (module paths and provider aliases are just part of the
address). Otherwise roles are discovered when the state makes them unambiguous
(DESIGN section 4): a resource tagged ``drill:role`` wins; a Multi-AZ
``aws_db_instance`` that replicates nothing is ``primary_db``; one replicating it from
``dr_region`` is ``dr_replica``; a single vault / ASG / load balancer / target group /
DNS record naming the primary is that role. Ambiguity is reported, never guessed.
"""

from __future__ import annotations

import difflib
from typing import Any, Literal

from pydantic import BaseModel, Field

from orchestrator.config import EnvironmentConfig
from orchestrator.errors import ConfigError, UnknownTarget
from orchestrator.inventory.connect import connection, listener
from orchestrator.inventory.state import TfResource, TfState

ROLE_TAG = "drill:role"

# role → resource types that can fill it
ROLE_TYPES: dict[str, tuple[str, ...]] = {
    "primary_db": ("aws_db_instance", "aws_rds_cluster"),
    "dr_replica": ("aws_db_instance", "aws_rds_cluster"),
    "dns_record": ("aws_route53_record",),
    "backup_vault": ("aws_backup_vault",),
    "asg": ("aws_autoscaling_group",),
    "alb": ("aws_lb", "aws_alb"),
    "target_group": ("aws_lb_target_group", "aws_alb_target_group"),
}


class Target(BaseModel):
    """A role resolved to one resource, with what actions and drift checks need."""

    role: str
    address: str
    type: str
    how: Literal["explicit", "tag", "discovered"]
    id: str | None = None
    name: str | None = None
    arn: str | None = None
    endpoint: str | None = None
    port: int | None = None
    region: str | None = None
    az: str | None = None
    multi_az: bool | None = None
    replicates: str | None = None
    extra: dict[str, Any] = Field(default_factory=dict)
    # the master password a database's state holds (``password``): for a derived probe
    # DSN only — never dumped (`drill inventory --json`), never in a repr, and masked
    # wherever it shows up (remembered by orchestrator.secrets)
    password: str | None = Field(None, exclude=True, repr=False)


class Subnet(BaseModel):
    address: str
    id: str
    az: str | None
    az_id: str | None
    vpc_id: str | None
    cidr: str | None
    region: str | None


class Inventory(BaseModel):
    env: str
    state: str
    targets: dict[str, Target]
    subnets: list[Subnet] = Field(default_factory=list)
    unresolved: dict[str, str] = Field(default_factory=dict, description="role → why not")
    # role → addresses of the state that could fill it (its types, playing no other
    # role): the example of the hint when the role is missing
    candidates: dict[str, list[str]] = Field(default_factory=dict, exclude=True)

    def target(self, role: str) -> Target:
        found = self.targets.get(role)
        if found is None:
            why = self.unresolved.get(role, "not in the state")
            kind = ROLE_TYPES.get(role, ("aws_db_instance",))[0]
            examples = self.candidates.get(role) or [f"{kind}.NAME"]
            raise UnknownTarget(
                f"role {role!r} is not resolved for environment {self.env!r}: {why}",
                f"name it under environments.{self.env}.targets in drill.yaml, e.g. "
                f"`{role}: {examples[0]}`"
                + (f" (candidates: {', '.join(examples)})" if len(examples) > 1 else "")
                + f" (known roles: {', '.join(sorted(self.targets)) or 'none'})",
                role,
            )
        return found

    def subnets_in(self, zone: str) -> list[Subnet]:
        """Subnets of an AZ given by name (us-east-1a) or id (use1-az1)."""
        return [s for s in self.subnets if zone in (s.az, s.az_id)]


def _identifier(res: TfResource) -> str | None:
    a = res.attributes
    for key in ("identifier", "cluster_identifier", "name", "id"):
        if a.get(key):
            return str(a[key])
    return None


def to_target(role: str, res: TfResource, how: Literal["explicit", "tag", "discovered"]) -> Target:
    a = res.attributes
    endpoint = a.get("address") or a.get("endpoint") or a.get("dns_name") or a.get("fqdn")
    if isinstance(endpoint, str) and ":" in endpoint and res.type == "aws_db_instance":
        endpoint = endpoint.rsplit(":", 1)[0]
    extra: dict[str, Any] = {}
    if res.type == "aws_route53_record":
        extra = {
            "zone_id": a.get("zone_id"),
            "record_type": a.get("type"),
            "records": list(a.get("records") or []),
            "ttl": a.get("ttl"),
            "set_identifier": a.get("set_identifier") or None,
            "alias": bool(a.get("alias")),
        }
    elif res.type == "aws_autoscaling_group":
        extra = {
            "subnets": list(a.get("vpc_zone_identifier") or []),
            "zones": list(a.get("availability_zones") or []),
        }
    elif res.type in ROLE_TYPES["primary_db"]:
        extra = {
            "engine": a.get("engine"),
            "instance_class": a.get("instance_class"),
            "resource_id": a.get("resource_id"),
            **connection(a),
        }
    password = None
    if res.type in ROLE_TYPES["primary_db"]:
        password = a.get("password") or a.get("master_password")
    if isinstance(password, str) and password:
        from orchestrator.secrets import remember

        remember(password)
    else:
        password = None
    return Target(
        role=role,
        address=res.address,
        type=res.type,
        how=how,
        id=str(a.get("id") or ""),
        name=_identifier(res),
        arn=a.get("arn"),
        endpoint=endpoint,
        port=int(a["port"]) if str(a.get("port") or "").isdigit() else None,
        region=res.region,
        az=a.get("availability_zone"),
        multi_az=a.get("multi_az") if res.type == "aws_db_instance" else None,
        replicates=a.get("replicate_source_db") or a.get("replication_source_identifier") or None,
        extra=extra,
        password=password,
    )


def _find(state: TfState, address: str) -> TfResource | None:
    by = state.by_address()
    if address in by:
        return by[address]
    # a counted/for_each resource named without index: accept when there is one instance
    many = [r for r in state.resources if r.address.split("[", 1)[0] == address]
    return many[0] if len(many) == 1 else None


def resolve(state: TfState, env_name: str, env: EnvironmentConfig) -> Inventory:
    """Roles → targets; raises ConfigError for an explicit address that does not exist."""
    targets: dict[str, Target] = {}
    unresolved: dict[str, str] = {}
    for role, address in env.targets.items():
        res = _find(state, address)  # explicit: always wins
        if res is None:
            close = difflib.get_close_matches(address, list(state.by_address()), n=1)
            raise ConfigError(
                f"environments.{env_name}.targets.{role}: no resource {address!r} in "
                f"{state.source}" + (f" (did you mean {close[0]!r}?)" if close else ""),
                "`drill inventory --env ENV` lists what the state holds",
            )
        if role in ROLE_TYPES and res.type not in ROLE_TYPES[role]:
            raise ConfigError(
                f"environments.{env_name}.targets.{role}: {address} is an {res.type}, "
                f"which cannot be {role} ({' / '.join(ROLE_TYPES[role])})",
                "`drill inventory --env ENV` lists what the state holds",
            )
        targets[role] = to_target(role, res, "explicit")
    tagged: dict[str, list[TfResource]] = {}
    for res in state.resources:
        tag = res.tags.get(ROLE_TAG)
        if tag and res.mode == "managed":
            tagged.setdefault(tag, []).append(res)
    for role, found in tagged.items():
        if role in targets:
            continue
        misfits = [r for r in found if role in ROLE_TYPES and r.type not in ROLE_TYPES[role]]
        if misfits:  # e.g. drill:role=primary_db on a vault: a failover would call RDS on it
            raise ConfigError(
                f"{misfits[0].address} in {state.source} is tagged {ROLE_TAG}={role}, but an "
                f"{misfits[0].type} cannot be {role} ({' / '.join(ROLE_TYPES[role])})",
                "move the tag to the resource that plays the role, or name it under "
                f"environments.{env_name}.targets",
            )
        if len(found) == 1:
            targets[role] = to_target(role, found[0], "tag")
        else:
            unresolved[role] = f"{len(found)} resources tagged {ROLE_TAG}={role}: " + ", ".join(
                r.address for r in found
            )
    _discover(state, env, targets, unresolved)
    subnets = [
        Subnet(
            address=r.address,
            id=str(r.attributes.get("id")),
            az=r.attributes.get("availability_zone"),
            az_id=r.attributes.get("availability_zone_id"),
            vpc_id=r.attributes.get("vpc_id"),
            cidr=r.attributes.get("cidr_block"),
            region=r.region,
        )
        for r in state.of_type("aws_subnet")
    ]
    for role in targets:
        unresolved.pop(role, None)
    _one_resource_per_db_role(env_name, state, targets)
    if "alb" in targets:
        listener(state, targets["alb"])
    return Inventory(
        env=env_name,
        state=state.source,
        targets=targets,
        subnets=subnets,
        unresolved=unresolved,
        candidates=_candidates(state, targets, unresolved),
    )


def _one_resource_per_db_role(env_name: str, state: TfState, targets: dict[str, Target]) -> None:
    """The DR replica is never the primary: region-promotion would promote the primary
    and its rollback delete it (with a final snapshot) to re-create it as a replica."""
    primary, replica = targets.get("primary_db"), targets.get("dr_replica")
    if primary is not None and replica is not None and primary.address == replica.address:
        raise ConfigError(
            f"environments.{env_name}.targets: primary_db and dr_replica are the same "
            f"resource, {primary.address} in {state.source}; region-promotion would promote "
            "the primary and its rollback delete it to re-create it as a replica",
            "name the cross-region replica (an aws_db_instance with replicate_source_db) as "
            "dr_replica, or set dr_region to its region (`drill inventory --env ENV`)",
        )


def _candidates(
    state: TfState, targets: dict[str, Target], unresolved: dict[str, str]
) -> dict[str, list[str]]:
    """For each role left unfilled, the resources of its types that play no other role
    (for dr_replica: those replicating something, when there are, other regions first)."""
    used = {t.address for t in targets.values()}
    out: dict[str, list[str]] = {}
    for role in (*unresolved, *(r for r in ROLE_TYPES if r not in targets)):
        free = [
            r
            for t in ROLE_TYPES.get(role, ())
            for r in state.of_type(t)
            if r.address not in used and r.mode == "managed"
        ]
        if role == "dr_replica":
            free = [
                r
                for r in free
                if r.attributes.get("replicate_source_db")
                or r.attributes.get("replication_source_identifier")
            ] or free
            home = targets["primary_db"].region if "primary_db" in targets else None
            free.sort(key=lambda r: r.region == home)  # cross-region replicas first
        out[role] = [r.address for r in free]
    return out


def _one(
    role: str,
    candidates: list[TfResource],
    targets: dict[str, Target],
    unresolved: dict[str, str],
    why_none: str,
) -> None:
    if role in targets:
        return
    if len(candidates) == 1:
        targets[role] = to_target(role, candidates[0], "discovered")
    elif candidates:
        unresolved[role] = (
            f"ambiguous: {', '.join(c.address for c in candidates)}; name one in targets:"
        )
    else:
        unresolved.setdefault(role, why_none)


def _discover(
    state: TfState, env: EnvironmentConfig, targets: dict[str, Target], unresolved: dict[str, str]
) -> None:
    dbs = state.of_type("aws_db_instance")
    primaries = [
        r
        for r in dbs
        if r.attributes.get("multi_az")
        and not r.attributes.get("replicate_source_db")
        and (env.region is None or r.region in (None, env.region))
    ]
    _one(
        "primary_db",
        primaries,
        targets,
        unresolved,
        "no Multi-AZ aws_db_instance without replicate_source_db",
    )
    primary = targets.get("primary_db")
    if primary is not None:
        refs = {v for v in (primary.name, primary.arn, primary.id) if v}
        replicas = [
            r
            for r in dbs
            if r.attributes.get("replicate_source_db") in refs
            and (env.dr_region is None or r.region == env.dr_region)
        ]
        elsewhere = [
            r for r in dbs if r.attributes.get("replicate_source_db") in refs and r not in replicas
        ]
        _one(
            "dr_replica",
            replicas,
            targets,
            unresolved,
            f"no aws_db_instance replicating the primary in {env.dr_region or 'another region'}"
            + "".join(
                f"; {r.address} replicates it in {r.region}: set dr_region: {r.region}"
                for r in elsewhere
            ),
        )
        records = [
            r
            for r in state.of_type("aws_route53_record")
            if primary.endpoint
            and any(primary.endpoint in str(v) for v in r.attributes.get("records") or [])
        ]
        _one(
            "dns_record",
            records or state.of_type("aws_route53_record"),
            targets,
            unresolved,
            "no aws_route53_record",
        )
    else:  # both are found from the primary: say so, not "not in the state"
        for role in ("dr_replica", "dns_record"):
            if role not in targets:
                unresolved.setdefault(
                    role,
                    "found through primary_db, which is unresolved: resolve it first, or "
                    "name this role in targets:",
                )
    for role in ("backup_vault", "asg", "alb", "target_group"):
        cands = [r for t in ROLE_TYPES[role] for r in state.of_type(t)]
        if len(cands) > 1 and env.region:  # e.g. the vault and its cross-region copy
            cands = [r for r in cands if r.region in (None, env.region)]
        _one(role, cands, targets, unresolved, f"no {' / '.join(ROLE_TYPES[role])}")
