"""`/metrics` labels each number with the environment of the run it comes from.

A drill that last succeeded on one environment and then failed on another used to
report its last success under the failing run's ``env`` label: a dashboard of
`drill_last_success_timestamp_seconds{env="lab-b"}` showed a success lab-b never had.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import redirect_stdout
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from orchestrator.cli import main
from orchestrator.web.app import create_app
from orchestrator.web.metrics import Sources
from tests.clihelp import clear_drill_env
from tests.integration.test_evidence_chain import write_definitions
from tests.integration.test_web import CADENCED

CONFIG = "environments:\n  lab: {provider: lab}\n  lab-b: {provider: lab}\n"


def _run(*args: str) -> tuple[int, dict[str, Any]]:
    out = io.StringIO()
    with redirect_stdout(out):
        code = main(["run", *args, "--json"])
    return code, json.loads(out.getvalue())


@pytest.fixture()
def samples(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[Any, float]]:
    clear_drill_env(monkeypatch)
    monkeypatch.chdir(tmp_path)
    write_definitions(tmp_path)
    (tmp_path / "drills" / "webdrill.yaml").write_text(CADENCED)
    (tmp_path / "drill.yaml").write_text(CONFIG)
    code, ok = _run("webdrill", "--env", "lab")
    assert code == 0 and ok["status"] == "succeeded"
    monkeypatch.setenv("DRILL_TEST_CRASH_AT", "scenario:noop:start=raise")
    code, failed = _run("webdrill", "--env", "lab-b")
    monkeypatch.delenv("DRILL_TEST_CRASH_AT")
    assert code == 1 and failed["status"] == "failed"
    sources = Sources.open(None)
    sources.now = lambda: datetime(2026, 12, 1, tzinfo=UTC)
    with TestClient(create_app(sources)) as client:
        text = client.get("/metrics").text
    yield {
        (s.name, s.labels.get("env"), s.labels.get("scenario")): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
        if s.labels.get("drill") == "webdrill"
    } | {("ok", None, None): _ts(ok), ("failed", None, None): _ts(failed)}


def _ts(doc: dict[str, Any]) -> float:
    return datetime.fromisoformat(doc["started_at"].replace("Z", "+00:00")).timestamp()


def test_last_success_carries_the_env_it_succeeded_on(samples: dict[Any, float]) -> None:
    ok, failed = samples[("ok", None, None)], samples[("failed", None, None)]
    assert samples[("drill_last_run_timestamp_seconds", "lab-b", None)] == pytest.approx(failed)
    assert samples[("drill_last_success_timestamp_seconds", "lab", None)] == pytest.approx(ok)
    assert ("drill_last_success_timestamp_seconds", "lab-b", None) not in samples
    assert samples[("drill_overdue", "lab-b", None)] == 0.0  # the last run's env, as before
