"""Least-privilege IAM policy for a drill, generated from the action declarations.

Every action in ``orchestrator.actions`` declares the IAM actions its AWS
implementation calls; a drill's policy is the union over the actions its scenarios
use (steps, preconditions, verification, and the rollbacks they register), plus what
the environment itself needs (``s3:GetObject`` on the state object, the DB secret).
Nothing is written by hand, so the policy cannot drift from the code.
"""

from __future__ import annotations

import re
from typing import Any

from orchestrator.actions import ACTIONS, ActivityKind, rollback_of
from orchestrator.config import EnvironmentConfig
from orchestrator.definitions.kinds import RunMode
from orchestrator.engine.plan import RunPlan

IAM_ACTION = re.compile(r"^[a-z0-9-]+:[A-Za-z0-9]+$")

# what AwsProvider.prepare needs to find and undo a crashed run's leftovers (sweep.py)
CLEANUP = (
    "ec2:DescribeNetworkAcls",
    "ec2:ReplaceNetworkAclAssociation",
    "ec2:DeleteNetworkAcl",
    "rds:DescribeDBInstances",
    "rds:DeleteDBInstance",
    "autoscaling:UpdateAutoScalingGroup",
    "autoscaling:ResumeProcesses",
)

# chaosaws / orchestrator.chaos activities used by experiments → IAM actions
CHAOS_FUNCTIONS: dict[str, tuple[str, ...]] = {
    "chaosaws.rds.actions.reboot_db_instance": ("rds:RebootDBInstance",),
    "chaosaws.rds.actions.failover_db_cluster": ("rds:FailoverDBCluster",),
    "chaosaws.rds.probes.instance_status": ("rds:DescribeDBInstances",),
}


def actions_of(plan: RunPlan) -> set[str]:
    """Provider-neutral action names a plan may run, rollbacks included."""
    mode = plan.mode
    names: set[str] = set()
    for sc in plan.scenarios:
        if sc.runbook is not None:
            if RunMode(mode) is RunMode.ISOLATED and not sc.runbook.isolated_supported:
                continue  # a live-only scenario is skipped in isolated mode
            steps = [
                *sc.preconditions_for(RunMode(mode)),
                *sc.steps_for(RunMode(mode)),
                *sc.rollback_for(RunMode(mode)),
            ]
            for step in steps:
                if step.action:
                    names.add(step.action)
                    spec = ACTIONS.get(step.action)
                    if spec.kind is ActivityKind.ACTION and step.rollback:
                        rb = rollback_of(step.action, {})
                        if rb:
                            names.add(rb[0])
            names.update(v.action for v in sc.verification_for(RunMode(mode)))
        elif sc.experiment is not None:
            names.update(_chaos_actions(sc.experiment.document))
    return names


def _chaos_actions(doc: dict[str, Any]) -> set[str]:
    out: set[str] = set()
    acts = [
        *((doc.get("steady-state-hypothesis") or {}).get("probes") or []),
        *(doc.get("method") or []),
        *(doc.get("rollbacks") or []),
    ]
    for act in acts:
        prov = act.get("provider") or {} if isinstance(act, dict) else {}
        mod, func = prov.get("module", ""), prov.get("func", "")
        if mod.startswith("orchestrator.chaos."):
            from orchestrator.chaos import ACTION_OF

            name = ACTION_OF.get(f"{mod}.{func}")
            if name:
                out.add(name)
        elif f"{mod}.{func}" in CHAOS_FUNCTIONS:
            out.add(f"{mod}.{func}")
    return out


def permissions(names: set[str]) -> set[str]:
    perms: set[str] = set()
    for name in names:
        if name in CHAOS_FUNCTIONS:
            perms.update(CHAOS_FUNCTIONS[name])
            continue
        perms.update(p for p in ACTIONS.get(name).permissions.get("aws", ()) if IAM_ACTION.match(p))
    return perms


def policy(plan: RunPlan, env: EnvironmentConfig) -> dict[str, Any]:
    """An IAM policy document (version 2012-10-17), one statement per service."""
    perms = permissions(actions_of(plan))
    statements: list[dict[str, Any]] = []
    by_service: dict[str, list[str]] = {}
    for p in sorted(perms):
        by_service.setdefault(p.split(":", 1)[0], []).append(p)
    for service, acts in sorted(by_service.items()):
        statements.append(
            {
                "Sid": "Drill" + "".join(w.capitalize() for w in re.split(r"[^a-z0-9]", service)),
                "Effect": "Allow",
                "Action": acts,
                "Resource": "*",
            }
        )
    if plan.mutating and any(sc.runbook is not None for sc in plan.scenarios):
        statements.append(
            {
                "Sid": "DrillCleanupLeftovers",
                "Effect": "Allow",
                "Action": sorted(CLEANUP),
                "Resource": "*",
            }
        )
        # drill itself only deletes what carries its drill:created-by tag (rds.delete_tagged)
    state = env.terraform.state if env.terraform else ""
    if state.startswith("s3://"):
        statements.append(
            {
                "Sid": "DrillReadTerraformState",
                "Effect": "Allow",
                "Action": ["s3:GetObject"],
                "Resource": f"arn:aws:s3:::{state[len('s3://') :]}",
            }
        )
    if env.db_secret_arn:
        statements.append(
            {
                "Sid": "DrillReadDbSecret",
                "Effect": "Allow",
                "Action": ["secretsmanager:GetSecretValue"],
                "Resource": env.db_secret_arn,
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}
