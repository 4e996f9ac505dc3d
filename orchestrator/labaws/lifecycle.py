"""``drill lab up --aws``: add the AWS API helper to a running lab (idempotent).

The helper is a lab component like the proxies (kind ``aws``), so ``lab up`` restarts
it when it died and ``lab down`` stops it. It has no AZ and no region: isolating an
AZ or the region stops lab processes, never the API that reports on them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from orchestrator.config import Settings
from orchestrator.errors import LabError
from orchestrator.labaws.env import COMPONENT, aws_block


def ensure(settings: Settings, log: Callable[[str], None]) -> dict[str, Any]:
    """Start the AWS API of the lab unless it runs; returns the status ``aws`` block."""
    from orchestrator import pgbin
    from orchestrator.providers.lab import helpers, procs
    from orchestrator.providers.lab.state import Component, lab_dir, locked

    root = lab_dir(settings.state_path())
    block = aws_block(root)
    if block is not None:
        damaged = state_problem(Path(block["terraform_state"])) or api_problem(
            block["endpoint_url"]
        )
        if damaged is None:
            return _public(block)
        log(
            f"lab: check: {damaged}; restarting {COMPONENT}, which seeds its resources "
            "and writes its Terraform state afresh"
        )
    t0 = time.monotonic()
    with locked(root) as st:
        c = st.components.get(COMPONENT)
        if c is None:
            c = Component(name=COMPONENT, kind="aws", role="aws_api", port=pgbin.free_port())
            st.components[COMPONENT] = c
        if procs.state(c.pid, c.start_ticks) != "dead":
            procs.terminate(c.pid, c.start_ticks, grace_s=2)
        helpers.start(st, root, c)
    helpers.wait(root, c, timeout=90)
    block = aws_block(root)
    if block is None:
        raise LabError(
            "the lab's AWS API did not come up", f"see {root / 'logs' / (COMPONENT + '.log')}"
        )
    log(
        f"lab: AWS API (moto) on {block['endpoint_url']} in {time.monotonic() - t0:.1f}s; "
        f"Terraform state {block['terraform_state']}; environment `lab-aws`"
    )
    return _public(block)


def state_problem(path: Path) -> str | None:
    """What is wrong with the AWS API's Terraform state file, or None. The API writes it
    once, when it seeds its resources: a state deleted or damaged afterwards (a cleanup
    of ``.drill``, a disk fault) left ``lab-aws`` unusable — every command on it said
    "cannot read Terraform state" — while ``lab up --aws`` said the lab was healthy."""
    import json

    try:
        doc = json.loads(path.read_text())
    except OSError as exc:
        return f"the Terraform state {path} cannot be read ({exc.strerror or exc})"
    except ValueError:
        return f"the Terraform state {path} is not JSON"
    if not isinstance(doc, dict) or doc.get("version") != 4 or not doc.get("resources"):
        return f"the Terraform state {path} is not the v4 state the lab writes"
    return None


def api_problem(url: str) -> str | None:
    """Which of the lab's two databases the AWS API no longer has, or None. A client may
    delete the cross-region replica (chaosaws's ``delete_db_instance``; RDS allows it);
    the lab's ``usw2`` runs on until a replica is created under its name, and ``lab up
    --aws`` said the lab was healthy while every region-promotion on lab-aws failed
    its precondition ("replica drill-lab-dr does not exist in us-west-2")."""
    from botocore.exceptions import BotoCoreError, ClientError

    from orchestrator.labaws import DR_REGION, PRIMARY_ID, REGION, REPLICA_ID
    from orchestrator.labaws.seed import client

    for region, ident in ((REGION, PRIMARY_ID), (DR_REGION, REPLICA_ID)):
        try:
            client(url, "rds", region).describe_db_instances(DBInstanceIdentifier=ident)
        except ClientError:
            return f"the AWS API has no {ident} in {region} (deleted through the API)"
        except BotoCoreError as exc:
            return f"the AWS API at {url} does not answer ({exc})"
    return None


def wait_ready(root: Any, c: Any, timeout: float) -> None:
    """Until the helper has seeded its resources and written the state (``aws/ready``)."""
    from orchestrator.providers.lab import procs

    deadline = time.monotonic() + timeout
    ready = root / "aws" / "ready"
    while time.monotonic() < deadline:
        if ready.exists() and ready.read_text().strip() == str(c.pid):
            return
        if procs.state(c.pid, c.start_ticks) == "dead":
            break
        time.sleep(0.05)
    raise LabError(
        f"the lab's AWS API did not start: {procs.reason(root / 'logs' / (c.name + '.log'))}"
    )


def _public(block: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in block.items() if not k.startswith("_")}


def status_block(root: Any) -> dict[str, Any] | None:
    block = aws_block(root)
    return _public(block) if block is not None else None
