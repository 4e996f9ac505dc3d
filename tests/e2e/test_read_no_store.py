"""Read commands where no evidence database exists: they make none (DESIGN 11: read-only
commands never write).

Found as a user: `drill runs list`, `status`, `findings list`, `serve` and `evidence
verify` in a directory without one each created `.drill/evidence.db`; `evidence verify`
then said "evidence journal OK: 0 events" — an auditor pointing it at the wrong directory
was told the evidence verifies — and `evidence export` signed an empty bundle. Now the
listings read as empty and create nothing; `verify` and `export` say there is no store
(exit 2). Where drill on this machine did record a journal (the database file was
removed), `verify` and `export` say that evidence is gone (exit 1, a --json document)
and the listings say so on stderr.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.clihelp import run
from tests.e2e.defs import runbook, write
from tests.e2e.test_serve_outside import Served

LISTINGS = [
    (["runs", "list"], 0, "no runs yet"),
    (["runs", "list", "--json"], 0, "[]"),
    (["runs", "show", "r-20261201-000000-abcdef"], 2, ""),
    (["status"], 0, "quarterly-dr"),
    (["status", "--json"], 0, '"drills"'),
    (["findings", "list"], 0, "no findings"),
    (["findings", "list", "--json"], 0, "[]"),
    (["findings", "show", "1"], 2, ""),
    (["report", "r-20261201-000000-abcdef", "--html"], 2, ""),
    (["schedule", "list"], 0, "no schedules"),
    (["gameday", "list"], 0, "no game days"),
]


def test_read_commands_in_an_empty_directory_create_nothing(workdir: Path) -> None:
    for args, code, said in LISTINGS:
        res = run(workdir, *args)
        assert res.code == code, (args, res.err)
        assert said in res.out, (args, res.out)
        assert "Traceback" not in res.err
        assert not (workdir / ".drill").exists(), f"`drill {' '.join(args)}` made a store"

    store = workdir / ".drill" / "evidence.db"
    for args in (
        ["evidence", "verify"],
        ["evidence", "verify", "--json"],
        ["evidence", "export", "--period", "2026-Q4", "--out", "q.zip"],
        ["evidence", "export", "--period", "2026-Q4", "--out", "q.zip", "--json"],
    ):
        res = run(workdir, *args)
        assert res.code == 2, (args, res.err)
        line, hint = res.err.strip().splitlines()
        assert (
            line
            == f"drill: error: no evidence database at {store}: nothing has been recorded there"
        )
        assert "--config" in hint and res.out == ""
        assert not (workdir / ".drill").exists(), f"`drill {' '.join(args)}` made a store or a key"
    assert not (workdir / "q.zip").exists()


def test_the_dashboard_of_an_empty_directory_creates_nothing(workdir: Path) -> None:
    server = Served(workdir)
    try:
        status, _, body = server.get("/api/runs")
        assert status == 200 and json.loads(body) == []
        assert server.get("/api/status")[0] == 200
        assert server.get("/")[0] == 200
        assert server.get("/metrics")[0] == 200
        status, _, body = server.get("/evidence/export?period=2026-Q4")
        assert status == 400 and b"no evidence database" in body
        assert not (workdir / ".drill").exists(), "drill serve made a store"

        # a drill run meanwhile makes the store: the dashboard shows it from then on
        rb = write(workdir, "runbooks/m.yaml", runbook(workdir / "marker"))
        ran = run(workdir, "run", str(rb), "--json")
        assert ran.code == 0, ran.err
        status, _, body = server.get("/api/runs")
        assert status == 200
        assert [r["run_id"] for r in json.loads(body)] == [json.loads(ran.out)["run_id"]]
    finally:
        log = server.log()
    assert "no evidence database at" in log and "Traceback" not in log


@pytest.mark.parametrize("as_json", [False, True])
def test_a_removed_store_is_lost_evidence_not_an_empty_one(workdir: Path, as_json: bool) -> None:
    rb = write(workdir, "runbooks/m.yaml", runbook(workdir / "marker"))
    assert run(workdir, "run", str(rb)).code == 0
    assert run(workdir, "evidence", "verify").code == 0
    for f in (workdir / ".drill").glob("evidence.db*"):
        f.unlink()

    flag = ["--json"] if as_json else []
    verified = run(workdir, "evidence", "verify", *flag)
    assert verified.code == 1, verified.err
    (line, hint) = verified.err.strip().splitlines()
    assert line.startswith("drill: error: the evidence database ") and " is gone: " in line
    assert "journal-heads.json" in hint
    if as_json:
        doc = json.loads(verified.out)
        assert doc["ok"] is False and doc["first_break"]["kind"] == "database"
        assert "is gone" in doc["first_break"]["detail"]
    exported = run(workdir, "evidence", "export", "--period", "2026-Q4", "--out", "q.zip", *flag)
    assert exported.code == 1 and " is gone: " in exported.err
    if as_json:
        assert json.loads(exported.out)["ok"] is False
    assert not (workdir / "q.zip").exists()

    listed = run(workdir, "runs", "list", "--json")
    assert listed.code == 0 and json.loads(listed.out) == []
    assert "drill: warning: the evidence database " in listed.err and "is gone" in listed.err
    assert not list((workdir / ".drill").glob("evidence.db*")), "nothing was recreated"

    again = run(workdir, "run", str(rb))  # a writer makes a new store there: said once
    assert again.code == 0, again.err
    warned = [ln for ln in again.err.splitlines() if "is gone" in ln]
    assert len(warned) == 1 and "a new one is made there" in warned[0], again.err
