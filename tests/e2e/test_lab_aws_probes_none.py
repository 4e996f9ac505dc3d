"""An AZ loss on the AWS-shaped lab, seen only through the AWS API (`probes: none`).

DESIGN 4 and 12: with `probes: none` RTO comes from AWS's own signals. The network-ACL
swap cuts the primary's AZ; the lab's controller really fails over a moment later, as
RDS Multi-AZ does. Before, drill took the instance's `available` — which RDS reports
until it notices the loss — for the service restored: the scenario ended with an RTO of
a few milliseconds, undid the isolation before the controller noticed it, and the
database never failed over. Now drill waits until RDS has moved the instance off the
lost AZ, and the lab reports that failover with RDS's two events, as a forced one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.clihelp import run
from tests.e2e.conftest import running_lab

pytestmark = [pytest.mark.lab, pytest.mark.aws, pytest.mark.slow]


@pytest.fixture(scope="module")
def awslab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield from running_lab(tmp_path_factory, "--aws")


def _status(cwd: Path) -> dict[str, Any]:
    res = run(cwd, "lab", "status", "--json")
    assert res.code == 0, res.err
    doc: dict[str, Any] = json.loads(res.out)
    return doc


def _ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _promotions(cwd: Path) -> list[datetime]:
    lines = (cwd / ".drill" / "lab" / "ground-truth.jsonl").read_text().splitlines()
    events = [json.loads(line) for line in lines]
    return [_ts(e["wall"]) for e in events if e["event"] == "promotion_done"]


def test_az_loss_waits_for_rds_to_fail_over(awslab: Path) -> None:
    aws = _status(awslab)["aws"]
    env = {
        "provider": "aws",
        "region": aws["region"],
        "dr_region": aws["dr_region"],
        "endpoint_url": aws["endpoint_url"],
        "terraform": {"state": aws["terraform_state"]},
        "probes": "none",
    }
    (awslab / "drill.yaml").write_text(json.dumps({"environments": {"nonet": env}}))
    before = _status(awslab)["primary"]
    res = run(awslab, "run", "az-loss", "--env", "nonet", "--json", timeout=600)
    assert res.code == 0, res.err
    doc = json.loads(res.out)
    scenario = doc["scenarios"][0]
    assert scenario["rpo_s"] is None
    # the lab really failed over, and drill's RTO ends after the standby took over
    assert _status(awslab)["primary"] != before
    fault = _ts(scenario["fault_injected_at"])
    promoted = [t for t in _promotions(awslab) if t > fault]
    assert promoted, "the lab's controller never promoted the standby"
    assert _ts(scenario["service_restored_at"]) >= promoted[0]
    shown = json.loads(run(awslab, "runs", "show", doc["run_id"], "--json").out)
    (rto,) = [m for m in shown["measurements"] if m["name"] == "rto"]
    assert rto["method"] == "rds-events", rto
    kinds = [e["kind"] for e in rto["details"]["events"] if _ts(e["at"]) >= fault]
    assert kinds[-2:] == ["failover_started", "failover_completed"], rto["details"]
