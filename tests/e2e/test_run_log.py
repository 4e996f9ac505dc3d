"""Every run keeps its log (what drill said, one JSON line per progress event) as an
artifact: secrets masked, bounded, in the export bundle under journals/ and listed in
SHA256SUMS, and the bundle verifies."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import pytest

from orchestrator.engine.reporter import QuietReporter
from orchestrator.engine.runlog import RunLog
from tests.clihelp import drill
from tests.e2e.defs import activity, experiment, write

SECRET = "Sup3rS3cretRunLogVal"


def _lines(content: bytes) -> list[dict[str, object]]:
    return [json.loads(line) for line in content.decode().splitlines()]


def test_runbook_and_experiment_runs_keep_their_log(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = workdir / "marker"
    write(
        workdir,
        "runbooks/logged.yaml",
        f"""id: logged
title: a runbook whose step fails with a password in its message
scenario: test
steps:
  - name: inject the fault
    kind: action
    activity: {activity("touch", path=str(marker))}
  - name: connect
    kind: action
    activity: {activity("fail", message=f"cannot connect: password={SECRET}")}
rollback:
  - name: remove the marker
    kind: action
    activity: {activity("remove", path=str(marker))}
""",
    )
    exp = write(workdir, "exp.yaml", experiment(workdir / "exp-marker"))
    failed = drill(capsys, "run", "logged", "--json")
    assert failed.code == 1, failed.err
    ok = drill(capsys, "run", str(exp), "--json")
    assert ok.code == 0, ok.err
    runbook_id, exp_id = json.loads(failed.out)["run_id"], json.loads(ok.out)["run_id"]
    day = json.loads(failed.out)["started_at"][:10]

    bundle = workdir / "b.zip"
    res = drill(capsys, "evidence", "export", "--from", day, "--to", day, "--out", str(bundle))
    assert res.code == 0, res.err
    with zipfile.ZipFile(bundle) as z:
        files = {n: z.read(n) for n in z.namelist()}
    sums = dict(reversed(line.split("  ", 1)) for line in files["SHA256SUMS"].decode().splitlines())
    runs = {r["id"]: r for r in json.loads(files["runs.json"])["runs"]}
    for run_id in (runbook_id, exp_id):
        (log,) = [a for a in runs[run_id]["artifacts"] if a["name"] == "run-log.jsonl"]
        content = files[log["bundle_path"]]
        assert hashlib.sha256(content).hexdigest() == log["sha256"] == sums[log["bundle_path"]]
        lines = _lines(content)
        assert lines[0]["kind"] == "run.start" and lines[0]["run_id"] == run_id
        assert lines[-1]["kind"] == "run.end"
    exp_names = {a["name"] for a in runs[exp_id]["artifacts"]}
    assert exp_names == {"run-log.jsonl", "journal-exp.json"}

    (log,) = [a for a in runs[runbook_id]["artifacts"] if a["name"] == "run-log.jsonl"]
    lines = _lines(files[log["bundle_path"]])
    ends = [(x["phase"], x["name"], x["status"]) for x in lines if x["kind"] == "step.end"]
    assert ends == [
        ("step", "inject the fault", "succeeded"),
        ("step", "connect", "failed"),
        ("rollback", "remove the marker", "succeeded"),
    ]
    failure = next(x for x in lines if x.get("status") == "failed" and x["kind"] == "step.end")
    assert "cannot connect: password=" in str(failure["detail"])
    assert lines[-1] == {**lines[-1], "status": "failed", "exit_code": 1}
    assert all(SECRET.encode() not in content for content in files.values())
    verified = drill(capsys, "evidence", "verify", str(bundle))
    assert verified.code == 0, verified.err


def test_the_log_is_bounded_keeping_its_start_and_its_end() -> None:
    log = RunLog(QuietReporter(), limit=4096)
    log.run_started("r-1", "big", "lab", 1)
    for i in range(2000):
        log.note(f"line {i}")
    log.note("x" * 100_000)  # one huge line is cut, not kept whole
    log.ended("succeeded", 0, None)
    content = log.content()
    assert len(content) <= 4096 + 100
    lines = _lines(content)
    assert lines[0]["kind"] == "run.start" and lines[-1]["kind"] == "run.end"
    (gap,) = [x for x in lines if x["kind"] == "log.truncated"]
    kept = sum(1 for x in lines if x["kind"] == "note")
    assert kept + int(str(gap["lines_left_out"])) == 2001


def _artifacts(workdir: Path, run_id: str) -> dict[str, bytes]:
    import sqlite3

    with sqlite3.connect(workdir / ".drill" / "evidence.db") as conn:
        rows = conn.execute("SELECT name, content FROM artifact WHERE run_id = ?", (run_id,))
        return {name: bytes(content) for name, content in rows}


@pytest.mark.slow
def test_a_recovered_run_keeps_what_its_recovery_said(workdir: Path) -> None:
    from tests.e2e.test_crash_safety import drill as drill_process
    from tests.e2e.test_crash_safety import killed_run

    run_id = killed_run(workdir, workdir / "marker")
    assert _artifacts(workdir, run_id) == {}, "the killed process wrote no log"
    assert drill_process(workdir, "recover").code == 0
    (name,) = _artifacts(workdir, run_id)
    lines = _lines(_artifacts(workdir, run_id)[name])
    assert name == "recovery-log.jsonl"
    said = [str(x.get("message")) for x in lines if x["kind"] == "note"]
    assert said[0].startswith(f"recovery of run {run_id}")
    assert "  rollback remove the marker: ok" in said
    assert lines[-1]["kind"] == "run.end" and lines[-1]["status"] == "crashed"
