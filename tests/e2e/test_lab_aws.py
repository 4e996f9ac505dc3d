"""`drill lab up --aws`: moto on 127.0.0.1 whose resources are the real lab's components.

A plain boto3 script (no drill code) drives the lab through the API; drill's own
commands see the environment `lab-aws` and resolve every role from its Terraform state.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from tests.clihelp import run, subprocess_env
from tests.e2e.conftest import lab_status

pytestmark = [pytest.mark.lab, pytest.mark.aws, pytest.mark.slow]


def test_status_and_terraform_state(awslab: Path) -> None:
    aws = lab_status(awslab)["aws"]
    assert set(aws) == {"endpoint_url", "terraform_state", "region", "dr_region"}
    assert urlparse(aws["endpoint_url"]).hostname == "127.0.0.1"
    assert (aws["region"], aws["dr_region"]) == ("us-east-1", "us-west-2")
    state = json.loads(Path(aws["terraform_state"]).read_text())
    assert state["version"] == 4
    by_type: dict[str, list[dict[str, Any]]] = {}
    for res in state["resources"]:
        by_type.setdefault(res["type"], []).append(res)
    for needed in ("aws_route53_zone", "aws_route53_record", "aws_vpc", "aws_backup_vault"):
        assert needed in by_type, needed
    dbs = {r["name"]: r for r in by_type["aws_db_instance"]}
    primary = dbs["primary"]["instances"][0]["attributes"]
    replica = dbs["replica"]["instances"][0]["attributes"]
    assert primary["multi_az"] is True and ":us-east-1:" in primary["arn"]
    assert replica["replicate_source_db"] and ":us-west-2:" in replica["arn"]
    assert dbs["replica"]["provider"].endswith(".usw2")  # through a us-west-2 alias
    zones = [
        i["attributes"]["availability_zone"] for r in by_type["aws_subnet"] for i in r["instances"]
    ]
    assert len(zones) == 2 == len(set(zones))  # one subnet per lab AZ


def test_inventory_resolves_every_role(awslab: Path) -> None:
    res = run(awslab, "inventory", "--env", "lab-aws", "--json")
    assert res.code == 0, res.err
    doc = json.loads(res.out)
    assert {"primary_db", "dr_replica", "dns_record", "backup_vault", "alb", "target_group"} <= set(
        doc["roles"]
    )
    assert doc["drift_checked"] and doc["drift"] == []


def test_inventory_says_whether_the_state_holds_a_password(awslab: Path) -> None:
    """The lab's Terraform state names the master user but no password (libpq's
    `PGPASSWORD` / `~/.pgpass`, docs/probes-aws.md): `password_in_state` is false. It
    was `"***"` — the redaction masked the yes/no of a key naming a password, so the
    JSON said the same whether or not a password sat in the state."""
    res = run(awslab, "inventory", "--env", "lab-aws", "--json")
    assert res.code == 0, res.err
    roles = json.loads(res.out)["roles"]
    for role in ("primary_db", "dr_replica"):
        assert roles[role]["details"]["password_in_state"] is False, roles[role]


SCRIPT = """
import json, sys, time, boto3
url = sys.argv[1]
rds = boto3.client("rds", region_name="us-east-1", endpoint_url=url,
                   aws_access_key_id="x", aws_secret_access_key="x")
def db():
    return rds.describe_db_instances(DBInstanceIdentifier="drill-lab-db")["DBInstances"][0]
before = db()
answer = rds.reboot_db_instance(DBInstanceIdentifier="drill-lab-db", ForceFailover=True)
seen = [db()["DBInstanceStatus"]]
deadline = time.monotonic() + 120
while seen[-1] != "available" and time.monotonic() < deadline:
    time.sleep(0.2)
    seen.append(db()["DBInstanceStatus"])
after = db()
events = rds.describe_events(SourceIdentifier="drill-lab-db", SourceType="db-instance")
print(json.dumps({"before": before["AvailabilityZone"], "after": after["AvailabilityZone"],
                  "statuses": seen, "endpoint": after["Endpoint"],
                  "answered": answer["DBInstance"]["DBInstanceStatus"],
                  "events": [e["Message"] for e in events["Events"]]}))
"""


def test_plain_boto3_forced_failover_fails_the_lab_over(awslab: Path) -> None:
    first = lab_status(awslab)
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, first["aws"]["endpoint_url"]],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=awslab,
        env=subprocess_env(
            {"AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}
        ),
    )
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(proc.stdout)
    after = lab_status(awslab)
    assert after["primary"] != first["primary"]  # the lab really failed over
    assert seen["statuses"][0] == "rebooting" and seen["statuses"][-1] == "available"
    assert seen["answered"] == "rebooting"  # the call's own answer, as RDS gives it
    assert seen["after"] != seen["before"]  # RDS reports the other AZ
    assert seen["endpoint"]["Address"] == "127.0.0.1"
    db_port = int(after["endpoints"]["db"].split("port=")[1].split()[0])
    assert seen["endpoint"]["Port"] == db_port
    assert any("failover started" in m for m in seen["events"])
    assert any("failover completed" in m for m in seen["events"])


RESTORE = """
import json, sys, time, boto3, psycopg
url = sys.argv[1]
rds = boto3.client("rds", region_name="us-east-1", endpoint_url=url,
                   aws_access_key_id="x", aws_secret_access_key="x")
answer = rds.restore_db_instance_to_point_in_time(SourceDBInstanceIdentifier="drill-lab-db",
                                         TargetDBInstanceIdentifier="pitr-check",
                                         UseLatestRestorableTime=True)
def db():
    return rds.describe_db_instances(DBInstanceIdentifier="pitr-check")["DBInstances"][0]
seen = [db()["DBInstanceStatus"]]
deadline = time.monotonic() + 180
while seen[-1] != "available" and time.monotonic() < deadline:
    time.sleep(0.2)
    seen.append(db()["DBInstanceStatus"])
ep = db()["Endpoint"]
with psycopg.connect(host=ep["Address"], port=ep["Port"], dbname="app", user="drill") as c:
    rows = c.execute("SELECT count(*) FROM drill_dataset").fetchone()[0]
rds.delete_db_instance(DBInstanceIdentifier="pitr-check", SkipFinalSnapshot=True)
print(json.dumps({"statuses": seen, "endpoint": ep, "rows": rows,
                  "answered": answer["DBInstance"]["DBInstanceStatus"]}))
"""


def test_plain_boto3_point_in_time_restore_is_a_real_server(awslab: Path) -> None:
    """RestoreDBInstanceToPointInTime: a real PostgreSQL restored from the lab's vault,
    reachable at the endpoint the API reports; DeleteDBInstance removes it."""
    from tests.integration.lab.conftest import wait_until

    url = lab_status(awslab)["aws"]["endpoint_url"]
    proc = subprocess.run(
        [sys.executable, "-c", RESTORE, url],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=awslab,
        env=subprocess_env(
            {"AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}
        ),
    )
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(proc.stdout)
    assert seen["statuses"][0] == "creating" and seen["statuses"][-1] == "available"
    assert seen["answered"] == "creating"  # moto said `available` before the lab began
    assert seen["endpoint"]["Address"] == "127.0.0.1" and seen["rows"] > 0
    restored = [c for c in lab_status(awslab)["components"] if c["name"] == "pitr-check"]
    assert not restored or restored[0]["role"] == "restored"
    wait_until(
        lambda: not [c for c in lab_status(awslab)["components"] if c["name"] == "pitr-check"],
        60,
        "the restored server removed",
    )


def _ts(value: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def _run_matching_plan(cwd: Path, *mode: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run quarterly-dr on lab-aws; check that what the emulator saw each scenario change
    is exactly what `drill plan` listed for it. Returns (run document, its detail)."""
    from tests.plancalls import planned_mutations

    plan = run(cwd, "plan", "quarterly-dr", "--env", "lab-aws", *mode, "--json")
    assert plan.code == 0, plan.err
    plan_doc = json.loads(plan.out)
    res = run(cwd, "run", "quarterly-dr", "--env", "lab-aws", *mode, "--json", timeout=600)
    assert res.code == 0, res.err
    doc = json.loads(res.out)
    detail = json.loads(run(cwd, "runs", "show", doc["run_id"], "--json").out)
    assert not [s for s in detail["steps"] if s["status"] in ("failed", "skipped")]
    assert not [s for s in detail["steps"] if (s.get("output") or {}).get("unplanned_calls")]
    calls = [
        json.loads(line)
        for line in (cwd / ".drill" / "lab" / "aws" / "calls.jsonl").read_text().splitlines()
    ]
    for sc, sc_plan in zip(detail["scenarios"], plan_doc["scenarios"], strict=True):
        steps = [s for s in detail["steps"] if s["scenario"] == sc["id"]]
        if not steps:  # a live-only scenario in isolated mode
            assert sc_plan.get("skipped") and sc.get("skipped")
            continue
        start = min(_ts(s["started_at"]) for s in steps if s["started_at"])
        end = max(_ts(s["ended_at"]) for s in steps if s["ended_at"])
        made = [
            c["operation"]
            for c in calls
            if c["mutating"] and c["status"] < 300 and start <= c["at"] <= end
        ]
        assert made, f"{sc['id']} made no API call"
        assert made == planned_mutations({"scenarios": [sc_plan]}), sc["id"]
    return doc, detail


def test_quarterly_dr_through_the_aws_provider(awslab: Path) -> None:
    """4/4 met, measured by the same probes as on `--env lab`, plan == calls made."""
    doc, detail = _run_matching_plan(awslab)
    assert [s["met"] for s in doc["scenarios"]] == [True] * 4
    assert all(s["rto_s"] is not None and s["rpo_s"] is not None for s in doc["scenarios"])
    rto = [m for m in detail["measurements"] if m["name"] == "rto"]
    assert len(rto) == 4 and all(m["method"].startswith("probes") for m in rto)


def test_isolated_mode_promotes_and_restores_clones(awslab: Path) -> None:
    """Production is left alone; the clone and the restored instance are real servers,
    measured by probes, and gone afterwards."""
    from tests.integration.lab.conftest import wait_until

    before = lab_status(awslab)
    doc, _detail = _run_matching_plan(awslab, "--mode", "isolated")
    by_id = {s["id"]: s for s in doc["scenarios"]}
    assert by_id["az-loss"].get("skipped") and by_id["rds-failover"].get("skipped")
    for sc in ("region-promotion", "backup-restore"):
        assert by_id[sc]["met"] is True and by_id[sc]["rto_s"] is not None
    after = lab_status(awslab)
    assert after["primary"] == before["primary"]
    assert after["global_target"] == before["global_target"]
    wait_until(
        lambda: (
            not [c for c in lab_status(awslab)["components"] if c["role"] in ("clone", "restored")]
        ),
        60,
        "the clone and the restored instance to be removed",
    )


def test_chaos_run_of_a_chaosaws_experiment_fails_the_lab_over(awslab: Path) -> None:
    """Any AWS client works: Chaos Toolkit itself, chaosaws building its clients from
    boto3's defaults, pointed at the lab only by AWS_ENDPOINT_URL. (The steady state is
    checked before the method only, and the pause skipped: right after the reboot the
    instance is `rebooting`, as on RDS.)"""
    experiment = Path(__file__).resolve().parents[2] / "experiments"
    experiment = experiment / "rds-reboot-failover-chaosaws.yaml"
    chaos = Path(sys.executable).with_name("chaos")
    before = lab_status(awslab)
    env = subprocess_env(
        {
            "AWS_ENDPOINT_URL": before["aws"]["endpoint_url"],
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "x",
            "AWS_SECRET_ACCESS_KEY": "x",
            "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
            "DRILL_RDS_INSTANCE": "drill-lab-db",
        }
    )
    proc = subprocess.run(
        [
            str(chaos),
            "--no-version-check",  # it asks releases.chaostoolkit.org: loopback only
            "--no-log-file",
            "run",
            "--dry",
            "pause",
            "--hypothesis-strategy",
            "before-method-only",
            "--journal-path",
            str(awslab / "chaos-journal.json"),
            str(experiment),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=awslab,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout
    journal = json.loads((awslab / "chaos-journal.json").read_text())
    assert journal["status"] == "completed"
    from tests.integration.lab.conftest import wait_until

    wait_until(
        lambda: lab_status(awslab)["primary"] != before["primary"],
        60,
        "the lab to fail over after chaosaws' RebootDBInstance",
    )
