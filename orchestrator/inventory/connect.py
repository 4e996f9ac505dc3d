"""What a probe needs to reach a target, as the Terraform state says (DESIGN 4: probe
defaults derived from the targets): a database's connection attributes, a load
balancer's listener. Read when roles are resolved (:mod:`.roles`), used by
:mod:`orchestrator.providers.aws.probedb`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orchestrator.inventory.roles import Target
    from orchestrator.inventory.state import TfState


def connection(a: dict[str, Any]) -> dict[str, Any]:
    """What a probe needs to connect to a database, as its state says (DESIGN 4: probe
    defaults derived from the targets): the ``endpoint`` (``host:port`` for an
    instance, the writer's host for a cluster), the master user, the database, and the
    Secrets Manager secret RDS manages the master password in."""
    secret = a.get("master_user_secret")
    first = secret[0] if isinstance(secret, list) and secret else {}
    return {
        "connect_endpoint": a.get("endpoint") or None,
        "username": a.get("username") or a.get("master_username") or None,
        "db_name": a.get("db_name") or a.get("database_name") or a.get("name") or None,
        "master_user_secret_arn": (first.get("secret_arn") if isinstance(first, dict) else None)
        or None,
        "password_in_state": bool(a.get("password") or a.get("master_password")),
    }


def listener(state: TfState, alb: Target) -> None:
    """The load balancer's HTTP(S) listener, for the http probe derived from it: the
    plain HTTP one first, then the lowest port."""
    found = [
        r.attributes
        for t in ("aws_lb_listener", "aws_alb_listener")
        for r in state.of_type(t)
        if alb.arn
        and r.attributes.get("load_balancer_arn") == alb.arn
        and str(r.attributes.get("protocol") or "").upper() in ("HTTP", "HTTPS")
        and str(r.attributes.get("port") or "").isdigit()
    ]
    if found:
        best = min(found, key=lambda a: (str(a["protocol"]).upper() != "HTTP", int(a["port"])))
        alb.extra["listener"] = {
            "protocol": str(best["protocol"]).upper(),
            "port": int(best["port"]),
        }
