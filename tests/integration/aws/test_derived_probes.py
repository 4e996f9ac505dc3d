"""Probe defaults derived from the targets (DESIGN 4) on the emulator, end to end.

An AWS environment with no ``probes:`` block probes the database the state's
``primary_db`` names — here a real loopback PostgreSQL, its password read from the
Secrets Manager secret the state's ``master_user_secret`` names — and measures with
it. A state naming an address beyond loopback is refused before anything runs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.integration.aws.conftest import Stack, drill, env_block, write_config

pytestmark = pytest.mark.aws

BUNDLED = Path(__file__).resolve().parents[3] / "runbooks" / "rds-failover.yaml"
PASSWORD = "derived-Pr0be-pw"


def _edit_state(stack: Stack, **primary: Any) -> None:
    """The state on disk, with the primary's attributes changed and without the ALB
    (its dns_name is the emulator's, not loopback: an http probe would be refused)."""
    path = stack.dir / "terraform.tfstate"
    doc = json.loads(path.read_text())
    doc["resources"] = [r for r in doc["resources"] if r["type"] != "aws_lb"]
    for res in doc["resources"]:
        if res["type"] == "aws_db_instance" and res["name"] == "primary":
            res["instances"][0]["attributes"].update(primary)
    path.write_text(json.dumps(doc))


def _no_probes(stack: Stack) -> dict[str, Any]:
    env = env_block(stack.url)
    del env["probes"]
    return env


def _derived_dsn(env: str = "aws") -> str:
    """The DSN probes and SQL steps of ``env`` use, as the provider builds it."""
    from orchestrator.config import load_settings
    from orchestrator.providers.aws.probedb import db_dsn
    from orchestrator.providers.aws.provider import AwsProvider

    settings = load_settings()
    name, cfg = settings.environment(env)
    provider = AwsProvider(name, cfg, settings)
    try:
        return db_dsn(provider.ctx) or ""
    finally:
        provider.close()


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    capsys.readouterr()
    code = drill(*argv, "--json")
    out = capsys.readouterr()
    return code, json.loads(out.out) if out.out.strip() else {"stderr": out.err}


@pytest.mark.postgres
def test_bundled_runbook_measures_with_the_dsn_derived_from_the_state(
    aws_stack: Stack, pg_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    libpq = pg_dsn.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(libpq, autocommit=True) as conn:
        conn.execute("CREATE TABLE drill_dataset (id integer PRIMARY KEY, payload text NOT NULL)")
        conn.execute(
            "INSERT INTO drill_dataset SELECT i, md5(i::text) FROM generate_series(1, 100) i"
        )
    pg = conninfo_to_dict(libpq)
    assert pg["host"] in ("127.0.0.1", "localhost"), pg["host"]  # loopback only
    secret = aws_stack.client("secretsmanager").create_secret(
        Name="rds!db-prod", SecretString=json.dumps({"username": pg["user"], "password": PASSWORD})
    )["ARN"]
    _edit_state(
        aws_stack,
        address="127.0.0.1",
        endpoint=f"127.0.0.1:{pg['port']}",
        port=int(str(pg["port"])),
        username=pg["user"],
        db_name=pg["dbname"],
        master_user_secret=[{"secret_arn": secret, "secret_status": "active", "kms_key_id": ""}],
    )
    write_config(aws_stack.dir, aws_stack.url, aws=_no_probes(aws_stack))
    assert conninfo_to_dict(_derived_dsn())["password"] == PASSWORD  # from the secret
    code, plan = _json(capsys, "plan", str(BUNDLED), "--env", "aws")
    assert code == 0, plan
    assert plan["probes"]["db"].startswith(
        f"derived from aws_db_instance.primary in {aws_stack.dir / 'terraform.tfstate'}: "
        f"host=127.0.0.1 port={pg['port']} dbname={pg['dbname']} user={pg['user']}, "
        "password from Secrets Manager"
    )
    assert plan["probes"]["http"].startswith("none: ")
    assert not [s for s in plan["scenarios"][0]["steps"] if s.get("skipped")]

    code, doc = _json(capsys, "run", str(BUNDLED), "--env", "aws", "--yes")
    assert code == 0, doc
    code, detail = _json(capsys, "runs", "show", doc["run_id"])
    assert not [s for s in detail["steps"] if s["status"] == "skipped"], detail["steps"]
    verify = next(s for s in detail["steps"] if s["action"] == "data.verify")["output"]
    assert verify["ok"] is True and verify["rows"] == 100  # through the derived DSN
    rto = next(m for m in detail["measurements"] if m["name"] == "rto")
    assert rto["method"] not in ("rds-events", "rds-instance-status", "step-marks")
    notes = detail["scenario_notes"]["rds-failover"]
    assert notes["probe_db"] == plan["probes"]["db"]  # the evidence says where from
    assert "rpo" not in notes or not str(notes["rpo"]).startswith("not measured")
    # the secret's password reached libpq and nothing else
    store = aws_stack.dir / ".drill"
    evidence = b"".join(p.read_bytes() for p in store.glob("evidence.db*"))
    assert PASSWORD.encode() not in evidence


def test_a_derived_address_beyond_loopback_is_refused_before_anything_runs(
    aws_stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    """The emulator's own address for the instance (not 127.x) in the state: refused
    like an explicit probe naming it (exit 2, one line naming resource and attribute)."""
    address = aws_stack.attrs("aws_db_instance.primary")["address"]
    _edit_state(aws_stack, username="app")
    write_config(aws_stack.dir, aws_stack.url, aws=_no_probes(aws_stack))
    for argv in (("plan", str(BUNDLED)), ("run", str(BUNDLED), "--yes")):
        capsys.readouterr()
        assert drill(*argv, "--env", "aws") == 2
        err = capsys.readouterr().err
        first = next((ln for ln in err.splitlines() if ln.startswith("drill: error: ")), err)
        assert "aws_db_instance.primary" in first and f"endpoint is {address}" in first, err
        assert "loopback" in first and "Traceback" not in err
    assert drill("runs", "list", "--json") == 0
    assert json.loads(capsys.readouterr().out) == []  # nothing was started
    assert not [r for r in aws_stack.moto.requests() if r["operation"] == "RebootDBInstance"]


def test_inventory_says_where_the_probes_come_from(
    aws_stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    _edit_state(aws_stack, address="127.0.0.1", endpoint="127.0.0.1:5432", username="app")
    write_config(aws_stack.dir, aws_stack.url, aws=_no_probes(aws_stack))
    code, doc = _json(capsys, "inventory", "--env", "aws", "--no-drift")
    assert code == 0, doc
    assert doc["probes"]["db"].startswith("derived from aws_db_instance.primary in ")
    assert doc["roles"]["primary_db"]["details"]["username"] == "app"
    capsys.readouterr()
    assert drill("inventory", "--env", "aws", "--no-drift") == 0
    assert "probe db: derived from aws_db_instance.primary" in capsys.readouterr().out
