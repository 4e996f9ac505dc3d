"""A chaosaws experiment run by drill on `lab-aws`, with no AWS credentials configured.

DESIGN 12: `lab-aws` exists without configuration, and any AWS client works against
its endpoint. drill's own provider signs with placeholder credentials when none are
configured (moto checks none); the clients chaosaws builds itself got the endpoint but
no credentials, so the bundled experiment failed with NoCredentialsError — while
`chaos run` with AWS_ENDPOINT_URL and any key succeeds.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from orchestrator.definitions.catalog import bundled_root
from tests.clihelp import run

pytestmark = [pytest.mark.lab, pytest.mark.aws, pytest.mark.slow]


def test_bundled_chaosaws_experiment_without_credentials(
    awslab: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in list(os.environ):
        if key.startswith("AWS_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(awslab / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(awslab / "no-config"))
    bundled = bundled_root() / "experiments" / "rds-reboot-failover-chaosaws.yaml"
    exp = awslab / "reboot.yaml"
    exp.write_text(bundled.read_text().replace("after: 60", "after: 0"))
    res = run(
        awslab,
        "run",
        str(exp),
        "--env",
        "lab-aws",
        "--var",
        "db_instance=drill-lab-db",
        "--json",
        timeout=300,
    )
    assert res.code in (0, 1), res.err  # whether RDS is `available` again at once is timing
    shown = json.loads(run(awslab, "runs", "show", json.loads(res.out)["run_id"], "--json").out)
    steps = [(s["name"], s["status"], s["error"]) for s in shown["steps"]]
    assert steps[:2] == [
        ("primary-instance-available", "succeeded", None),
        ("reboot-with-failover", "succeeded", None),
    ], steps
    assert "NoCredentialsError" not in json.dumps(shown)
    # the placeholder credentials are no secret that masks the lab's names in evidence
    assert shown["steps"][1]["output"]["DBInstance"]["DBInstanceIdentifier"] == "drill-lab-db"


def _multi_az_again(awslab: Path) -> None:
    import time

    import boto3

    rds = boto3.client(
        "rds",
        region_name="us-east-1",
        endpoint_url=json.loads(run(awslab, "lab", "status", "--json").out)["aws"]["endpoint_url"],
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )
    deadline = time.monotonic() + 180
    while True:
        db = rds.describe_db_instances(DBInstanceIdentifier="drill-lab-db")["DBInstances"][0]
        if db["MultiAZ"] and db["DBInstanceStatus"] == "available":
            return
        assert time.monotonic() < deadline, db["DBInstanceStatus"]
        time.sleep(0.2)


def _failover_evidence(awslab: Path, tmp: Path, run_id: str) -> dict[str, list[str]]:
    """``failover_tested`` of SOC 2 CC7.5, ISO A.5.29/A.8.14 and NIST CP-10 in the run's
    export bundle: control → the evidence references."""
    import zipfile

    bundle = tmp / f"{run_id}.zip"
    res = run(awslab, "evidence", "export", "--run", run_id, "--out", str(bundle), timeout=300)
    assert res.code == 0, res.err
    with zipfile.ZipFile(bundle) as zf:
        controls = {
            f"{r['framework']}:{r['control_id']}": r
            for name in zf.namelist()
            if name.startswith("controls/")
            for r in json.loads(zf.read(name))["results"]
        }
    keys = ("soc2:CC7.5", "iso27001:A.5.29", "iso27001:A.8.14", "nist:CP-10")
    return {k: [r["ref"] for r in controls[k]["evidence"].get("failover_tested", [])] for k in keys}


@pytest.mark.parametrize(
    ("force", "options", "counts"),
    [
        ("true", [], True),  # RebootDBInstance with ForceFailover: the lab failed over
        ("false", [], False),  # a reboot in place: no failover
        ("true", ["--dry", "actions"], False),  # nothing ran
    ],
)
def test_a_chaosaws_forced_failover_is_failover_evidence(
    awslab: Path, tmp_path: Path, force: str, options: list[str], counts: bool
) -> None:
    """The step `chaosaws.rds.actions.reboot_db_instance` counted for no control: the
    mapping could not see its `force_failover`. It counts when, and only when, the
    reboot forced a failover: not without it, not in a dry run (which chaoslib journals
    `succeeded` with nothing executed: drill records it `skipped`)."""
    bundled = bundled_root() / "experiments" / "rds-reboot-failover-chaosaws.yaml"
    exp = awslab / f"reboot-{force}.yaml"
    text = bundled.read_text().replace("after: 60", "after: 0")
    exp.write_text(text.replace("force_failover: true", f"force_failover: {force}"))
    _multi_az_again(awslab)  # after an earlier test's failover: a standby to fail over to
    primary = json.loads(run(awslab, "lab", "status", "--json").out)["primary"]
    argv = ["run", str(exp), "--env", "lab-aws", "--var", "db_instance=drill-lab-db", *options]
    res = run(awslab, *argv, "--json", timeout=300)
    assert res.code in (0, 1), res.err  # (RDS `available` again at once or not: timing)
    run_id = json.loads(res.out)["run_id"]
    shown = json.loads(run(awslab, "runs", "show", run_id, "--json").out)
    step = next(s for s in shown["steps"] if s["name"] == "reboot-with-failover")
    assert step["status"] == ("skipped" if options else "succeeded"), step
    _multi_az_again(awslab)  # the reboot's work done (the run may end before it is)
    failed_over = json.loads(run(awslab, "lab", "status", "--json").out)["primary"] != primary
    assert failed_over is counts  # what the lab really did
    refs = [f"run:{run_id}/scenario:{step['scenario']}"] if counts else []
    assert _failover_evidence(awslab, tmp_path, run_id) == dict.fromkeys(
        ("soc2:CC7.5", "iso27001:A.5.29", "iso27001:A.8.14", "nist:CP-10"), refs
    )
