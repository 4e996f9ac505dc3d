"""Clean up what a crashed run left behind (called from ``AwsProvider.prepare``).

Everything drill creates is tagged ``drill:created-by=drill``, ``drill:env`` and
``drill:run-id``. ``prepare`` runs while this process holds the environment's run
lock, so no other drill run on this environment is alive; a tagged resource whose run
is not ``running`` in the evidence store is a leftover: deny-all ACLs are unwound
(original associations put back, from their tags) and restored/cloned instances are
deleted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from orchestrator.providers.aws.context import TAG_CREATED_BY, TAG_ENV, TAG_RUN, AwsContext
from orchestrator.providers.aws.network import drill_acls, restore_acl
from orchestrator.providers.base import StepContext


def _running_runs(c: AwsContext) -> set[str]:
    from orchestrator.evidence.enums import RunStatus
    from orchestrator.evidence.witness import FILE
    from orchestrator.evidence.writer import EvidenceDB

    db = EvidenceDB.open(c.settings.database_url(), c.settings.state_path() / FILE)
    try:
        return {
            r[0]
            for r in db.query("SELECT id FROM run WHERE status = ?", (RunStatus.RUNNING.value,))
        }
    finally:
        db.close()


def _ours(tags: dict[str, str], env_name: str, alive: set[str]) -> bool:
    return (
        tags.get(TAG_CREATED_BY) == "drill"
        and tags.get(TAG_ENV) == env_name
        and tags.get(TAG_RUN) not in alive
    )


def sweep(
    c: AwsContext, log: Callable[[str], None], alive: set[str] | None = None
) -> dict[str, Any]:
    alive = _running_runs(c) if alive is None else alive
    done: dict[str, Any] = {"acls": [], "instances": []}
    for acl in drill_acls(c):
        tags = {t["Key"]: t["Value"] for t in acl.get("Tags", [])}
        if _ours(tags, c.env_name, alive):
            log(
                f"cleaning up {acl['NetworkAclId']} left by run {tags.get(TAG_RUN)}: "
                "restoring the original network ACLs"
            )
            restore_acl(c, acl)
            done["acls"].append(acl["NetworkAclId"])
    from orchestrator.providers.aws.rds import being_deleted, delete_tagged

    regions = {c.region, *([c.env.dr_region] if c.env.dr_region else [])}
    ctx = StepContext(run_id="sweep", scenario_id="sweep", mode="live", deadline_s=900)
    for region in sorted(regions):
        pages = c.rds(region).get_paginator("describe_db_instances").paginate()  # 100 a page
        for db in (db for page in pages for db in page["DBInstances"]):
            tags = {t["Key"]: t["Value"] for t in db.get("TagList", [])}
            if _ours(tags, c.env_name, alive):
                name = db["DBInstanceIdentifier"]
                if being_deleted(db):  # an earlier clean-up's deletion, still under way
                    continue
                log(f"deleting {name} ({region}) left by run {tags.get(TAG_RUN)}")
                delete_tagged(c, name, region, ctx, wait=False)
                done["instances"].append(name)
    return done
