"""What the emulator lacks, through botocore's Stubber (responses validated against the
service model): AWS Backup restore jobs and RDS failover events. FIS runs on moto.

Everything else in these tests is the moto server: AWS Backup's *effect* (a new
instance appears) is produced by a real RDS restore in the emulator, triggered when
the stubbed ``StartRestoreJob`` is called.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import ANY, Stubber

from tests.integration.aws.conftest import Stack, drill, env_block, write_config

pytestmark = pytest.mark.aws


def _provider(stack: Stack, env: str = "aws", **overrides: Any) -> Any:
    from orchestrator.config import load_settings
    from orchestrator.providers.aws.provider import AwsProvider

    settings = load_settings()
    name, cfg = settings.environment(env)
    return AwsProvider(name, cfg, settings, client_overrides=overrides)


def _stubbed(stack: Stack, service: str, region: str = "us-east-1") -> tuple[Any, Stubber]:
    client = stack.client(service, region)
    return client, Stubber(client)


def kept_metadata(stub: Stubber, vault: str, point: str, **kept: str) -> None:
    """GetRecoveryPointRestoreMetadata: the source's settings AWS Backup kept."""
    stub.add_response(
        "get_recovery_point_restore_metadata",
        {"RestoreMetadata": {"DBInstanceIdentifier": "prod-db", **kept}},
        {"BackupVaultName": vault, "RecoveryPointArn": point},
    )


def _restore_from_vault(
    stack: Stack,
    backup: Any,
    stub: Stubber,
    *,
    job: str,
    point: str,
    metadata: dict[str, Any],
    run_id: str,
    now: datetime,
    rds: Any = None,
    iam_role: str | None = None,
    started: list[str] | None = None,
) -> tuple[Any, Any, dict[str, Any]]:
    """``db.restore`` from the vault, after the stubbed responses the test added: AWS
    Backup's StartRestoreJob for ``point`` (with ``metadata``) and a completed job, whose
    effect — a new instance, as AWS Backup makes for an RDS point — is made on the
    emulator (its name appended to ``started``). Returns the provider, the step's context
    (for the rollback) and the step's output."""
    from orchestrator.providers.base import StepContext

    params = {"RecoveryPointArn": point, "Metadata": metadata, "ResourceType": "RDS"}
    stub.add_response(
        "start_restore_job",
        {"RestoreJobId": job},
        {**params, "IamRoleArn": iam_role} if iam_role else params,
    )
    stub.add_response(
        "describe_restore_job",
        {"RestoreJobId": job, "Status": "COMPLETED", "CreatedResourceArn": "arn:aws:rds:x"},
        {"RestoreJobId": job},
    )

    def aws_backup_effect(params: dict[str, Any], **_kw: Any) -> None:
        name = params["Metadata"]["DBInstanceIdentifier"]
        if started is not None:
            started.append(name)
        stack.client("rds").restore_db_instance_from_db_snapshot(
            DBInstanceIdentifier=name, DBSnapshotIdentifier="prod-db-nightly"
        )

    backup.meta.events.register("provide-client-params.backup.StartRestoreJob", aws_backup_effect)
    stub.activate()
    overrides = {"backup@us-east-1": backup, **({"rds@us-east-1": rds} if rds else {})}
    provider = _provider(stack, **overrides)
    ctx = StepContext(
        run_id=run_id,
        scenario_id="backup-restore",
        mode="live",
        deadline_s=60,
        marks={"fault_injected": now},
    )
    out = provider.execute(
        "db.restore", {"source": "backup_vault", "point_in_time": "disaster"}, ctx
    )
    stub.assert_no_pending_responses()
    return provider, ctx, out


def test_backup_vault_restore_newest_point_before_the_disaster(aws_stack: Stack) -> None:

    primary_arn = aws_stack.attrs("aws_db_instance.primary")["arn"]
    vault = "prod-vault"
    now = datetime.now(UTC)
    role = "arn:aws:iam::123456789012:role/backup"
    rp = "arn:aws:backup:us-east-1:123456789012:recovery-point:"
    backup, stub = _stubbed(aws_stack, "backup")
    stub.add_response(
        "list_recovery_points_by_backup_vault",
        {
            "RecoveryPoints": [
                {
                    "RecoveryPointArn": rp + "old",
                    "CreationDate": now - timedelta(days=1),
                    "Status": "COMPLETED",
                    "IamRoleArn": role,
                    "ResourceArn": primary_arn,
                },
                {
                    "RecoveryPointArn": rp + "newest-before",
                    "CreationDate": now - timedelta(hours=1),
                    "Status": "COMPLETED",
                    "IamRoleArn": role,
                    "ResourceArn": primary_arn,
                },
                {
                    "RecoveryPointArn": rp + "after-disaster",
                    "CreationDate": now + timedelta(minutes=5),
                    "Status": "COMPLETED",
                    "IamRoleArn": role,
                    "ResourceArn": primary_arn,
                },
                {
                    "RecoveryPointArn": rp + "partial",
                    "CreationDate": now - timedelta(minutes=30),
                    "Status": "PARTIAL",
                    "IamRoleArn": role,
                    "ResourceArn": primary_arn,
                },
            ]
        },
        {"BackupVaultName": vault, "ByResourceArn": primary_arn},
    )
    kept_metadata(stub, vault, rp + "newest-before")
    created: list[str] = []
    provider, ctx, out = _restore_from_vault(
        aws_stack,
        backup,
        stub,
        job="job-1",
        point=rp + "newest-before",
        metadata={"DBInstanceIdentifier": ANY},
        run_id="r-vault-test",
        now=now,
        iam_role=role,
        started=created,
    )
    assert out["method"] == "aws-backup"
    assert out["recovery_point"] == rp + "newest-before"
    assert out["new_instance"] == created[0] and out["validation"]["tagged"] is True
    rds = aws_stack.client("rds")
    db = rds.describe_db_instances(DBInstanceIdentifier=created[0])["DBInstances"][0]
    tags = {t["Key"]: t["Value"] for t in db["TagList"]}
    assert tags["drill:run-id"] == "r-vault-test" and tags["drill:created-by"] == "drill"
    # the rollback (db.delete_restored with the rollback args) deletes it
    provider.execute("db.delete_restored", out["rollback_args"], ctx)
    names = [d["DBInstanceIdentifier"] for d in rds.describe_db_instances()["DBInstances"]]
    assert created[0] not in names
    provider.close()


def test_backup_vault_restore_prefers_the_continuous_point_to_just_before_the_disaster(
    aws_stack: Stack,
) -> None:
    """A backup plan with continuous backups gives the vault a continuous recovery point
    (ARN `…:recovery-point:continuous:…`): the restore goes to one second before the
    disaster (`RestoreTime`), not to the newest snapshot an hour before it."""

    primary_arn = aws_stack.attrs("aws_db_instance.primary")["arn"]
    now = datetime.now(UTC)
    rp = "arn:aws:backup:us-east-1:123456789012:recovery-point:"
    backup, stub = _stubbed(aws_stack, "backup")
    stub.add_response(
        "list_recovery_points_by_backup_vault",
        {
            "RecoveryPoints": [
                {
                    "RecoveryPointArn": rp + "continuous:db-prod-1a2b",
                    "CreationDate": now - timedelta(days=3),
                    "Status": "COMPLETED",
                    "ResourceArn": primary_arn,
                },
                {
                    "RecoveryPointArn": rp + "snapshot-hourly",
                    "CreationDate": now - timedelta(hours=1),
                    "Status": "COMPLETED",
                    "ResourceArn": primary_arn,
                },
            ]
        },
        {"BackupVaultName": "prod-vault", "ByResourceArn": primary_arn},
    )
    to = (now - timedelta(seconds=1)).isoformat().replace("+00:00", "Z")
    kept_metadata(stub, "prod-vault", rp + "continuous:db-prod-1a2b")
    seen: list[str] = []

    def rds_lags(parsed: dict[str, Any], **_kw: Any) -> None:
        # RDS ships transaction logs every ~5 min: right after the disaster the primary's
        # LatestRestorableTime is behind it (moto says "now"); twice, then caught up
        for db in parsed.get("DBInstances", []):
            if db["DBInstanceIdentifier"] == "prod-db":
                behind = seen.count("behind") < 2
                seen.append("behind" if behind else "caught up")
                db["LatestRestorableTime"] = now - timedelta(minutes=4 if behind else -1)

    rds = aws_stack.client("rds")
    rds.meta.events.register("after-call.rds.DescribeDBInstances", rds_lags)
    provider, ctx, out = _restore_from_vault(
        aws_stack,
        backup,
        stub,
        job="job-2",
        point=rp + "continuous:db-prod-1a2b",
        metadata={"DBInstanceIdentifier": ANY, "RestoreTime": to},
        run_id="r-pitr-test",
        now=now,
        rds=rds,
        started=seen,
    )
    assert out["continuous"] is True and out["recovery_point"] == rp + "continuous:db-prod-1a2b"
    # the job was started once RDS could restore to that time, not before (AWS refuses it)
    assert seen[:3] == ["behind", "behind", "caught up"] and seen[3] == out["new_instance"], seen
    assert out["restored_to"] == (now - timedelta(seconds=1)).isoformat()
    provider.execute("db.delete_restored", out["rollback_args"], ctx)
    provider.close()


def _deleting(name: str, run: str) -> dict[str, Any]:
    """An instance of drill's RDS is deleting (minutes on AWS; moto drops it at once)."""
    tags = {"drill:created-by": "drill", "drill:run-id": run, "drill:env": "aws"}
    return {
        "DBInstances": [
            {
                "DBInstanceIdentifier": name,
                "DBInstanceStatus": "deleting",
                "TagList": [{"Key": k, "Value": v} for k, v in tags.items()],
            }
        ]
    }


def test_a_replayed_rollback_waits_for_the_deletion_rds_already_does(aws_stack: Stack) -> None:
    """drill died while it waited for the restored instance to go; recovery replays
    db.delete_restored while RDS still says `deleting`. It called DeleteDBInstance again,
    which RDS refuses (InvalidDBInstanceState: already being deleted), and the run ended
    rollback_failed with a critical finding. It now waits for the deletion under way."""
    from orchestrator.providers.base import StepContext

    name = "drill-r-crashed-restore"
    rds, stub = _stubbed(aws_stack, "rds")
    stub.add_response("describe_db_instances", _deleting(name, "r-crashed"))
    stub.add_client_error(
        "describe_db_instances", "DBInstanceNotFound", f"DBInstance {name} not found."
    )
    stub.activate()
    provider = _provider(aws_stack, **{"rds@us-east-1": rds})
    ctx = StepContext(run_id="r-crashed", scenario_id="backup-restore", mode="live", deadline_s=60)
    out = provider.execute("db.delete_restored", {"new_instance": name}, ctx)
    stub.assert_no_pending_responses()  # no DeleteDBInstance: the Stubber has none to give
    assert out == {"deleted": name, "noop": False}
    provider.close()


def test_the_next_runs_clean_up_leaves_a_deletion_under_way_alone(aws_stack: Stack) -> None:
    """The clean-up at a run's start deletes a crashed run's instances without waiting;
    a run started within the minutes RDS takes found them again, `deleting`, asked to
    delete them once more and failed before its first step."""
    rds, stub = _stubbed(aws_stack, "rds")
    stub.add_response("describe_db_instances", _deleting("drill-r-old-restore", "r-old"))
    west, west_stub = _stubbed(aws_stack, "rds", "us-west-2")
    west_stub.add_response("describe_db_instances", {"DBInstances": []})
    stub.activate()
    west_stub.activate()
    provider = _provider(aws_stack, **{"rds@us-east-1": rds, "rds@us-west-2": west})
    said: list[str] = []
    provider.prepare(said.append)
    stub.assert_no_pending_responses()
    assert not [line for line in said if "drill-r-old-restore" in line], said
    provider.close()


def _events_client(stack: Stack, fault: datetime) -> Any:
    rds, stub = _stubbed(stack, "rds")
    stub.add_response(
        "describe_events",
        {
            "Events": [
                {  # within the minute looked back, before this fault: not this scenario's
                    "SourceIdentifier": "prod-db",
                    "SourceType": "db-instance",
                    "Message": "Multi-AZ instance failover completed.",
                    "EventCategories": ["failover"],
                    "Date": fault - timedelta(seconds=30),
                    "SourceArn": "arn:aws:rds:us-east-1:1:db:prod-db",
                },
                {
                    "SourceIdentifier": "prod-db",
                    "SourceType": "db-instance",
                    "Message": "Multi-AZ instance failover started.",
                    "EventCategories": ["failover"],
                    "Date": fault + timedelta(seconds=2),
                    "SourceArn": "arn:aws:rds:us-east-1:1:db:prod-db",
                },
                {
                    "SourceIdentifier": "prod-db",
                    "SourceType": "db-instance",
                    "Message": "Multi-AZ instance failover completed.",
                    "EventCategories": ["failover"],
                    "Date": fault + timedelta(seconds=47),
                    "SourceArn": "arn:aws:rds:us-east-1:1:db:prod-db",
                },
            ]
        },
        {"SourceIdentifier": "prod-db", "SourceType": "db-instance", "StartTime": ANY},
    )
    stub.activate()
    return rds


def _engine_run(stack: Stack, env: str, rds_events: Any) -> dict[str, Any]:
    """The real engine and provider; only DescribeEvents comes from the Stubber."""
    from orchestrator.config import load_settings
    from orchestrator.definitions.catalog import Catalog
    from orchestrator.engine.plan import build_plan
    from orchestrator.engine.results import run_document
    from orchestrator.engine.runner import RunEngine, RunOptions
    from orchestrator.evidence.writer import EvidenceDB

    settings = load_settings()
    name, cfg = settings.environment(env)
    db = EvidenceDB.open(settings.database_url())
    engine = RunEngine(
        settings,
        db,
        name,
        cfg,
        lambda: _provider(stack, env, **{"rds-events@us-east-1": rds_events}),
    )
    outcome = engine.execute(build_plan(Catalog(settings), "rds-failover"), RunOptions(yes=True))
    return run_document(db, outcome.run_id, detail=True)


def test_probes_none_rto_from_rds_events(aws_stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    from orchestrator.engine import runner

    fault = datetime.now(UTC).replace(microsecond=0)
    real_mark = runner.RunEngine._mark

    def fixed_mark(
        self: Any, row: Any, ctx: Any, observer: Any, name: str, step: Any, at: Any = None
    ) -> None:  # pin the fault time the events refer to
        real_mark(self, row, ctx, observer, name, step, fault if name == "fault_injected" else at)

    monkeypatch.setattr(runner.RunEngine, "_mark", fixed_mark)
    doc = _engine_run(aws_stack, "aws", _events_client(aws_stack, fault))
    rto = [m for m in doc["measurements"] if m["name"] == "rto"]
    assert len(rto) == 1 and rto[0]["method"] == "rds-events"
    assert rto[0]["value"] == 47.0
    assert rto[0]["details"]["failover_duration_s"] == 45.0
    # not sampled: no interval; RDS stamped whole seconds, so ± 1 s (DESIGN 7)
    assert (rto[0]["interval_s"], rto[0]["error_bound_s"]) == (None, 1.0)
    assert [e["kind"] for e in rto[0]["details"]["events"]] == [
        "failover_started",
        "failover_completed",
    ]
    assert rto[0]["details"]["earlier_events_ignored"] == 1
    sc = doc["scenarios"][0]
    assert sc["rto_s"] == 47.0 and sc["rpo_s"] is None


@pytest.mark.postgres
def test_loopback_probes_with_rds_events_cross_check(aws_stack: Stack, pg_dsn: str) -> None:
    """Probes through a loopback PostgreSQL (standing in for a tunnel to RDS) measure;
    RDS events are recorded beside them with the difference."""
    libpq = pg_dsn.replace("postgresql+psycopg://", "postgresql://")
    sm = aws_stack.client("secretsmanager")
    secret = sm.describe_secret(SecretId="prod/db/app")["ARN"]
    write_config(
        aws_stack.dir,
        aws_stack.url,
        probed=env_block(
            aws_stack.url, probes={"db": libpq, "interval_s": 0.2}, db_secret_arn=secret
        ),
    )
    fault = datetime.now(UTC)
    doc = _engine_run(aws_stack, "probed", _events_client(aws_stack, fault))
    by_name = {m["name"]: m for m in doc["measurements"]}
    assert by_name["rto"]["method"] != "rds-events"  # the probes measured it
    cross = by_name["rto_rds_events"]
    assert cross["method"] == "rds-events"
    assert cross["error_bound_s"] == 0.001  # events stamped to the millisecond here
    assert cross["details"]["difference_s"] == pytest.approx(
        cross["value"] - doc["scenarios"][0]["rto_s"]
    )
    # the password came from Secrets Manager into the probes' DSN, and nowhere else
    from tests.integration.aws.stack import DB_PASSWORD

    evidence = (aws_stack.dir / ".drill" / "evidence.db").read_bytes()
    evidence += b"".join(p.read_bytes() for p in (aws_stack.dir / ".drill").glob("*.db-wal"))
    assert DB_PASSWORD.encode() not in evidence


@pytest.mark.parametrize(
    ("probes", "named"),
    [
        ({"db": "postgresql://app@10.0.20.15:5432/app"}, "10.0.20.15"),
        # libpq connects to hostaddr, not host: the old check looked at host only
        ({"db": "host=127.0.0.1 hostaddr=10.0.20.15 dbname=app user=app"}, "10.0.20.15"),
        ({"global_db": "host=db.prod.internal dbname=app user=app"}, "db.prod.internal"),
        ({"http": "http://10.0.20.15/health"}, "10.0.20.15"),
    ],
)
def test_probes_on_an_emulated_env_must_be_loopback(
    aws_stack: Stack, capsys: pytest.CaptureFixture[str], probes: dict[str, str], named: str
) -> None:
    """Refused as the invalid configuration it is (exit 2, drill.yaml:LINE, nothing run);
    it was a failed run (exit 1) with a finding, and `hostaddr` slipped through."""
    write_config(aws_stack.dir, aws_stack.url, bad=env_block(aws_stack.url, probes=probes))
    capsys.readouterr()
    assert drill("run", "rds-failover", "--env", "bad", "--yes") == 2
    err = capsys.readouterr().err
    first = err.splitlines()[0]
    assert first.startswith("drill: error: ") and "drill.yaml:" in first and named in first, err
    assert "loopback" in first and "probes" in first, err
    assert "Traceback" not in err
    write_config(aws_stack.dir, aws_stack.url)  # every command refused it; fixed:
    assert drill("runs", "list", "--json") == 0
    assert json.loads(capsys.readouterr().out) == []  # nothing was started


def test_probe_dsn_refuses_hostaddr_and_pghostaddr(
    aws_stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run-time guard (a DSN from a Secrets Manager secret is only known then) asks
    netguard as the lab does: hostaddr and PGHOSTADDR are where libpq connects."""
    from orchestrator.config import load_settings
    from orchestrator.errors import ConfigError
    from orchestrator.providers.aws.dsn import probe_dsn
    from orchestrator.providers.aws.provider import AwsProvider

    settings = load_settings()
    c = AwsProvider("aws", settings.environments["aws"], settings).ctx
    with pytest.raises(ConfigError):
        probe_dsn(c, "host=127.0.0.1 hostaddr=10.0.20.15 dbname=app")
    monkeypatch.setenv("PGHOSTADDR", "10.0.20.15")
    with pytest.raises(ConfigError):
        probe_dsn(c, "host=127.0.0.1 dbname=app")
    monkeypatch.delenv("PGHOSTADDR")
    assert "127.0.0.1" in (probe_dsn(c, "host=127.0.0.1 dbname=app") or "")


def test_az_loss_through_an_fis_template(
    aws_stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    fis = aws_stack.client("fis")
    template = fis.create_experiment_template(
        clientToken="t1",
        description="lose us-east-1a",
        roleArn="arn:aws:iam::1:role/fis",
        stopConditions=[{"source": "none"}],
        actions={
            "stop-az": {
                "actionId": "aws:network:disrupt-connectivity",
                "parameters": {"duration": "PT10M", "scope": "all"},
                "targets": {"Subnets": "subnets"},
            }
        },
        targets={
            "subnets": {
                "resourceType": "aws:ec2:subnet",
                "selectionMode": "ALL",
                "resourceArns": [aws_stack.attrs("module.network.aws_subnet.public[0]")["arn"]],
            }
        },
    )["experimentTemplate"]["id"]
    write_config(
        aws_stack.dir,
        aws_stack.url,
        fis=env_block(aws_stack.url, fis_templates={"az-loss": template}),
    )
    aws_stack.moto._post("/moto-api/recorder/reset-recording")
    # moto's FIS and RDS never fail the database over: nothing shows a recovery (no RTO)
    assert drill("run", "az-loss", "--env", "fis", "--yes", "--json") == 1, capsys.readouterr()
    doc = json.loads(capsys.readouterr().out)
    run_id = doc["run_id"]
    assert doc["scenarios"][0]["rto_s"] is None
    reqs = aws_stack.moto.requests()
    paths = [r["operation"] for r in reqs if r["service"] == "fis"]
    assert any(p.startswith("POST /experiments") for p in paths)  # StartExperiment
    assert not any(r["operation"] == "CreateNetworkAcl" for r in reqs)
    assert drill("runs", "show", run_id, "--json") == 0
    steps = json.loads(capsys.readouterr().out)["steps"]
    started = next(s for s in steps if s["action"] == "az.isolate")["output"]
    assert started["method"] == "fis" and started["template"] == template
    undo = next(s for s in steps if s["action"] == "az.restore")
    assert undo["phase"] == "rollback" and undo["status"] == "succeeded"
    assert undo["output"]["experiment_id"] == started["experiment_id"]
    # stopped by the rollback, unless the emulator's experiment had already completed
    stopped = any(p.startswith("DELETE /experiments/") for p in paths)
    assert stopped or undo["output"]["status"] == "completed"
    assert fis.get_experiment(id=started["experiment_id"])["experiment"]["state"]["status"] in (
        "stopped",
        "stopping",
        "completed",
    )


@pytest.mark.postgres
def test_bundled_rds_failover_runbook_on_aws_with_loopback_probes(
    aws_stack: Stack, pg_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The bundled runbook (SQL preconditions, probe wait, dataset verification) on an
    AWS environment whose database is reached through a loopback DSN (a tunnel)."""
    import psycopg

    libpq = pg_dsn.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(libpq, autocommit=True) as conn:
        conn.execute("CREATE TABLE drill_dataset (id integer PRIMARY KEY, payload text NOT NULL)")
        conn.execute(
            "INSERT INTO drill_dataset SELECT i, md5(i::text) FROM generate_series(1, 100) i"
        )
    write_config(
        aws_stack.dir,
        aws_stack.url,
        probed=env_block(aws_stack.url, probes={"db": libpq, "interval_s": 0.2}),
    )
    aws_stack.moto._post("/moto-api/recorder/reset-recording")
    bundled = Path(__file__).resolve().parents[3] / "runbooks" / "rds-failover.yaml"
    code = drill("run", str(bundled), "--env", "probed", "--yes", "--json")
    doc = json.loads(capsys.readouterr().out)
    assert code == 0, doc
    muts = [
        r["operation"]
        for r in aws_stack.moto.requests()
        if not r["operation"].startswith(("Describe", "List", "Get", "GET "))
    ]
    assert muts == ["RebootDBInstance"]
    assert drill("runs", "show", doc["run_id"], "--json") == 0
    detail = json.loads(capsys.readouterr().out)
    verify = next(s for s in detail["steps"] if s["action"] == "data.verify")["output"]
    assert verify["ok"] is True and verify["rows"] == 100
    rto = next(m for m in detail["measurements"] if m["name"] == "rto")
    assert rto["method"] not in ("rds-events", "rds-instance-status", "step-marks")


def _backup_ctx(run_id: str = "r-backup-test") -> Any:
    from orchestrator.providers.base import StepContext

    return StepContext(run_id=run_id, scenario_id="backup-restore", mode="live", deadline_s=30)


def test_backup_create_on_demand_job_with_the_plans_role(aws_stack: Stack) -> None:
    """The role comes from the newest recovery point; the job is started with the run's
    tags, an expiry and an idempotency token, and waited for until COMPLETED."""
    primary_arn = aws_stack.attrs("aws_db_instance.primary")["arn"]
    now = datetime.now(UTC)
    rp = "arn:aws:backup:us-east-1:123456789012:recovery-point:"
    backup, stub = _stubbed(aws_stack, "backup")
    stub.add_response(
        "list_recovery_points_by_backup_vault",
        {
            "RecoveryPoints": [
                {
                    "RecoveryPointArn": rp + "old",
                    "CreationDate": now - timedelta(days=2),
                    "Status": "COMPLETED",
                    "IamRoleArn": "arn:aws:iam::123456789012:role/old",
                },
                {
                    "RecoveryPointArn": rp + "new",
                    "CreationDate": now - timedelta(hours=3),
                    "Status": "COMPLETED",
                    "IamRoleArn": "arn:aws:iam::123456789012:role/backup",
                },
            ]
        },
        {"BackupVaultName": "prod-vault", "ByResourceArn": primary_arn},
    )
    stub.add_response(
        "start_backup_job",
        {"BackupJobId": "bj-1", "CreationDate": now},
        {
            "BackupVaultName": "prod-vault",
            "ResourceArn": primary_arn,
            "IamRoleArn": "arn:aws:iam::123456789012:role/backup",
            "IdempotencyToken": "drill-r-backup-test-backup-restore",
            "Lifecycle": {"DeleteAfterDays": 3},
            "RecoveryPointTags": {
                "drill:run-id": "r-backup-test",
                "drill:created-by": "drill",
                "drill:env": "aws",
                "drill:purpose": "backup",
            },
        },
    )
    stub.add_response(
        "describe_backup_job", {"BackupJobId": "bj-1", "State": "RUNNING"}, {"BackupJobId": "bj-1"}
    )
    stub.add_response(
        "describe_backup_job",
        {
            "BackupJobId": "bj-1",
            "State": "COMPLETED",
            "RecoveryPointArn": rp + "drill",
            "CompletionDate": now,
            "BackupSizeInBytes": 1234,
        },
        {"BackupJobId": "bj-1"},
    )
    stub.activate()
    provider = _provider(aws_stack, **{"backup@us-east-1": backup})
    try:
        plan = provider.plan("backup.create", {"retain_days": 3}, "live")
        assert [(p.operation, p.mutating) for p in plan] == [
            ("ListRecoveryPointsByBackupVault", False),
            ("StartBackupJob", True),
            ("DescribeBackupJob", False),
        ]
        out = provider.execute("backup.create", {"retain_days": 3}, _backup_ctx())
    finally:
        provider.close()
    stub.assert_no_pending_responses()
    assert out["recovery_point"] == rp + "drill" and out["backup_job"] == "bj-1"
    assert out["iam_role"].endswith("role/backup") and out["retain_days"] == 3
    assert out["size_bytes"] == 1234 and out["completed_at"] == now.isoformat()


def test_backup_create_explicit_role_and_failed_job(aws_stack: Stack) -> None:
    """A named role skips the lookup; a job that fails ends the step with AWS's reason."""
    from orchestrator.errors import ProviderError

    backup, stub = _stubbed(aws_stack, "backup")
    stub.add_response(
        "start_backup_job",
        {"BackupJobId": "bj-2"},
        {
            "BackupVaultName": "prod-vault",
            "ResourceArn": ANY,
            "IamRoleArn": "arn:aws:iam::1:role/x",
            "IdempotencyToken": ANY,
            "Lifecycle": {"DeleteAfterDays": 7},
            "RecoveryPointTags": ANY,
        },
    )
    stub.add_response(
        "describe_backup_job",
        {
            "BackupJobId": "bj-2",
            "State": "FAILED",
            "StatusMessage": "Insufficient privileges to perform this action.",
        },
        {"BackupJobId": "bj-2"},
    )
    stub.activate()
    provider = _provider(aws_stack, **{"backup@us-east-1": backup})
    try:
        with pytest.raises(ProviderError, match="bj-2 FAILED: Insufficient privileges"):
            provider.execute(
                "backup.create", {"iam_role_arn": "arn:aws:iam::1:role/x"}, _backup_ctx()
            )
    finally:
        provider.close()
    stub.assert_no_pending_responses()


def test_backup_create_without_any_role_says_how_to_name_one(aws_stack: Stack) -> None:
    from orchestrator.errors import ProviderError

    backup, stub = _stubbed(aws_stack, "backup")
    stub.add_response("list_recovery_points_by_backup_vault", {"RecoveryPoints": []})
    stub.activate()
    provider = _provider(aws_stack, **{"backup@us-east-1": backup})
    try:
        with pytest.raises(ProviderError) as err:
            provider.execute("backup.create", {}, _backup_ctx())
    finally:
        provider.close()
    assert "names the IAM role" in str(err.value) and "iam_role_arn" in (err.value.hint or "")


def test_backup_create_refuses_a_vault_role_that_is_not_a_vault(aws_stack: Stack) -> None:
    from orchestrator.errors import ProviderError

    provider = _provider(aws_stack)
    try:
        with pytest.raises(ProviderError, match="not an AWS Backup vault"):
            provider.plan("backup.create", {"vault": "primary_db"}, "live")
    finally:
        provider.close()


def test_an_untagged_instance_is_deleted_only_under_this_runs_restore_name(
    aws_stack: Stack,
) -> None:
    """AWS Backup restores untagged (drill tags once the job is done), so the undo of a
    restore stopped mid-job deletes the untagged instance named for this run's restore —
    and still refuses any other untagged one, another run's name or a name given."""
    from orchestrator.errors import ProviderError
    from orchestrator.providers.base import StepContext

    rds = aws_stack.client("rds")
    names = ["drill-r-mine-restore", "drill-r-other-restore", "reporting-copy"]
    for name in names:
        rds.create_db_instance(
            DBInstanceIdentifier=name,
            Engine="postgres",
            DBInstanceClass="db.t4g.medium",
            AllocatedStorage=20,
            MasterUsername="u",
            MasterUserPassword="password1",
        )
    provider = _provider(aws_stack)
    ctx = StepContext(run_id="r-mine", scenario_id="backup-restore", mode="live", deadline_s=60)
    for name in names[1:]:
        with pytest.raises(ProviderError, match="not created by drill"):
            provider.execute("db.delete_restored", {"new_instance": name}, ctx)
    out = provider.execute("db.delete_restored", {}, ctx)
    assert (out["deleted"], out["noop"]) == ("drill-r-mine-restore", False)
    left = [d["DBInstanceIdentifier"] for d in rds.describe_db_instances()["DBInstances"]]
    assert set(names[1:]) <= set(left) and names[0] not in left
    provider.close()


def test_the_vaults_recovery_points_are_read_past_the_first_page(aws_stack: Stack) -> None:
    """ListRecoveryPointsByBackupVault answers a page at a time (NextToken): a vault
    with months of hourly snapshots has many. drill read the first page only, so a
    continuous point (or the newest snapshot) on a later page was never seen, and the
    restore went to an older snapshot — an RPO of hours where seconds were possible."""

    primary_arn = aws_stack.attrs("aws_db_instance.primary")["arn"]
    now = datetime.now(UTC)
    rp = "arn:aws:backup:us-east-1:123456789012:recovery-point:"
    backup, stub = _stubbed(aws_stack, "backup")
    asked = {"BackupVaultName": "prod-vault", "ByResourceArn": primary_arn}
    point = {"Status": "COMPLETED", "ResourceArn": primary_arn}
    stub.add_response(
        "list_recovery_points_by_backup_vault",
        {
            "RecoveryPoints": [
                {
                    **point,
                    "RecoveryPointArn": rp + "hourly-old",
                    "CreationDate": now - timedelta(hours=9),
                }
            ],
            "NextToken": "page-2",
        },
        asked,
    )
    stub.add_response(
        "list_recovery_points_by_backup_vault",
        {
            "RecoveryPoints": [
                {
                    **point,
                    "RecoveryPointArn": rp + "continuous:db-prod-1a2b",
                    "CreationDate": now - timedelta(days=3),
                }
            ]
        },
        {**asked, "NextToken": "page-2"},
    )
    to = (now - timedelta(seconds=1)).isoformat().replace("+00:00", "Z")
    kept_metadata(stub, "prod-vault", rp + "continuous:db-prod-1a2b")
    provider, ctx, out = _restore_from_vault(
        aws_stack,
        backup,
        stub,
        job="job-3",
        point=rp + "continuous:db-prod-1a2b",
        metadata={"DBInstanceIdentifier": ANY, "RestoreTime": to},
        run_id="r-pages-test",
        now=now,
    )
    assert out["recovery_point"] == rp + "continuous:db-prod-1a2b"
    assert out["restored_to"] == (now - timedelta(seconds=1)).isoformat()
    provider.execute("db.delete_restored", out["rollback_args"], ctx)
    provider.close()


def test_the_restore_keeps_the_sources_settings_from_its_recovery_point(
    aws_stack: Stack,
) -> None:
    """StartRestoreJob's Metadata is the recovery point's restore metadata (the source's
    subnet group, security groups, parameter group… as AWS Backup kept them) with a new
    name. drill gave the name alone, so RDS restored with its defaults — the default
    VPC's subnet group and security group, or failed where there is no default VPC — and
    the restored database was out of the runner's reach. The kept settings are passed
    back, the name replaced, and the AZ dropped for a Multi-AZ instance (RDS refuses
    both together)."""

    primary_arn = aws_stack.attrs("aws_db_instance.primary")["arn"]
    now = datetime.now(UTC)
    point = "arn:aws:backup:us-east-1:123456789012:recovery-point:hourly"
    backup, stub = _stubbed(aws_stack, "backup")
    stub.add_response(
        "list_recovery_points_by_backup_vault",
        {
            "RecoveryPoints": [
                {
                    "RecoveryPointArn": point,
                    "CreationDate": now - timedelta(hours=1),
                    "Status": "COMPLETED",
                    "ResourceArn": primary_arn,
                }
            ]
        },
        {"BackupVaultName": "prod-vault", "ByResourceArn": primary_arn},
    )
    settings = {
        "DBSubnetGroupName": "prod-db-private",
        "VpcSecurityGroupIds": '["sg-0db"]',
        "DBParameterGroupName": "prod-pg16",
        "DBInstanceClass": "db.r6g.large",
        "MultiAZ": "true",
    }
    kept_metadata(stub, "prod-vault", point, AvailabilityZone="us-east-1a", **settings)
    new = "drill-r-kept-restore"
    provider, ctx, out = _restore_from_vault(
        aws_stack,
        backup,
        stub,
        job="job-4",
        point=point,
        metadata={**settings, "DBInstanceIdentifier": new},
        run_id="r-kept",
        now=now,
    )
    assert out["new_instance"] == new and out["recovery_point"] == point
    provider.execute("db.delete_restored", out["rollback_args"], ctx)
    provider.close()


def test_the_clean_up_finds_a_leftover_past_the_first_page(aws_stack: Stack) -> None:
    """DescribeDBInstances answers 100 instances a page (Marker): in an account with
    more, the clean-up at a run's start read the first page only and never deleted a
    crashed run's restored instance listed after it — left running, and billed."""
    from orchestrator.providers.aws.sweep import sweep

    rds, stub = _stubbed(aws_stack, "rds")
    left = "drill-r-gone-restore"
    tags = {"drill:created-by": "drill", "drill:run-id": "r-gone", "drill:env": "aws"}
    leftover = {
        "DBInstanceIdentifier": left,
        "DBInstanceStatus": "available",
        "TagList": [{"Key": k, "Value": v} for k, v in tags.items()],
    }
    other = {"DBInstanceIdentifier": "billing-db", "DBInstanceStatus": "available"}
    stub.add_response("describe_db_instances", {"DBInstances": [other], "Marker": "m2"}, {})
    stub.add_response("describe_db_instances", {"DBInstances": [leftover]}, {"Marker": "m2"})
    stub.add_response(
        "describe_db_instances", {"DBInstances": [leftover]}, {"DBInstanceIdentifier": left}
    )
    stub.add_response(
        "delete_db_instance",
        {"DBInstance": {**leftover, "DBInstanceStatus": "deleting"}},
        {"DBInstanceIdentifier": left, "SkipFinalSnapshot": True, "DeleteAutomatedBackups": True},
    )
    stub.activate()
    provider = _provider(aws_stack, **{"rds@us-east-1": rds})
    said: list[str] = []
    done = sweep(provider.ctx, said.append, alive=set())
    stub.assert_no_pending_responses()
    assert done["instances"] == [left], said
    provider.close()


def test_a_replayed_replica_rebuild_waits_until_the_new_replica_is_available(
    aws_stack: Stack,
) -> None:
    """drill died just after CreateDBInstanceReadReplica (the rollback of a region
    promotion); recovery replays db.rebuild_replica, finds the instance already a read
    replica — RDS still `creating` it, tens of minutes cross-region — and said 'ok' at
    once: the run closed `crashed` as if the environment were whole, and the next drill
    met a replica that could not be promoted or measured. The replay now waits for it to
    be available, as the rebuild itself does."""
    from orchestrator.providers.base import StepContext

    rds = aws_stack.client("rds", "us-west-2")
    seen: list[str] = []

    def still_creating(parsed: dict[str, Any], **_kw: Any) -> None:
        for db in parsed.get("DBInstances", []):
            if db.get("ReadReplicaSourceDBInstanceIdentifier"):
                status = "creating" if seen.count("creating") < 2 else db["DBInstanceStatus"]
                seen.append(status)
                db["DBInstanceStatus"] = status

    rds.meta.events.register("after-call.rds.DescribeDBInstances", still_creating)
    provider = _provider(aws_stack, **{"rds@us-west-2": rds})
    ctx = StepContext(
        run_id="r-replayed", scenario_id="region-promotion", mode="live", deadline_s=60
    )
    out = provider.execute("db.rebuild_replica", {"target": "dr_replica"}, ctx)
    assert out["noop"] is True
    assert seen[:2] == ["creating", "creating"] and seen[-1] == "available", seen
    provider.close()


def test_a_replayed_replica_rebuild_after_a_promotion_in_flight_rebuilds_it(
    aws_stack: Stack,
) -> None:
    """drill died just after PromoteReadReplica. Recovery replays db.rebuild_replica
    while RDS is still promoting (`modifying`, the source still named): it took the
    instance for the replica it was, said 'ok' — and the promotion then finished, the
    DR replica gone for good behind a recovery that claimed it whole. The replay now
    waits until RDS is done, looks again, and rebuilds the replica it finds promoted."""
    from orchestrator.providers.base import StepContext

    rds = aws_stack.client("rds", "us-west-2")
    name = aws_stack.attrs("module.dr.aws_db_instance.replica")["identifier"]
    seen: list[str] = []

    def promoting(parsed: dict[str, Any], **_kw: Any) -> None:
        for db in parsed.get("DBInstances", []):
            if db["DBInstanceIdentifier"] == name and seen.count("modifying") < 2:
                seen.append("modifying")
                db["DBInstanceStatus"] = "modifying"
                if seen.count("modifying") == 2:  # RDS finishes the promotion
                    aws_stack.client("rds", "us-west-2").promote_read_replica(
                        DBInstanceIdentifier=name
                    )

    rds.meta.events.register("after-call.rds.DescribeDBInstances", promoting)
    provider = _provider(aws_stack, **{"rds@us-west-2": rds})
    ctx = StepContext(
        run_id="r-promoted", scenario_id="region-promotion", mode="live", deadline_s=60
    )
    out = provider.execute("db.rebuild_replica", {"target": "dr_replica"}, ctx)
    assert "noop" not in out and out["instance"] == name, out
    (db,) = aws_stack.client("rds", "us-west-2").describe_db_instances(DBInstanceIdentifier=name)[
        "DBInstances"
    ]
    assert db.get("ReadReplicaSourceDBInstanceIdentifier"), db
    provider.close()


def test_the_continuous_point_is_the_one_rds_names_whatever_its_arn(aws_stack: Stack) -> None:
    """drill told a continuous recovery point by its ARN's form alone
    (`…:recovery-point:continuous:…`, from public examples: botocore's model defines no
    form); a continuous point named otherwise was taken for a snapshot three days old,
    and an hourly snapshot restored instead of the second before the disaster. RDS names
    the instance's continuous point (AwsBackupRecoveryPointArn): that one is it."""

    primary_arn = aws_stack.attrs("aws_db_instance.primary")["arn"]
    now = datetime.now(UTC)
    rp = "arn:aws:backup:us-east-1:123456789012:recovery-point:"
    pitr = rp + "db-prod-pitr-1a2b"
    backup, stub = _stubbed(aws_stack, "backup")
    point = {"Status": "COMPLETED", "ResourceArn": primary_arn}
    stub.add_response(
        "list_recovery_points_by_backup_vault",
        {
            "RecoveryPoints": [
                {**point, "RecoveryPointArn": pitr, "CreationDate": now - timedelta(days=3)},
                {
                    **point,
                    "RecoveryPointArn": rp + "hourly",
                    "CreationDate": now - timedelta(hours=1),
                },
            ]
        },
        {"BackupVaultName": "prod-vault", "ByResourceArn": primary_arn},
    )
    kept_metadata(stub, "prod-vault", pitr)
    to = (now - timedelta(seconds=1)).isoformat().replace("+00:00", "Z")

    def names_it(parsed: dict[str, Any], **_kw: Any) -> None:
        for db in parsed.get("DBInstances", []):
            if db["DBInstanceIdentifier"] == "prod-db":
                db["AwsBackupRecoveryPointArn"] = pitr

    rds = aws_stack.client("rds")
    rds.meta.events.register("after-call.rds.DescribeDBInstances", names_it)
    provider, ctx, out = _restore_from_vault(
        aws_stack,
        backup,
        stub,
        job="job-5",
        point=pitr,
        metadata={"DBInstanceIdentifier": ANY, "RestoreTime": to},
        run_id="r-named",
        now=now,
        rds=rds,
    )
    assert out["continuous"] is True and out["recovery_point"] == pitr
    provider.execute("db.delete_restored", out["rollback_args"], ctx)
    provider.close()


def test_the_newest_snapshot_is_looked_for_past_the_first_page(aws_stack: Stack) -> None:
    """DescribeDBSnapshots answers 100 snapshots a page (Marker): 35 days of automated
    snapshots and the manual ones exceed it. db.restore `point_in_time: latest` took the
    newest of the first page only — a snapshot days old when a newer one was listed
    after it, the restored data that much older."""
    from orchestrator.providers.base import StepContext

    rds = aws_stack.client("rds")
    for snap in ("prod-db-2-days-old", "prod-db-1-hour-old"):
        rds.create_db_snapshot(DBSnapshotIdentifier=snap, DBInstanceIdentifier="prod-db")
    now = datetime.now(UTC)

    def page(marker: str | None) -> dict[str, Any]:
        def snap(name: str, age: timedelta) -> dict[str, Any]:
            return {
                "DBSnapshotIdentifier": name,
                "DBInstanceIdentifier": "prod-db",
                "Status": "available",
                "SnapshotCreateTime": now - age,
            }

        if marker is None:
            return {"DBSnapshots": [snap("prod-db-2-days-old", timedelta(days=2))], "Marker": "m2"}
        return {"DBSnapshots": [snap("prod-db-1-hour-old", timedelta(hours=1))]}

    def pages(params: dict[str, Any], **_kw: Any) -> tuple[Any, dict[str, Any]]:
        from botocore.awsrequest import AWSResponse

        return AWSResponse("", 200, {}, None), page(params["body"].get("Marker"))

    rds.meta.events.register("before-call.rds.DescribeDBSnapshots", pages)
    provider = _provider(aws_stack, **{"rds@us-east-1": rds})
    ctx = StepContext(run_id="r-snap", scenario_id="backup-restore", mode="live", deadline_s=60)
    out = provider.execute("db.restore", {"source": "primary_db", "point_in_time": "latest"}, ctx)
    assert out["snapshot"] == "prod-db-1-hour-old", out
    provider.execute("db.delete_restored", out["rollback_args"], ctx)
    provider.close()


def test_rds_events_are_read_past_the_first_page(
    aws_stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DescribeEvents answers 100 events a page (Marker): an instance busy during the
    drill (backups, parameter changes, a long promotion) has more. drill read the first
    page only: the 'failover completed' listed after it was never seen, and with
    `probes: none` the scenario had no RTO."""
    from orchestrator.engine import runner

    fault = datetime.now(UTC).replace(microsecond=0)
    real_mark = runner.RunEngine._mark

    def fixed_mark(
        self: Any, row: Any, ctx: Any, observer: Any, name: str, step: Any, at: Any = None
    ) -> None:  # pin the fault time the events refer to
        real_mark(self, row, ctx, observer, name, step, fault if name == "fault_injected" else at)

    monkeypatch.setattr(runner.RunEngine, "_mark", fixed_mark)
    rds, stub = _stubbed(aws_stack, "rds")

    def event(message: str, after_s: int) -> dict[str, Any]:
        return {
            "SourceIdentifier": "prod-db",
            "SourceType": "db-instance",
            "Message": message,
            "EventCategories": ["failover"],
            "Date": fault + timedelta(seconds=after_s),
            "SourceArn": "arn:aws:rds:us-east-1:1:db:prod-db",
        }

    asked = {"SourceIdentifier": "prod-db", "SourceType": "db-instance", "StartTime": ANY}
    stub.add_response(
        "describe_events",
        {"Events": [event("Multi-AZ instance failover started.", 2)], "Marker": "m2"},
        asked,
    )
    stub.add_response(
        "describe_events",
        {"Events": [event("Multi-AZ instance failover completed.", 47)]},
        {**asked, "Marker": "m2"},
    )
    stub.activate()
    doc = _engine_run(aws_stack, "aws", rds)
    rto = [m for m in doc["measurements"] if m["name"] == "rto"]
    assert [(m["method"], m["value"]) for m in rto] == [("rds-events", 47.0)], doc["measurements"]
