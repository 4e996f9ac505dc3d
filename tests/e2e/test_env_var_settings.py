"""`DRILL_*` variables override settings (DESIGN 4: "Every setting can also come from
DRILL_* variables"), the embedded `lab` environment's included.

`DRILL_ENVIRONMENTS__LAB__PROTECTED=true` without a drill.yaml used to fail with
`<defaults>:1: Field required (environments.lab.provider)`: the override replaced the
built-in `{provider: lab}` instead of changing one field of it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.clihelp import drill


def test_the_lab_can_be_made_protected_by_a_variable(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DRILL_ENVIRONMENTS__LAB__PROTECTED", "true")
    plan = drill(capsys, "plan", "quarterly-dr", "--env", "lab", "--json")
    assert plan.code == 0, plan.err
    doc = json.loads(plan.out)
    assert (doc["provider"], doc["protected"], doc["needs_confirmation"]) == ("lab", True, True)
    refused = drill(capsys, "run", "quarterly-dr", "--env", "lab", "--json")
    assert (refused.code, refused.out) == (2, "")
    assert "--yes" in refused.err and "Traceback" not in refused.err


def test_a_new_environment_missing_its_provider_names_the_variable(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DRILL_ENVIRONMENTS__STAGING__REGION", "us-east-1")
    res = drill(capsys, "plan", "quarterly-dr", "--env", "staging", "--json")
    assert (res.code, res.out) == (2, "")
    first = res.err.splitlines()[0]
    assert first.startswith("drill: error: DRILL_ENVIRONMENTS__STAGING__REGION: "), res.err
    assert "(environments.staging.provider)" in first and "<defaults>" not in res.err


def test_lab_aws_without_the_aws_lab_says_how_to_start_it(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    res = drill(capsys, "plan", "rds-failover", "--env", "lab-aws", "--json")
    assert (res.code, res.out) == (2, ""), res.err
    assert "drill lab up --aws" in res.err and "Traceback" not in res.err


def test_a_probe_set_by_a_variable_is_blamed_on_that_variable(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A problem with `probes` (the mapping) named the first variable of the environment
    (ENDPOINT_URL), not the one that set the offending probe."""
    prefix = "DRILL_ENVIRONMENTS__EMU__"
    monkeypatch.setenv(prefix + "PROVIDER", "aws")
    monkeypatch.setenv(prefix + "ENDPOINT_URL", "http://127.0.0.1:5000")
    monkeypatch.setenv(prefix + "PROBES__DB", "host=127.0.0.1 hostaddr=10.1.1.1 dbname=app")
    res = drill(capsys, "plan", "rds-failover", "--env", "emu", "--json")
    assert (res.code, res.out) == (2, "")
    first = res.err.splitlines()[0]
    assert first.startswith(f"drill: error: {prefix}PROBES__DB: probes.db: "), res.err
    assert "10.1.1.1" in first


def test_a_variable_reaches_an_environment_whose_name_has_a_dash_or_capitals(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A variable name cannot hold `-`: DRILL_ENVIRONMENTS__PROD_EU__PROTECTED=true made a
    new environment `prod_eu` beside drill.yaml's `prod-eu` (left unprotected), and the
    run failed with `drill.yaml:1: Field required (environments.prod_eu.provider)` —
    blaming drill.yaml. The variable now changes the environment drill.yaml names, its
    name matched without regard to case and with `_` for `-`; a mapping only variables
    make is blamed on them."""
    (workdir / "drill.yaml").write_text(
        "environments:\n  prod-eu: {provider: lab}\n  Staging2: {provider: lab}\n"
    )
    monkeypatch.setenv("DRILL_ENVIRONMENTS__PROD_EU__PROTECTED", "true")
    monkeypatch.setenv("DRILL_ENVIRONMENTS__STAGING2__PROTECTED", "true")
    for env in ("prod-eu", "Staging2"):
        res = drill(capsys, "plan", "rds-failover", "--env", env, "--json")
        assert res.code == 0, res.err
        assert json.loads(res.out)["protected"] is True, env
    monkeypatch.setenv("DRILL_ENVIRONMENTS__NEW__REGION", "us-east-1")
    res = drill(capsys, "plan", "rds-failover", "--json")
    assert res.code == 2
    first = res.err.splitlines()[0]
    assert first.startswith("drill: error: DRILL_ENVIRONMENTS__NEW__REGION: "), res.err
    assert "(environments.new.provider)" in first and "drill.yaml" not in first


def test_a_variable_that_matches_two_environments_is_refused(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (workdir / "drill.yaml").write_text(
        "environments:\n  prod-eu: {provider: lab}\n  prod_eu: {provider: lab}\n"
    )
    monkeypatch.setenv("DRILL_ENVIRONMENTS__PROD_EU__PROTECTED", "true")
    res = drill(capsys, "plan", "rds-failover", "--env", "prod-eu", "--json")
    assert (res.code, res.out) == (2, "")
    assert "DRILL_ENVIRONMENTS__PROD_EU__PROTECTED" in res.err
    assert "prod-eu" in res.err and "prod_eu" in res.err, res.err
