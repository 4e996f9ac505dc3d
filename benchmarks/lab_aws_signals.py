"""RTO from AWS's own signals (`probes: none`) against the probes', on the AWS-shaped lab.

One `drill lab up --aws`; two environments on it: `lab-aws` (probes through the lab's
endpoints) and `nonet` (the same endpoint and state, `probes: none`: RTO from RDS
events or the instance status). az-loss and rds-failover run alternately on both,
each a new CLI process. For every run: drill's RTO and its method, and the lab's own
account (ground-truth.jsonl: the fault → the standby promoted), which neither measure
reads. Before the AZ-loss fix, `nonet` reported az-loss at a few ms with no failover.

    .venv/bin/python benchmarks/lab_aws_signals.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lab_aws import aws_lab, drill, lab_env  # the same CLI runner and lab


def _ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _promoted_after(cwd: Path, fault: datetime) -> float | None:
    """Seconds from the fault to the lab's first promotion after it (its own log)."""
    lines = (cwd / ".drill" / "lab" / "ground-truth.jsonl").read_text().splitlines()
    for line in lines:
        ev = json.loads(line)
        if ev["event"] == "promotion_done" and _ts(ev["wall"]) > fault:
            return (_ts(ev["wall"]) - fault).total_seconds()
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    cwd = aws_lab("drill-signals-")
    lab_env(cwd, "nonet", probes="none")
    seen: dict[tuple[str, str], list[tuple[float, float]]] = {}
    try:
        for i in range(a.rounds):
            for scenario in ("az-loss", "rds-failover"):
                for name in ("lab-aws", "nonet"):
                    res = drill(cwd, "run", scenario, "--env", name, "--json")
                    doc = json.loads(res.stdout) if res.stdout.strip() else {}
                    sc = (doc.get("scenarios") or [{}])[0]
                    shown = json.loads(drill(cwd, "runs", "show", doc["run_id"], "--json").stdout)
                    methods = [m["method"] for m in shown["measurements"] if m["name"] == "rto"]
                    truth = _promoted_after(cwd, _ts(sc["fault_injected_at"]))
                    print(
                        f"{i + 1} {scenario:<13} {name:<8} exit {res.returncode} "
                        f"rto {sc.get('rto_s')} ({', '.join(methods)}) "
                        f"lab promoted after {truth} s (load {os.getloadavg()[0]:.2f})",
                        flush=True,
                    )
                    if res.returncode == 0 and truth is not None:
                        seen.setdefault((scenario, name), []).append((sc["rto_s"], truth))
    finally:
        drill(cwd, "lab", "down")
    for (scenario, name), pairs in sorted(seen.items()):
        rto = statistics.median(p[0] for p in pairs)
        truth = statistics.median(p[1] for p in pairs)
        print(f"{scenario:<13} {name:<8} RTO median {rto:5.2f} s, lab promoted {truth:5.2f} s")


if __name__ == "__main__":
    main()
