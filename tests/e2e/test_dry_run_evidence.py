"""A `--dry actions` run injected no fault: it is no DR test anywhere it is shown.

It was recorded as a succeeded run whose scenario met its objectives, so the export
counted it as `dr_test_executed` (SOC 2 A1.3 satisfied by a run that did nothing) and
`drill status` took it for the quarter's success.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path

from tests.clihelp import drill
from tests.e2e.defs import experiment, write

DRILL = """id: dry-drill
title: one marker experiment, quarterly
schedule: quarterly
scenarios:
  - experiment: marker
"""


def _controls(bundle: Path) -> dict[str, dict]:
    with zipfile.ZipFile(bundle) as z:
        doc = json.loads(z.read("controls/soc2.json"))
    return {c["control_id"]: c for c in doc["results"]}


def test_a_dry_actions_run_tests_nothing_and_says_so(workdir: Path, capsys) -> None:
    marker = workdir / "marker-file"
    write(workdir, "experiments/marker.yaml", experiment(marker))
    write(workdir, "drills/dry-drill.yaml", DRILL)

    res = drill(capsys, "run", "dry-drill", "--dry", "actions", "--json")
    assert res.code == 0, res.err
    assert not marker.exists()
    (sc,) = json.loads(res.out)["scenarios"]
    assert sc["met"] is None and sc["dry"] == "actions"
    assert sc["met_reason"].startswith("dry run (--dry actions): no action ran")
    run_id = json.loads(res.out)["run_id"]
    shown = json.loads(drill(capsys, "runs", "show", run_id, "--json").out)
    assert shown["scenarios"][0]["dry"] == "actions"
    status = json.loads(drill(capsys, "status", "--json").out)
    (mine,) = [d for d in status["drills"] if d["drill"] == "dry-drill"]
    assert mine["last_success"] is None  # a dry run is no success of the quarter

    assert drill(capsys, "evidence", "export", "--run", run_id, "--out", "dry.zip").code == 0
    a13 = _controls(workdir / "dry.zip")["A1.3"]
    assert a13["satisfied"] is False and a13["evidence"]["dr_test_executed"] == []
    with zipfile.ZipFile(workdir / "dry.zip") as z:
        html = z.read("report.html").decode()
        rows = list(csv.DictReader(io.StringIO(z.read("runs.csv").decode())))
        oscal = z.read("oscal/assessment-results.json").decode()
    assert "succeeded (dry run)" in html and "dry runs (no fault injected" in html
    assert rows[0]["objectives_not_judged_because"].startswith("dry run (--dry actions)")
    assert rows[0]["run_status"] == "succeeded (dry run)"  # was "succeeded", as a real run
    assert "status succeeded (dry run)" in oscal

    # the same drill run for real is the DR test: the checks above can pass
    res = drill(capsys, "run", "dry-drill", "--json")
    assert res.code == 0, res.err
    real = json.loads(res.out)
    assert real["scenarios"][0]["met"] is True and "dry" not in real["scenarios"][0]
    status = json.loads(drill(capsys, "status", "--json").out)
    (mine,) = [d for d in status["drills"] if d["drill"] == "dry-drill"]
    assert mine["last_success_run_id"] == real["run_id"]
    assert drill(capsys, "evidence", "export", "--run", real["run_id"], "--out", "r.zip").code == 0
    a13 = _controls(workdir / "r.zip")["A1.3"]
    assert [e["ref"] for e in a13["evidence"]["dr_test_executed"]] == [f"run:{real['run_id']}"]


def test_runs_list_and_status_say_a_dry_run_is_one(workdir: Path, capsys) -> None:
    """`drill runs list` (and /runs, /api/runs) and `drill status`'s last run showed a
    `--dry actions` run as plain "succeeded", beside the real runs, where `runs show` and
    every report say dry run; status's times said no time zone."""
    write(workdir, "experiments/marker.yaml", experiment(workdir / "marker-file"))
    write(workdir, "drills/dry-drill.yaml", DRILL)
    dry = json.loads(drill(capsys, "run", "dry-drill", "--dry", "actions", "--json").out)
    status = json.loads(drill(capsys, "status", "--json").out)
    (mine,) = [d for d in status["drills"] if d["drill"] == "dry-drill"]
    assert mine["last_run_id"] == dry["run_id"] and mine["last_run_dry_run"] is True
    text = drill(capsys, "status").out
    assert "(dry run)" in text and "(UTC)" in text, text
    real = json.loads(drill(capsys, "run", "dry-drill", "--json").out)
    listed = {r["run_id"]: r for r in json.loads(drill(capsys, "runs", "list", "--json").out)}
    assert listed[dry["run_id"]]["dry_run"] is True
    assert listed[real["run_id"]]["dry_run"] is False
    rows = {
        line.split()[0]: line
        for line in drill(capsys, "runs", "list").out.splitlines()
        if "r-" in line
    }
    assert "succeeded (dry run)" in rows[dry["run_id"]], rows
    assert "dry run" not in rows[real["run_id"]], rows
    status = json.loads(drill(capsys, "status", "--json").out)
    (mine,) = [d for d in status["drills"] if d["drill"] == "dry-drill"]
    assert mine["last_run_id"] == real["run_id"] and mine["last_run_dry_run"] is False
