"""Wall time of `drill inventory` and of the four AWS scenarios against the moto server.

What it measures is drill's own overhead on AWS (state read, role resolution, client
set-up, polling, evidence) — the emulator answers in milliseconds, real RDS takes
minutes, so these are floors, not RTOs. Each measurement runs `drill` as a subprocess
(cold start included) against a freshly built reference stack; median of N.

    .venv/bin/python benchmarks/aws_emulator.py [N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.integration.aws import stack  # noqa: E402
from tests.integration.aws.conftest import env_block, write_config  # noqa: E402
from tests.integration.aws.moto_server import MotoServer  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("n", nargs="?", type=int, default=3, help="median of N (default 3)")
    n = ap.parse_args().n
    if n < 1:
        ap.error("N must be at least 1")
    work = Path(tempfile.mkdtemp(prefix="drill-bench-aws-"))
    env = dict(
        os.environ,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_DEFAULT_REGION="us-east-1",
    )
    os.environ.update({k: v for k, v in env.items() if k.startswith("AWS_")})
    moto = MotoServer(work).start()
    env["AWS_ENDPOINT_URL"] = moto.url
    drill = [str(REPO / ".venv" / "bin" / "drill")]
    rows = []
    try:
        cases = [("inventory (+ drift check)", ["inventory", "--env", "aws", "--json"])]
        cases += [
            (f"run {rb}", ["run", rb, "--env", "aws", "--yes", "--json"])
            for rb in ("rds-failover", "region-promotion", "backup-restore", "az-loss")
        ]
        for label, argv in cases:
            times, calls = [], 0
            for _ in range(n):
                moto.reset()
                state = stack.build(moto.url)
                stack.put_replica_lag(moto.url, 2.0)
                (work / "terraform.tfstate").write_text(json.dumps(state))
                write_config(work, moto.url, aws=env_block(moto.url))
                moto._post("/moto-api/recorder/reset-recording")
                t0 = time.perf_counter()
                proc = subprocess.run(drill + argv, cwd=work, env=env, capture_output=True)
                times.append(time.perf_counter() - t0)
                if proc.returncode != 0:
                    raise SystemExit(f"{label} failed: {proc.stderr.decode()[-2000:]}")
                calls = len(moto.requests())
            rows.append((label, statistics.median(times), min(times), calls))
    finally:
        moto.stop()
    print(f"| measurement | median | min | AWS requests |  (N={n})")
    print("| --- | --- | --- | --- |")
    for label, med, low, calls in rows:
        print(f"| `drill {label}` | {med:.2f} s | {low:.2f} s | {calls} |")


if __name__ == "__main__":
    main()
