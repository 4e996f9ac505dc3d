"""An AWS endpoint that does not answer during `drill run` (issue 18, item 4): a clear
error naming the call and the endpoint, the run ends `failed` (exit 1), never left
`running` for the next command to recover as `crashed`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from orchestrator.pgbin import free_port
from tests.clihelp import drill

STATE = Path(__file__).resolve().parents[1] / "fixtures" / "terraform" / "reference.tfstate"


def test_unreachable_endpoint_fails_the_run_cleanly(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "drill-test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "drill-test")
    shutil.copy(STATE, workdir / "tf.json")
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    (workdir / "drill.yaml").write_text(
        "environments:\n  s: {provider: aws, region: us-east-1, dr_region: us-west-2, "
        f'endpoint_url: "{url}", terraform: {{state: tf.json}}, probes: none}}\n'
    )  # probes: none — probes derived from the state would name non-loopback hosts,
    # which an emulated environment refuses before the run (exit 2): not this test's point
    res = drill(capsys, "run", "rds-failover", "--env", "s")
    assert res.code == 1
    assert "internal error" not in res.err
    assert f"cannot reach {url}" in " ".join(res.err.split())  # the console wraps lines
    runs = drill(capsys, "runs", "list", "--json")
    assert [r["status"] for r in json.loads(runs.out)] == ["failed"]
    assert "recovering" not in runs.err  # nothing was left running
    run_id = json.loads(runs.out)[0]["run_id"]
    doc = json.loads(drill(capsys, "runs", "show", run_id, "--json").out)
    assert [s["status"] for s in doc["scenarios"]] == ["failed"]
    assert f"cannot reach {url}" in json.dumps(doc)
