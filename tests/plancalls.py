"""What a run's plan says it will change, in the order the engine runs it.

Shared by the tests that compare ``drill plan --json`` with the mutating calls an AWS
emulator recorded during ``drill run`` (moto's recorder, or the AWS-shaped lab's own
``calls.jsonl``).
"""

from __future__ import annotations

import re
from typing import Any

_RRSET = re.compile(r"^POST /2013-04-01/hostedzone/[^/]+/rrset/?$")


def _mutating(calls: list[dict[str, Any]]) -> list[str]:
    """AWS calls only: SQL through the probe DSN is not an API call."""
    return [
        c["operation"] for c in calls if c["mutating"] and not c["target"].startswith("postgres")
    ]


def planned_mutations(doc: dict[str, Any]) -> list[str]:
    """Preconditions, steps and verification in order; then the rollbacks as the engine
    plays them: each step's undo newest first, then the runbook's rollback steps."""
    out: list[str] = []
    for sc in doc["scenarios"]:
        steps = sc["steps"]
        for st in steps:
            if st["phase"] in ("precondition", "step", "verification"):
                out += _mutating(st.get("calls", []))
        undos = [st["rollback"] for st in steps if st["phase"] == "step" and st.get("rollback")]
        for rb in reversed(undos):
            out += _mutating(rb.get("calls", []))
        for st in steps:
            if st["phase"] == "rollback":
                out += _mutating(st.get("calls", []))
    return out


def operation_name(op: str) -> str:
    """A REST request line as the API operation it is (moto's recorder keeps the line)."""
    if _RRSET.match(op):
        return "ChangeResourceRecordSets"
    if op.rstrip("/") == "PUT /restore-jobs":
        return "StartRestoreJob"
    return op
