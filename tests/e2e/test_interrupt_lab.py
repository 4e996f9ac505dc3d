"""Ctrl-C in the middle of a real failover on the lab: rollbacks run, evidence intact.

The primary is really killed; SIGINT arrives while drill waits for clients to be served
again. drill must exit 3, re-protect the pair (the failover's rollback), leave the
database serving writes, and keep an intact hash chain of what happened.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from tests.clihelp import run, spawn

pytestmark = [pytest.mark.lab, pytest.mark.slow]


def _fault_injected(cwd: Path) -> bool:
    """The failover step has been recorded as done in the evidence store."""
    from orchestrator.evidence.enums import StepStatus
    from orchestrator.evidence.writer import EvidenceDB

    db = EvidenceDB(f"sqlite:///{cwd}/.drill/evidence.db")
    try:
        return bool(
            db.query(
                "SELECT id FROM step_run WHERE action = ? AND status = ?",
                ("db.failover", StepStatus.SUCCEEDED.value),
            )
        )
    except Exception:  # the run has not created its tables yet
        return False
    finally:
        db.close()


def test_sigint_during_failover_rolls_back_and_keeps_evidence(labdir: Path) -> None:
    proc = spawn(labdir, "run", "rds-failover", "--json")
    deadline = time.monotonic() + 120
    while not _fault_injected(labdir):
        assert proc.poll() is None, proc.communicate()[1]
        assert time.monotonic() < deadline, "the failover step never completed"
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=300)
    if proc.returncode != 3:
        doc = json.loads(out)
        shown = run(labdir, "runs", "show", doc["run_id"], "--json").out
        failed = [s for s in json.loads(shown)["steps"] if s["status"] != "succeeded"]
        pytest.fail(f"exit {proc.returncode}: {json.dumps(failed, indent=1)}\n{err[-2000:]}")
    doc = json.loads(out)
    assert doc["status"] == "aborted" and "SIGINT" in doc["error"]

    shown = json.loads(run(labdir, "runs", "show", doc["run_id"], "--json").out)
    undo = [s for s in shown["steps"] if s["phase"] == "rollback"]
    assert [s["action"] for s in undo] == ["db.reprotect"]
    assert undo[0]["status"] == "succeeded"
    kinds = [e["kind"] for e in shown["timeline"]]
    assert "mark.fault_injected" in kinds and "run.end" in kinds
    # the RTO the probes never took reads "not measured" (it read "rto None s ±0.1s")
    assert [m["value"] for m in shown["measurements"] if m["name"] == "rto"] == [None]
    text = " ".join(run(labdir, "runs", "show", doc["run_id"]).out.split())
    assert "None s" not in text and "rto not measured" in text

    status = json.loads(run(labdir, "lab", "status", "--json").out)
    roles = {
        c["name"]: (c["role"], c["state"]) for c in status["components"] if c["kind"] == "postgres"
    }
    assert sorted(r for r, _ in roles.values()) == ["primary", "replica", "standby"]
    assert all(state == "up" for _, state in roles.values())

    import psycopg

    with psycopg.connect(status["endpoints"]["db"], connect_timeout=5, autocommit=True) as c:
        c.execute("CREATE TABLE IF NOT EXISTS after_interrupt (x int)")
        c.execute("INSERT INTO after_interrupt VALUES (1)")

    verify = run(labdir, "evidence", "verify")
    assert verify.code == 0, verify.err + verify.out
