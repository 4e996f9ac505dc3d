"""docker-compose.yml is valid Compose (validated against the spec's JSON schema; there
is no Docker engine here, so it is validated, not run) and has what operations need."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
# A copy of the Compose specification's schema (Apache-2.0, see compose-spec.LICENSE) is
# kept in the repo so the test runs wherever the repo is cloned.
SCHEMA = REPO / "tests" / "fixtures" / "schemas" / "compose-spec.json"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    return data


def test_valid_against_the_compose_specification(compose: dict[str, Any]) -> None:
    import jsonschema

    schema = json.loads(SCHEMA.read_text())
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(compose), key=str)
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_evidence_db_and_scheduler_with_health_checks_and_volumes(compose: dict[str, Any]) -> None:
    services = compose["services"]
    db, sched = services["evidence-db"], services["scheduler"]
    assert db["image"].startswith("postgres:")
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    assert any(v.endswith(":/var/lib/postgresql/data") for v in db["volumes"])
    assert sched["build"]["dockerfile"] == "Dockerfile"
    assert (REPO / sched["build"]["dockerfile"]).is_file()
    assert sched["command"][:2] == ["scheduler", "run"]
    assert "/health" in " ".join(sched["healthcheck"]["test"])
    assert sched["depends_on"]["evidence-db"]["condition"] == "service_healthy"
    assert sched["environment"]["DRILL_DATABASE"].startswith("postgresql+psycopg://")
    assert sched["stop_signal"] == "SIGTERM"
    assert set(compose["volumes"]) >= {"evidence-data", "drill-state"}


def test_published_ports_are_loopback_only(compose: dict[str, Any]) -> None:
    for name, svc in compose["services"].items():
        for port in svc.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port}"


def test_dashboard_service_needs_a_token_and_publishes_on_loopback(compose: dict[str, Any]) -> None:
    dash = compose["services"]["dashboard"]
    assert dash["command"][0] == "serve"
    assert "--host" in dash["command"]  # the container's network: not loopback …
    assert "DRILL_SERVE_TOKEN" in dash["environment"]["DRILL_SERVE_TOKEN"]  # … so a token
    assert dash["ports"] == ["127.0.0.1:8080:8080"]
    assert "Bearer" in " ".join(dash["healthcheck"]["test"])
    assert dash["depends_on"]["evidence-db"]["condition"] == "service_healthy"
