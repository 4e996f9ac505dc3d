"""A stop (SIGTERM, Ctrl-C) of a command that does not run drills: it ends like a
Ctrl-C — its clean-ups run, one line, exit 3 (DESIGN 5: aborted by a signal). SIGTERM's
default killed drill at once (exit 143): `evidence export` left its half-written bundle
beside --out (``.drill-PID-….tmp``), which nothing removes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.test_crash_safety import drill
from tests.e2e.test_store_faults import recorded

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    ("action", "said"),
    [("term", "stopped (SIGTERM)"), ("int", "interrupted"), ("hup", "stopped (SIGHUP)")],
)
def test_a_stopped_export_leaves_no_bundle_and_no_half_written_file(
    workdir: Path, action: str, said: str
) -> None:
    recorded(workdir)
    out = workdir / "out"
    out.mkdir()
    args = ["evidence", "export", "--period", "2026-Q4", "--out", str(out / "q.zip"), "--json"]
    res = drill(workdir, *args, crash=f"export:journal={action}")
    assert f"drill: test hook: {action} at export:journal" in res.err, res.err
    assert res.code == 3, res.err
    assert f"drill: {said}" in res.err and "Traceback" not in res.err, res.err
    stopped = json.loads(res.out)  # --json: the document of an export that wrote nothing
    assert (stopped["ok"], stopped["bundle"]) == (False, None) and "stopped" in stopped["error"]
    assert sorted(p.name for p in out.iterdir()) == []  # neither the bundle nor a part of it
    again = drill(workdir, *args)
    assert again.code == 0, again.err
    assert json.loads(again.out)["ok"] is True and sorted(p.name for p in out.iterdir()) == [
        "q.zip"
    ]


@pytest.mark.parametrize(
    ("func", "code", "says"),
    [
        ("fail", 1, "findings recorded: `drill runs show "),
        ("interrupt", 3, "drill: aborted (received SIGINT)"),
    ],
)
def test_run_json_that_did_not_succeed_says_so_on_stderr(
    workdir: Path, func: str, code: int, says: str
) -> None:
    """`drill run --json` of a run that failed or was stopped said nothing on stderr —
    the human line the run without --json gives; stdout stays the one document."""
    from tests.e2e.defs import write
    from tests.e2e.test_store_faults import with_step

    marker = workdir / "marker"
    rb = write(workdir, "runbooks/x.yaml", with_step(marker, "x-runbook", "then", func))
    res = drill(workdir, "run", str(rb), "--json")
    assert res.code == code, res.err
    doc = json.loads(res.out)
    assert says in " ".join(res.err.split()), res.err
    assert doc["status"] == ("failed" if code == 1 else "aborted")
    assert not marker.exists()
