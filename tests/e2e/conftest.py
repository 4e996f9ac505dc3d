"""Fixtures for end-to-end tests on the local DR lab."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.clihelp import run


def running_lab(tmp_path_factory: pytest.TempPathFactory, *up_args: str) -> Iterator[Path]:
    """A working directory with a running lab (`drill lab up UP_ARGS…`), then `lab down`."""
    from orchestrator import pgbin
    from orchestrator.errors import LabError

    try:
        pgbin.bindir()
    except LabError as exc:
        pytest.skip(f"PostgreSQL server not installed: {exc.message}")
    cwd = tmp_path_factory.mktemp("lab")
    up = run(cwd, "lab", "up", *up_args, timeout=240)
    assert up.code == 0, up.err
    yield cwd
    # --yes: a test may have made the lab a protected environment's (drill.yaml)
    run(cwd, "lab", "down", "--yes", timeout=180)


@pytest.fixture(scope="module")
def labdir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A working directory with a running lab, one per test module (`drill lab up`)."""
    yield from running_lab(tmp_path_factory)


@pytest.fixture(scope="module")
def awslab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A working directory with the AWS-shaped lab running (`drill lab up --aws`), one
    per test module."""
    yield from running_lab(tmp_path_factory, "--aws")


def lab_status(cwd: Path) -> dict[str, Any]:
    """`drill lab status --json` in ``cwd``."""
    res = run(cwd, "lab", "status", "--json")
    assert res.code == 0, res.err
    doc: dict[str, Any] = json.loads(res.out)
    return doc


def aws_client(awslab: Path, service: str, region: str = "us-east-1") -> Any:
    """A plain boto3 client of the running lab's AWS endpoint (no drill code,
    placeholder keys): what any AWS tool a user points at the lab sees."""
    import boto3

    return boto3.client(
        service,
        region_name=region,
        endpoint_url=lab_status(awslab)["aws"]["endpoint_url"],
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )


def lab_aws_env(cwd: Path, name: str, **extra: Any) -> dict[str, Any]:
    """Write a drill.yaml in ``cwd`` with environment ``name``: the running lab's AWS
    endpoint and Terraform state, plus ``extra`` (e.g. ``probes="none"``; without a
    ``probes`` key the probes are derived from the state). Returns the lab's ``aws``
    status block."""
    aws: dict[str, Any] = lab_status(cwd)["aws"]
    env = {
        "provider": "aws",
        "region": aws["region"],
        "dr_region": aws["dr_region"],
        "endpoint_url": aws["endpoint_url"],
        "terraform": {"state": aws["terraform_state"]},
        **extra,
    }
    (cwd / "drill.yaml").write_text(json.dumps({"environments": {name: env}}))
    return aws
