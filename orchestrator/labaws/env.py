"""The ``lab-aws`` environment and the ``aws`` block of ``drill lab status --json``.

Both only read the lab's state file: settings are loaded by every command, and this
must stay as cheap as reading drill.yaml.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.labaws import DR_REGION, REGION

if TYPE_CHECKING:
    from orchestrator.config import EnvironmentConfig, Settings

ENV_NAME = "lab-aws"
COMPONENT = "aws-api"


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[0] not in ("Z", "X")


def _state(root: Path) -> tuple[dict[str, Any], dict[str, Any] | None] | None:
    """The lab's state (a JSON object) and its AWS API's component, if any; None when
    there is no state or it is not an object of that shape (hand-edited, a disk fault:
    ``--env lab-aws`` ended "internal error: AttributeError" on a list)."""
    try:
        st = json.loads((root / "state.json").read_text())
    except (OSError, ValueError):
        return None
    comps = st.get("components") if isinstance(st, dict) else None
    if not isinstance(comps, dict):
        return None
    comp = comps.get(COMPONENT)
    return st, comp if isinstance(comp, dict) and comp else None


def state_file(settings: Settings) -> Path:
    """The Terraform state the AWS-shaped lab of this working directory writes."""
    return settings.state_path() / "lab" / "aws" / "terraform.tfstate"


def aws_block(root: Path) -> dict[str, Any] | None:
    """``{"endpoint_url", "terraform_state", "region", "dr_region"}`` or None."""
    found = _state(root)
    try:
        ready = (root / "aws" / "ready").read_text().strip()
    except (OSError, ValueError):
        return None
    st, comp = found if found is not None else ({}, None)
    if comp is None or not isinstance(comp.get("port"), int):
        return None
    if not _alive(comp.get("pid")) or ready != str(comp.get("pid")):
        return None
    return {
        "endpoint_url": f"http://{comp.get('host', '127.0.0.1')}:{comp['port']}",
        "terraform_state": str(root / "aws" / "terraform.tfstate"),
        "region": REGION,
        "dr_region": DR_REGION,
        "_lab": st,
    }


def why_absent(root: Path) -> str:
    """Why ``lab-aws`` does not exist in this working directory (``root``: its lab
    state): no lab, a lab started without ``--aws``, or a lab whose AWS API is gone."""
    found = _state(root)
    if found is None:
        if (root / "state.json").exists():
            return f"the lab's state file {root / 'state.json'} is damaged (`drill lab status`)"
        return f"no lab runs here ({root})"
    comp = found[1]
    if comp is None:
        return "the lab here was started without --aws"
    if not _alive(comp.get("pid")):
        return f"the lab runs, but its AWS API ({COMPONENT}, pid {comp.get('pid')}) does not"
    return f"the lab's AWS API ({COMPONENT}, pid {comp.get('pid')}) is not ready yet"


def environment(settings: Settings) -> EnvironmentConfig | None:
    """``lab-aws`` while the lab runs with ``--aws``: provider aws, the lab's endpoint
    and state, probes through the lab's own endpoints (as ``--env lab`` probes)."""
    from orchestrator.config import (
        EnvironmentConfig,
        ProbesConfig,
        ProviderKind,
        TerraformConfig,
    )

    block = aws_block(settings.state_path() / "lab")
    if block is None:
        return None
    from orchestrator.providers.lab.state import LabState

    ep = LabState.model_validate(block["_lab"]).endpoints()
    env = EnvironmentConfig(
        provider=ProviderKind.AWS,
        region=REGION,
        dr_region=DR_REGION,
        endpoint_url=block["endpoint_url"],
        terraform=TerraformConfig(state=block["terraform_state"]),
        probes=ProbesConfig(db=ep["db"], global_db=ep["global_db"], http=ep["app"], interval_s=0.1),
    )
    env._probes_from = PROBES_FROM  # no drill.yaml names them: say what they are
    return env


PROBES_FROM = {
    "db": f"the lab's database endpoint ({ENV_NAME} has no drill.yaml entry)",
    "global_db": f"the lab's global endpoint ({ENV_NAME} has no drill.yaml entry)",
    "http": f"the lab's load balancer ({ENV_NAME} has no drill.yaml entry)",
}
