"""The bundled runbooks (not test copies) on an AWS environment with `probes: none`.

The runner has no network path to the database: SQL steps are skipped with the reason
recorded (never failed), preconditions use API probes, RTO comes from AWS's own
signals with that method said, and the fault calls are made. The calls the moto
server recorded are exactly the mutating calls `drill plan` listed.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.integration.aws.conftest import Stack, drill, env_block
from tests.plancalls import operation_name, planned_mutations

pytestmark = pytest.mark.aws

SKIPPED = "skipped: probes: none"


def _bundled_config(stack: Stack, env: dict[str, Any] | None = None) -> None:
    """drill.yaml without the test runbooks on its paths: ids resolve to the bundled ones."""
    empty = stack.dir / "no-local-defs"
    empty.mkdir(exist_ok=True)
    doc = {
        "environments": {"aws": env or env_block(stack.url)},
        "paths": {k: [str(empty)] for k in ("runbooks", "drills", "experiments")},
    }
    (stack.dir / "drill.yaml").write_text(json.dumps(doc))


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    capsys.readouterr()
    code = drill(*argv, "--json")
    out = capsys.readouterr()
    return code, json.loads(out.out) if out.out.strip() else {"stderr": out.err}


def _recorded_mutations(stack: Stack) -> list[str]:
    ops = [operation_name(r["operation"]) for r in stack.moto.requests()]
    return [op for op in ops if not op.startswith(("Describe", "List", "Get", "GET "))]


@pytest.mark.parametrize("runbook", ["rds-failover", "region-promotion"])
def test_bundled_runbook_with_probes_none(
    aws_stack: Stack, capsys: pytest.CaptureFixture[str], runbook: str
) -> None:
    _bundled_config(aws_stack)
    code, plan = _json(capsys, "plan", runbook, "--env", "aws")
    assert code == 0, plan
    sql_steps = [
        s
        for s in plan["scenarios"][0]["steps"]
        if s.get("action") in ("db.writable", "data.verify")
    ]
    assert sql_steps and all(s["skipped"].startswith(SKIPPED) for s in sql_steps)
    aws_stack.moto._post("/moto-api/recorder/reset-recording")
    code, doc = _json(capsys, "run", runbook, "--env", "aws", "--yes")
    assert code == 0, doc
    assert _recorded_mutations(aws_stack) == planned_mutations(plan)
    code, detail = _json(capsys, "runs", "show", doc["run_id"])
    skipped = [s for s in detail["steps"] if s["status"] == "skipped"]
    assert skipped and all(s["output"]["reason"].startswith(SKIPPED) for s in skipped)
    assert {s["action"] for s in skipped} <= {"db.writable", "data.verify"}
    assert not [s for s in detail["steps"] if s["status"] == "failed"]
    assert not [s for s in detail["steps"] if (s.get("output") or {}).get("unplanned_calls")]
    rto = [m for m in detail["measurements"] if m["name"] == "rto"]
    assert rto and rto[0]["method"] in ("rds-events", "rds-instance-status")
    assert detail["scenarios"][0]["rpo_s"] is None
    # "RPO is reported as null with the reason" (DESIGN 4): the reason is in the document
    notes = detail["scenario_notes"][runbook]
    assert notes["rpo"].startswith("not measured: probes: none")
    capsys.readouterr()
    assert drill("runs", "show", doc["run_id"]) == 0
    shown = " ".join(capsys.readouterr().out.split())
    assert "RPO not measured: probes: none" in shown
    assert "RTO from AWS's own signals (probes: none)" in shown
    assert "independent probes" not in shown


def test_az_loss_without_a_failover_is_not_a_recovery(
    aws_stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    """moto never fails RDS over when its AZ is cut, so RDS keeps the instance in the
    lost AZ, `available` as before it noticed anything: that is no recovery. (It was
    taken for one: an RTO of a few ms. The AWS-shaped lab, whose controller really
    fails over, is tested in tests/e2e/test_lab_aws_probes_none.py.) The bundled
    runbook with a short wait, so that the wait ends."""
    from orchestrator.definitions.catalog import bundled_root

    _bundled_config(aws_stack)
    text = (bundled_root() / "runbooks" / "az-loss.yaml").read_text()
    assert "    timeout: 10m\n" in text
    local = aws_stack.dir / "az-loss-short.yaml"
    local.write_text(text.replace("    timeout: 10m\n", "    timeout: 2s\n", 1))
    code, doc = _json(capsys, "run", str(local), "--env", "aws", "--yes")
    assert code == 1, doc
    assert doc["scenarios"][0]["status"] == "failed" and doc["scenarios"][0]["rto_s"] is None
    code, detail = _json(capsys, "runs", "show", doc["run_id"])
    (wait,) = [s for s in detail["steps"] if s["name"] == "wait until clients are served again"]
    assert wait["status"] == "failed"
    assert "outside the lost AZ us-east-1" in wait["error"], wait["error"]
    # the isolation was undone all the same
    assert [s["status"] for s in detail["steps"] if s["name"].startswith("undo lose")] == [
        "succeeded"
    ]


def test_no_probes_and_nothing_derivable_skips_sql_steps_like_probes_none(
    aws_stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    """An environment with no `probes:` whose state cannot give a probe DSN (the
    primary has no username in it) gives drill no network path either: its SQL steps
    are skipped with what is missing (they failed: 'needs a network path'). The
    derived http probe would be the emulator's ALB name: refused until it is gone."""
    env = env_block(aws_stack.url)
    del env["probes"]
    _bundled_config(aws_stack, env)
    capsys.readouterr()
    assert drill("plan", "rds-failover", "--env", "aws") == 2
    first = capsys.readouterr().err.splitlines()[0]
    assert "aws_lb.app" in first and "dns_name" in first and "loopback" in first, first
    path = aws_stack.dir / "terraform.tfstate"
    state = json.loads(path.read_text())
    state["resources"] = [r for r in state["resources"] if r["type"] != "aws_lb"]
    path.write_text(json.dumps(state))
    code, plan = _json(capsys, "plan", "rds-failover", "--env", "aws")
    assert code == 0, plan
    steps = plan["scenarios"][0]["steps"]
    sql = [s for s in steps if s.get("action") in ("db.writable", "data.verify")]
    assert sql and all(
        s["skipped"].startswith("skipped: no probes.db, and none can be derived: ")
        and "aws_db_instance.primary" in s["skipped"]
        and "has no username" in s["skipped"]
        for s in sql
    ), sql
    code, doc = _json(capsys, "run", "rds-failover", "--env", "aws", "--yes")
    assert code == 0, doc
    code, detail = _json(capsys, "runs", "show", doc["run_id"])
    assert not [s for s in detail["steps"] if s["status"] == "failed"], detail["steps"]
    skipped = [s for s in detail["steps"] if s["status"] == "skipped"]
    assert {s["action"] for s in skipped} == {s["action"] for s in sql}
    assert all("probes.db to a DSN" in s["output"]["reason"] for s in skipped)


def test_plan_text_marks_sql_steps_skipped(
    aws_stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    _bundled_config(aws_stack)
    capsys.readouterr()
    assert drill("plan", "rds-failover", "--env", "aws") == 0
    assert SKIPPED in capsys.readouterr().out


def test_bundled_backup_restore_with_probes_none(aws_stack: Stack) -> None:
    """AWS Backup is the one API moto lacks: its three calls go to a Stubber whose
    StartRestoreJob makes the new instance appear in moto, as AWS Backup does."""
    from datetime import UTC, datetime, timedelta

    from botocore.stub import ANY, Stubber

    from orchestrator.commands.planview import plan_document
    from orchestrator.config import load_settings
    from orchestrator.definitions.catalog import Catalog
    from orchestrator.engine.plan import build_plan
    from orchestrator.engine.results import run_document
    from orchestrator.engine.runner import RunEngine, RunOptions
    from orchestrator.evidence.writer import EvidenceDB
    from orchestrator.providers.aws.provider import AwsProvider

    _bundled_config(aws_stack)
    primary_arn = aws_stack.attrs("aws_db_instance.primary")["arn"]
    point = "arn:aws:backup:us-east-1:123456789012:recovery-point:nightly"
    backup = aws_stack.client("backup")
    stub = Stubber(backup)
    stub.add_response(
        "list_recovery_points_by_backup_vault",
        {
            "RecoveryPoints": [
                {
                    "RecoveryPointArn": point,
                    "CreationDate": datetime.now(UTC) - timedelta(hours=3),
                    "Status": "COMPLETED",
                    "ResourceArn": primary_arn,
                }
            ]
        },
        {"BackupVaultName": "prod-vault", "ByResourceArn": primary_arn},
    )
    stub.add_response(
        "get_recovery_point_restore_metadata",
        {"RestoreMetadata": {"DBInstanceIdentifier": "prod-db"}},
        {"BackupVaultName": "prod-vault", "RecoveryPointArn": point},
    )
    stub.add_response(
        "start_restore_job",
        {"RestoreJobId": "job-1"},
        {
            "RecoveryPointArn": point,
            "ResourceType": "RDS",
            "Metadata": {"DBInstanceIdentifier": ANY},
        },
    )
    stub.add_response(
        "describe_restore_job",
        {"RestoreJobId": "job-1", "Status": "COMPLETED"},
        {"RestoreJobId": "job-1"},
    )

    def aws_backup_effect(params: dict[str, Any], **_kw: Any) -> None:
        aws_stack.client("rds").restore_db_instance_from_db_snapshot(
            DBInstanceIdentifier=params["Metadata"]["DBInstanceIdentifier"],
            DBSnapshotIdentifier="prod-db-nightly",
        )

    backup.meta.events.register("provide-client-params.backup.StartRestoreJob", aws_backup_effect)
    stub.activate()
    settings = load_settings()
    name, cfg = settings.environment("aws")
    plan = build_plan(Catalog(settings), "backup-restore")
    planned = planned_mutations(plan_document(plan, AwsProvider(name, cfg, settings), name, cfg))
    assert "StartRestoreJob" in planned
    db = EvidenceDB.open(settings.database_url())
    aws_stack.moto._post("/moto-api/recorder/reset-recording")
    engine = RunEngine(
        settings,
        db,
        name,
        cfg,
        lambda: AwsProvider(name, cfg, settings, client_overrides={"backup@us-east-1": backup}),
    )
    outcome = engine.execute(plan, RunOptions(yes=True))
    doc = run_document(db, outcome.run_id, detail=True)
    assert doc["status"] == "succeeded", doc
    stub.assert_no_pending_responses()
    recorded = [
        op for op in _recorded_mutations(aws_stack) if op != "RestoreDBInstanceFromDBSnapshot"
    ]  # AWS Backup's own doing
    assert recorded == [op for op in planned if op != "StartRestoreJob"]  # the Stubber's
    steps = {s["name"]: s for s in doc["steps"]}
    drop = next(s for s in steps.values() if s["action"] == "data.drop_table")
    assert drop["status"] == "skipped" and drop["output"]["reason"].startswith(SKIPPED)
    restore = next(s for s in steps.values() if s["action"] == "db.restore")
    assert restore["status"] == "succeeded" and restore["output"]["method"] == "aws-backup"
    assert not [s for s in doc["steps"] if s["status"] == "failed"]
    rto = [m for m in doc["measurements"] if m["name"] == "rto"]
    assert rto and rto[0]["method"] in ("rds-events", "rds-instance-status")
    assert doc["scenarios"][0]["rpo_s"] is None
