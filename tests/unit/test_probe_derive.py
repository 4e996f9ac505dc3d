"""Probe defaults derived from the targets (DESIGN 4), from the Terraform state alone.

No test here connects anywhere: derivation reads the state; the AWS endpoint is a dead
loopback port (a call to it would fail the test), and states naming 10.x are only
planned against, never probed.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.config import EnvironmentConfig, Settings
from orchestrator.errors import ConfigError
from orchestrator.inventory.roles import Target
from orchestrator.pgbin import free_port
from orchestrator.providers.aws.probedb import NotDerived, derive, split_endpoint

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "terraform"
STATE = json.loads((FIX / "reference.tfstate").read_text())
SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-1234-AbCdEf"


def _target(**extra: Any) -> Target:
    return Target(
        role="primary_db",
        address="aws_db_instance.primary",
        type="aws_db_instance",
        how="discovered",
        endpoint=extra.pop("address", "127.0.0.1"),
        port=extra.pop("port", 5432),
        password=extra.pop("password", None),
        extra=extra,
    )


def test_derive_takes_endpoint_user_database_and_secret() -> None:
    t = _target(
        connect_endpoint="127.0.0.1:6543",
        username="app",
        db_name="orders",
        master_user_secret_arn=SECRET_ARN,
    )
    d = derive(t, "terraform.tfstate", "prod")
    assert (d.host, d.port, d.user, d.dbname, d.attribute) == (
        "127.0.0.1",
        6543,
        "app",
        "orders",
        "endpoint",
    )
    assert d.secret_arn == SECRET_ARN
    shown = d.shown()
    assert shown.startswith("derived from aws_db_instance.primary in terraform.tfstate")
    assert "password from Secrets Manager (its master_user_secret)" in shown


def test_derive_falls_back_to_address_and_the_default_database() -> None:
    d = derive(_target(username="app", port=5433), "s.tfstate", "prod")
    assert (d.host, d.port, d.dbname, d.attribute) == ("127.0.0.1", 5433, "postgres", "address")


@pytest.mark.parametrize(
    ("extra", "missing"),
    [
        ({"address": None, "connect_endpoint": None, "username": "app"}, "no endpoint or address"),
        ({"connect_endpoint": "127.0.0.1:5432"}, "no username"),
        ({"address": None}, "no endpoint or address and no username"),
    ],
)
def test_missing_attributes_are_named_with_the_fix(extra: dict[str, Any], missing: str) -> None:
    with pytest.raises(NotDerived) as exc:
        derive(_target(**extra), "tf/state.json", "staging")
    msg = str(exc.value)
    assert f"aws_db_instance.primary in tf/state.json has {missing};" in msg, msg
    assert "environments.staging.probes.db" in msg and "probes: none" in msg


@given(
    host=st.from_regex(r"[a-z][a-z0-9-]{0,20}(\.[a-z0-9-]{1,10}){0,3}", fullmatch=True),
    port=st.integers(1, 65535),
)
def test_split_endpoint_round_trips(host: str, port: int) -> None:
    assert split_endpoint(f"{host}:{port}") == (host, port)
    assert split_endpoint(host) == (host, None)
    assert split_endpoint(f"[::1]:{port}") == ("::1", port)


@settings(deadline=None)  # the first example imports psycopg
@given(
    password=st.text(
        st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=30
    ).filter(lambda p: p.strip() == p and p),
    user=st.from_regex(r"[a-z_][a-z0-9_]{0,15}", fullmatch=True),
    db=st.from_regex(r"[a-z_][a-z0-9_ ]{0,15}", fullmatch=True),
)
def test_conninfo_carries_every_value_exactly_and_shown_never_the_password(
    password: str, user: str, db: str
) -> None:
    """Quotes, spaces, backslashes and `=` in a password survive libpq's quoting; what
    plan and evidence show has no password."""
    from psycopg.conninfo import conninfo_to_dict

    t = _target(connect_endpoint="127.0.0.1:5432", username=user, db_name=db, password=password)
    d = derive(t, "s", "e")
    parsed = conninfo_to_dict(d.conninfo(d.password))
    assert parsed == {
        "host": "127.0.0.1",
        "port": "5432",
        "dbname": db,
        "user": user,
        "password": password,
    }
    assert "password from the state (not shown)" in d.shown()
    # nothing of the password is shown: the text is the same for another password (a
    # substring check failed for the password "user", which the text names as a word)
    other = _target(
        connect_endpoint="127.0.0.1:5432", username=user, db_name=db, password="x" + password
    )
    assert derive(other, "s", "e").shown() == d.shown()


# --- through the provider, from a state file -----------------------------------------
def _state(tmp_path: Path, address: str, **attrs: Any) -> Path:
    doc = copy.deepcopy(STATE)
    for res in doc["resources"]:
        a = res["instances"][0]["attributes"]
        if res["type"] == "aws_db_instance" and res["name"] == "primary":
            a.update(address=address, endpoint=f"{address}:5432", **attrs)
        if res["type"] == "aws_lb":
            a["dns_name"] = "127.0.0.1"
    path = tmp_path / "terraform.tfstate"
    path.write_text(json.dumps(doc))
    return path


def _provider(
    monkeypatch: pytest.MonkeyPatch, state: Path, emulator: bool = True, **env: Any
) -> Any:
    from orchestrator.providers.aws.provider import AwsProvider

    for key in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    cfg = EnvironmentConfig.model_validate(
        {
            "provider": "aws",
            "region": "us-east-1",
            "dr_region": "us-west-2",
            "terraform": {"state": str(state)},
            **({"endpoint_url": f"http://127.0.0.1:{free_port()}"} if emulator else {}),
            **env,
        }
    )
    return AwsProvider("prod", cfg, Settings(base_dir=state.parent))


def test_no_probes_derives_from_the_state_and_sql_steps_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = _state(
        tmp_path,
        "127.0.0.1",
        username="app",
        db_name="orders",
        master_user_secret=[{"secret_arn": SECRET_ARN, "secret_status": "active"}],
    )
    p = _provider(monkeypatch, state)
    sources = p.probe_sources()
    assert sources["db"] == (
        f"derived from aws_db_instance.primary in {state}: host=127.0.0.1 port=5432 "
        "dbname=orders user=app, password from Secrets Manager (its master_user_secret)"
    )
    assert sources["http"] == f"derived from aws_lb.app in {state}: http://127.0.0.1/"
    assert p.skip_reason("db.writable", {}) is None  # runs, through the derived DSN
    assert p.clients.journal == []  # nothing asked of AWS to say so


def test_a_state_password_is_used_but_never_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from orchestrator.secrets import redact_text

    secret = "Sup3r-s3cret-pw-in-state"
    state = _state(tmp_path, "127.0.0.1", username="app", password=secret)
    p = _provider(monkeypatch, state)
    shown = json.dumps(p.probe_sources())
    assert secret not in shown and "password from the state (not shown)" in shown
    inv = p.ctx.inventory()
    assert secret not in json.dumps(inv.model_dump()) and secret not in repr(inv)
    assert secret not in redact_text(f"connection failed: password {secret} rejected")
    from psycopg.conninfo import conninfo_to_dict

    from orchestrator.providers.aws.probedb import db_dsn

    assert conninfo_to_dict(db_dsn(p.ctx))["password"] == secret  # libpq gets it
    assert p.clients.journal == []


def test_a_derived_address_beyond_loopback_is_refused_on_an_emulator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = _provider(monkeypatch, _state(tmp_path, "10.0.20.15", username="app"))
    with pytest.raises(ConfigError) as exc:
        p.probe_sources()
    msg = exc.value.message
    assert "aws_db_instance.primary" in msg and "whose endpoint is 10.0.20.15" in msg, msg
    assert "loopback" in msg and "endpoint_url" in msg
    with pytest.raises(ConfigError):  # a SQL step is not skipped either: refused
        p.skip_reason("db.writable", {})
    assert p.clients.journal == []


def test_real_aws_derives_any_address_without_connecting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No endpoint_url: the runner is in the VPC, the private address is the point.
    Only planned here — nothing connects to it."""
    p = _provider(monkeypatch, _state(tmp_path, "10.0.20.15", username="app"), emulator=False)
    assert "host=10.0.20.15 port=5432 dbname=postgres user=app" in p.probe_sources()["db"]


def test_nothing_derivable_skips_sql_steps_with_what_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = _provider(monkeypatch, _state(tmp_path, "127.0.0.1"))  # no username in the state
    why = p.skip_reason("db.writable", {})
    assert why.startswith("skipped: no probes.db, and none can be derived: ")
    assert "aws_db_instance.primary" in why and "has no username" in why
    assert "environments.prod.probes.db" in why
    assert p.probe_sources()["db"].startswith("none: no probes.db, and none can be derived")


def test_explicit_probes_and_none_keep_their_meaning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = _state(tmp_path, "10.0.20.15", username="app")  # never consulted
    explicit = _provider(monkeypatch, state, probes={"db": "host=127.0.0.1 dbname=app user=a"})
    assert explicit.probe_sources() == {
        "db": "probes.db in drill.yaml",
        "global_db": "the database probe stands in (probes.db in drill.yaml)",
        "http": "none: probes.db is given without probes.http",
    }
    assert explicit.skip_reason("db.writable", {}) is None
    none = _provider(monkeypatch, state, probes="none")
    assert none.probe_sources() == {
        "db": "none: probes: none",
        "global_db": "none: probes: none",
        "http": "none: probes: none",
    }
    assert none.skip_reason("db.writable", {}).startswith("skipped: probes: none")


def _record_state(tmp_path: Path, record: str, rtype: str = "CNAME") -> Path:
    """The state with the primary and the DR replica at their real ports on 127.0.0.1,
    and the DNS record naming ``record``."""
    path = _state(tmp_path, "127.0.0.1", username="app")
    doc = json.loads(path.read_text())
    for res in doc["resources"]:
        a = res["instances"][0]["attributes"]
        if res["type"] == "aws_db_instance" and res["name"] == "primary":
            a.update(address="prod-db.internal", endpoint="127.0.0.1:5432")
        if res["type"] == "aws_db_instance" and res["name"] == "replica":
            a.update(address="prod-db-dr.internal", endpoint="127.0.0.1:6432", username="app")
        if res["type"] == "aws_route53_record":
            a.update(records=[record], type=rtype)
    path.write_text(json.dumps(doc))
    return path


@pytest.mark.parametrize(
    ("record", "rtype", "shown"),
    [
        (
            "prod-db.internal.",
            "CNAME",
            "derived from aws_route53_record.db → aws_db_instance.primary in {state}: "
            "host=127.0.0.1 port=5432",
        ),
        (
            "prod-db-dr.internal",
            "CNAME",
            "derived from aws_route53_record.db → module.dr.aws_db_instance.replica in {state}: "
            "host=127.0.0.1 port=6432",
        ),
        (
            "127.0.0.9",
            "A",
            "derived from aws_route53_record.db in {state}: host=127.0.0.9 port=5432",
        ),
        (
            "db.elsewhere.example",
            "CNAME",
            "the database probe stands in: aws_route53_record.db "
            "names db.elsewhere.example, no database of the state",
        ),
    ],
)
def test_the_global_probe_is_what_the_dns_record_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, record: str, rtype: str, shown: str
) -> None:
    """With no probes.global_db the global probe stood in for by the database probe,
    whatever the record named; it is derived from the record: the database whose
    address it names (a CNAME), or its address (an A record)."""
    state = _record_state(tmp_path, record, rtype)
    p = _provider(monkeypatch, state)
    assert p.probe_sources()["global_db"].startswith(shown.format(state=state))
    assert p.clients.journal == []


def test_a_record_naming_an_address_beyond_loopback_is_refused_on_an_emulator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = _provider(monkeypatch, _record_state(tmp_path, "10.0.20.40", "A"))
    with pytest.raises(ConfigError) as exc:
        p.probe_sources()
    msg = exc.value.message
    assert "aws_route53_record.db" in msg and "whose record value is 10.0.20.40" in msg, msg
    assert "refusing to connect" in msg and "loopback" in msg
    assert p.clients.journal == []


@pytest.mark.parametrize(
    ("listener", "url"),
    [
        (None, "http://lb.example/"),
        ({"protocol": "HTTP", "port": 80}, "http://lb.example/"),
        ({"protocol": "HTTP", "port": 8080}, "http://lb.example:8080/"),
        ({"protocol": "HTTPS", "port": 443}, "https://lb.example/"),
    ],
)
def test_alb_url_takes_the_listeners_scheme_and_port(
    listener: dict[str, Any] | None, url: str
) -> None:
    from orchestrator.providers.aws.probedb import alb_url

    assert alb_url("lb.example", listener) == url


def test_the_http_listener_of_the_alb_is_read_from_the_state(tmp_path: Path) -> None:
    from orchestrator.inventory.roles import resolve
    from orchestrator.inventory.state import parse_state

    doc = copy.deepcopy(STATE)
    lb = next(r for r in doc["resources"] if r["type"] == "aws_lb")
    arn = lb["instances"][0]["attributes"]["arn"]
    for port, protocol in ((443, "HTTPS"), (8080, "HTTP"), (9000, "TCP")):
        doc["resources"].append(
            {
                "mode": "managed",
                "type": "aws_lb_listener",
                "name": f"l{port}",
                "provider": lb["provider"],
                "instances": [
                    {"attributes": {"load_balancer_arn": arn, "port": port, "protocol": protocol}}
                ],
            }
        )
    inv = resolve(parse_state(doc, "s"), "prod", EnvironmentConfig(provider="aws"))
    assert inv.targets["alb"].extra["listener"] == {"protocol": "HTTP", "port": 8080}
