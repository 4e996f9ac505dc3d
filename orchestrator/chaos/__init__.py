"""Chaos Toolkit extension: provider-neutral activities for experiments.

``orchestrator.chaos.db.failover(target="primary_db")`` reads the environment from
the experiment's ``configuration`` (``drill_env``, ``drill_config``; the run engine
sets them) and dispatches to that environment's provider — the lab or AWS — through
the same action registry runbooks use. It also provides what chaosaws lacks on AWS:
promote the cross-region replica and wait until writable, repoint the Route53 record,
restore into a new instance (AWS Backup / snapshot / point in time), AZ isolation.

Run outside drill (``chaos run``), a mutating activity on a ``protected`` environment
is refused unless the configuration says ``drill_yes: true``.
"""

from __future__ import annotations

# "module.func" → provider-neutral action (used by `drill iam-policy` for experiments)
ACTION_OF: dict[str, str] = {
    "orchestrator.chaos.db.failover": "db.failover",
    "orchestrator.chaos.db.reprotect": "db.reprotect",
    "orchestrator.chaos.db.promote_replica": "db.promote_replica",
    "orchestrator.chaos.db.rebuild_replica": "db.rebuild_replica",
    "orchestrator.chaos.db.restore": "db.restore",
    "orchestrator.chaos.db.delete_restored": "db.delete_restored",
    "orchestrator.chaos.dns.point": "dns.point",
    "orchestrator.chaos.az.isolate": "az.isolate",
    "orchestrator.chaos.az.restore": "az.restore",
    "orchestrator.chaos.probes.db_health": "db.health",
    "orchestrator.chaos.probes.multi_az": "db.multi_az",
    "orchestrator.chaos.probes.replication_lag": "db.replication_lag",
    "orchestrator.chaos.probes.app_health": "app.health",
}
