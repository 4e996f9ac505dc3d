"""Benchmark: the one redaction (orchestrator/secrets.py) on what a run stores.

    .venv/bin/python benchmarks/redaction.py

Times, median of 7 after a warm-up, with the process environment as it is (its
secret-named variables are known values) plus a few remembered secrets:

* a step record: ``redact`` of a small dict of args/output (the engine writes a few
  dozen per run);
* a Chaos Toolkit journal of 1 MiB (an ``env`` probe's output repeated, a secrets block,
  DSNs) through ``redact_bytes``, as ``Recorder.artifact`` does;
* hostile text: 400 KB of ``a.a.a…`` and 1 MB without a newline after ``scheme://u:``
  (the patterns are bounded: linear time, no backtracking blow-up).

Prints the load average too: the machine is shared.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

from orchestrator.secrets import redact, redact_bytes, redact_text, remember_from


def _median_ms(fn: Callable[[], Any], n: int = 7) -> float:
    fn()
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def main() -> None:
    load = os.getloadavg()[0]
    remember_from(
        {
            "secrets": {"db": {"password": "BenchInlineSecret"}},
            "configuration": {"dsn": "postgresql://app:BenchDsnPw@127.0.0.1/x"},
        }
    )
    env_out = "".join(f"VAR_{i}=value-{i}\n" for i in range(60))
    env_out += "AWS_SECRET_ACCESS_KEY=abcdEFGH1234\nPGPASSWORD=BenchPgPw\n"
    step = {
        "args": {"target": "primary_db", "dsn": "postgresql://u:pw1234@127.0.0.1/x", "timeout": 30},
        "output": {"status": 0, "stdout": env_out[:400]},
    }
    run = {
        "activity": {"name": "dump-env", "provider": {"type": "process", "path": "env"}},
        "output": {"status": 0, "stdout": env_out, "stderr": ""},
        "status": "succeeded",
    }
    journal: dict[str, Any] = {
        "experiment": {"secrets": {"s": {"password": "x"}}, "configuration": step["args"]},
        "run": [],
    }
    while len(json.dumps(journal)) < 1 << 20:
        journal["run"].append(run)
    content = json.dumps(journal, indent=2).encode()
    rows = [
        ("step record (`redact` of args + output)", _median_ms(lambda: redact(step))),
        (
            f"journal artifact, {len(content) / 2**20:.2f} MiB (`redact_bytes`)",
            _median_ms(lambda: redact_bytes(content), 5),
        ),
        ("hostile: 400 KB of `a.a.a…`", _median_ms(lambda: redact_text("a." * 200_000), 3)),
        (
            "hostile: 1 MB line after `https://u:`",
            _median_ms(lambda: redact_text("https://u:" + "b" * 1_000_000), 3),
        ),
    ]
    for name, ms in rows:
        print(f"| {name} | {ms:.3f} ms |")
    print(f"(environment: {len(os.environ)} variables; load average {load:.2f} at start)")


if __name__ == "__main__":
    argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    ).parse_args()
    main()
