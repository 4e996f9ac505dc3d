"""`drill inventory --env ENV [--json]`: targets by role from Terraform state, and drift.

Exit status: 0 no drift in the roles resolved (the unresolved ones are listed, and not
checked) · 1 drift found (the environment no longer matches its state: drills would
measure the wrong thing) · 2 bad configuration.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from orchestrator.commands.common import esc, out_console, print_json, state


def inventory(
    ctx: typer.Context,
    env: Annotated[str | None, typer.Option("--env", "-e", help="an AWS environment")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON document")] = False,
    drift: Annotated[bool, typer.Option(help="compare the state with what AWS reports")] = True,
) -> None:
    """List targets by role (ids, ARNs, endpoints, AZs), say where the probes come from
    (`probes:` in drill.yaml, or derived from the primary_db / alb targets), and check
    the targets for drift."""
    from orchestrator.config import ProviderKind
    from orchestrator.errors import UsageError

    settings = state(ctx).settings()
    env_name, cfg = settings.environment(env)
    if cfg.provider is not ProviderKind.AWS:
        raise UsageError(
            f"environment {env_name!r} is a {cfg.provider.value} environment; "
            "`drill inventory` reads the Terraform state of an AWS environment",
            "`drill lab status` shows the lab's components",
        )
    doc = inventory_document(env_name, cfg, settings, drift)
    if as_json:
        print_json(doc)
    else:
        _render(doc)
    if doc["drift"]:
        raise typer.Exit(1)


def inventory_document(env_name: str, cfg: Any, settings: Any, drift: bool) -> dict[str, Any]:
    from botocore.exceptions import BotoCoreError, ClientError

    from orchestrator.errors import ProviderError
    from orchestrator.inventory.drift import check
    from orchestrator.inventory.loader import load_inventory
    from orchestrator.providers.aws.clients import ClientFactory

    clients = ClientFactory(cfg)
    try:
        inv = load_inventory(env_name, cfg, settings, clients)
        probes = _probe_sources(env_name, cfg, settings, clients, inv)
        drifts = check(inv, clients) if drift else []
        placed = _placed_now(inv, clients) if drift else {}
    except (BotoCoreError, ClientError) as exc:
        raise ProviderError(
            f"AWS call failed during the drift check: {exc}",
            "check credentials / endpoint_url, or use --no-drift",
        ) from None
    finally:
        clients.close()
    return {
        "env": env_name,
        "state": inv.state,
        "region": cfg.region,
        "dr_region": cfg.dr_region,
        "roles": {
            role: t.model_dump(exclude={"extra"}) | {"details": t.extra} | placed.get(role, {})
            for role, t in sorted(inv.targets.items())
        },
        "subnets": [s.model_dump() for s in inv.subnets],
        "unresolved": inv.unresolved,
        "probes": probes,
        "drift_checked": drift,
        "drift": [d.model_dump() for d in drifts],
    }


def _placed_now(inv: Any, clients: Any) -> dict[str, dict[str, Any]]:
    """Where RDS has each database instance now (``az_now``, ``secondary_az_now``): a
    Multi-AZ failover moves the primary to its standby's AZ and Terraform's state keeps
    the one it was created in — not drift, but what a drill acts on (az-loss cuts the
    AZ RDS reports when it runs)."""
    from botocore.exceptions import ClientError

    out: dict[str, dict[str, Any]] = {}
    for role, t in inv.targets.items():
        if t.type != "aws_db_instance" or not t.name:
            continue
        try:
            db = clients.client("rds", t.region).describe_db_instances(DBInstanceIdentifier=t.name)[
                "DBInstances"
            ][0]
        except ClientError:  # gone: the drift check says so
            continue
        out[role] = {
            "az_now": db.get("AvailabilityZone"),
            "secondary_az_now": db.get("SecondaryAvailabilityZone"),
        }
    return out


def _probe_sources(
    env_name: str, cfg: Any, settings: Any, clients: Any, inv: Any
) -> dict[str, str]:
    """Where `drill run` takes its probes from: ``probes:``, or derived from the state
    (redacted). A derived probe `drill run` would refuse is shown with the reason."""
    from orchestrator.errors import ConfigError
    from orchestrator.providers.aws.context import AwsContext
    from orchestrator.providers.aws.probedb import sources

    ctx = AwsContext(env_name, cfg, settings, clients, _inventory=inv)
    try:
        return sources(ctx)
    except ConfigError as exc:
        return {"refused": exc.message}


def _render(doc: dict[str, Any]) -> None:
    from rich.table import Table

    console = out_console()
    console.print(
        f"[bold]{doc['env']}[/] from {doc['state']} ({doc['region']}, "
        + (f"DR {doc['dr_region']})" if doc["dr_region"] else "no dr_region)")
    )
    table = Table("role", "address", "how", "id / name", "endpoint", "region", "az")
    for role, t in doc["roles"].items():
        table.add_row(
            role,
            t["address"],
            t["how"],
            t["name"] or t["id"] or "",
            t["endpoint"] or "",
            t["region"] or "",
            _az(t),
        )
    console.print(table)
    zones: dict[str, int] = {}
    for s in doc["subnets"]:
        zones[f"{s['az']} ({s['az_id']})"] = zones.get(f"{s['az']} ({s['az_id']})", 0) + 1
    console.print("subnets: " + ", ".join(f"{z}: {n}" for z, n in sorted(zones.items())))
    for kind, source in doc["probes"].items():
        console.print(f"probe {esc(kind)}: {esc(source)}")
    for role, why in doc["unresolved"].items():
        console.print(f"[yellow]unresolved[/] {esc(role)}: {esc(why)}")
    if not doc["drift_checked"]:
        console.print("[dim]drift not checked (--no-drift)[/]")
    elif doc["drift"]:
        console.print(f"[bold red]{len(doc['drift'])} drift(s):[/]")
        for d in doc["drift"]:
            console.print(
                f"  [red]{esc(d['kind'])}[/] {esc(d['role'])} ({esc(d['address'])}): "
                f"{esc(d['message'])}"
            )
    elif doc["unresolved"]:  # e.g. two primaries: neither was compared with AWS
        console.print(
            f"[green]no drift[/] in the {len(doc['roles'])} resolved role(s); not checked: "
            + ", ".join(f"{esc(r)} (unresolved)" for r in doc["unresolved"])
        )
    else:
        console.print("[green]no drift[/]: AWS matches the Terraform state")


def _az(t: dict[str, Any]) -> str:
    """The state's AZ, or where RDS has the instance now when that differs."""
    stated, now = t.get("az"), t.get("az_now")
    if now and stated and now != stated:
        return f"{now} now (state: {stated})"
    return str(now or stated or "")
