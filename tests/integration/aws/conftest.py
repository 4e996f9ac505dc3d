"""Fixtures for AWS tests: a moto server on 127.0.0.1, the reference stack in it, and a
drill.yaml whose AWS environments point every client at it.

Real AWS is unreachable by construction: fake credentials, no config/credentials
files, ``AWS_ENDPOINT_URL`` set to the emulator (so even a client built without
drill's factory lands there), and ``endpoint_url`` on every environment.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.integration.aws import stack as stack_mod
from tests.integration.aws.moto_server import MotoServer

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    server = MotoServer(tmp_path_factory.mktemp("moto")).start()
    yield server
    server.stop()


@pytest.fixture
def aws_creds(moto: MotoServer, monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("AWS_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto.url)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@dataclass
class Stack:
    url: str
    moto: MotoServer
    state: dict[str, Any]
    dir: Path
    run_requests: list[dict[str, Any]] = field(default_factory=list)

    def client(self, service: str, region: str = "us-east-1") -> Any:
        return stack_mod._client(self.url, service, region)

    def attrs(self, address: str) -> dict[str, Any]:
        for res in self.state["resources"]:
            prefix = f"{res['module']}." if res.get("module") else ""
            base = f"{prefix}{res['type']}.{res['name']}"
            for inst in res["instances"]:
                idx = inst.get("index_key")
                if address in (base if idx is None else f"{base}[{idx}]", base):
                    return dict(inst["attributes"])
        raise KeyError(address)


def env_block(url: str, **extra: Any) -> dict[str, Any]:
    env = {
        "provider": "aws",
        "region": "us-east-1",
        "dr_region": "us-west-2",
        "endpoint_url": url,
        "terraform": {"state": "terraform.tfstate"},
        "probes": "none",
        # explicit, through the module path of the provider alias (aws.dr); the other
        # roles are discovered from the state
        "targets": {"dr_replica": "module.dr.aws_db_instance.replica"},
    }
    env.update(extra)
    return env


def write_config(directory: Path, url: str, **envs: dict[str, Any]) -> Path:
    doc = {
        "environments": envs or {"aws": env_block(url)},
        "paths": {
            "runbooks": [str(HERE / "runbooks")],
            "drills": [str(HERE / "runbooks")],
            "experiments": [str(directory / "experiments")],
        },
    }
    path = directory / "drill.yaml"  # JSON is valid YAML
    path.write_text(json.dumps(doc, indent=2))
    return path


@pytest.fixture
def aws_stack(moto: MotoServer, aws_creds: None, workdir: Path) -> Stack:
    """A fresh emulated account with the reference stack; state + drill.yaml in cwd."""
    moto.reset()
    state = stack_mod.build(moto.url)
    stack_mod.put_replica_lag(moto.url, 2.0)
    (workdir / "terraform.tfstate").write_text(json.dumps(state, indent=1))
    write_config(
        workdir, moto.url, aws=env_block(moto.url), prot=env_block(moto.url, protected=True)
    )
    moto._post("/moto-api/recorder/reset-recording")
    return Stack(moto.url, moto, state, workdir)


def drill(*argv: str) -> int:
    from orchestrator.cli import main

    return main(list(argv))
