"""`drill run` end to end through the CLI: JSON contract, exit codes, rollbacks."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.clihelp import REPO, drill
from tests.e2e.defs import experiment, runbook, write

CONTRACT_KEYS = {"run_id", "drill", "env", "status", "started_at", "ended_at", "scenarios"}
SCENARIO_KEYS = {
    "id",
    "status",
    "rto_s",
    "rpo_s",
    "lost_writes",
    "objectives",
    "met",
    "fault_injected_at",
    "service_restored_at",
}


def test_experiment_run_json_matches_runs_show(workdir: Path, capsys) -> None:
    marker = workdir / "marker"
    exp = write(workdir, "exp.yaml", experiment(marker))
    res = drill(capsys, "run", str(exp), "--env", "lab", "--json")
    assert res.code == 0, res.err
    doc = json.loads(res.out)  # stdout is exactly one JSON document
    assert doc.keys() >= CONTRACT_KEYS
    assert doc["status"] == "succeeded" and doc["env"] == "lab" and doc["drill"] == "exp"
    assert doc["started_at"].endswith("Z") and doc["ended_at"].endswith("Z")
    (sc,) = doc["scenarios"]
    assert sc.keys() >= SCENARIO_KEYS
    assert sc["objectives"].keys() == {"rto_s", "rpo_s"}
    assert not marker.exists() and (workdir / "marker.rolled-back").exists()

    shown = drill(capsys, "runs", "show", doc["run_id"], "--json")
    assert shown.code == 0
    again = json.loads(shown.out)
    assert {k: again[k] for k in doc} == doc
    names = [(s["phase"], s["name"], s["status"]) for s in again["steps"]]
    assert ("step", "inject-marker", "succeeded") in names
    assert ("rollback", "remove-marker", "succeeded") in names

    listed = json.loads(drill(capsys, "runs", "list", "--json").out)
    assert [r["run_id"] for r in listed] == [doc["run_id"]]


def test_deviated_experiment_exits_1_and_rolls_back(workdir: Path, capsys) -> None:
    marker = workdir / "marker"
    exp = write(workdir, "exp.yaml", experiment(marker, deviate=True))
    res = drill(capsys, "run", str(exp), "--json")
    assert res.code == 1
    doc = json.loads(res.out)
    assert doc["status"] == "failed" and doc["scenarios"][0]["met"] is False
    shown = json.loads(drill(capsys, "runs", "show", doc["run_id"], "--json").out)
    assert [f["title"] for f in shown["findings"]] == ["exp: steady state deviated: nothing-broken"]
    assert not marker.exists(), "rollbacks must run after a failed experiment"
    # its progress line said "objectives NOT met" of a scenario that had none, where the
    # table beneath it says failed
    res = drill(capsys, "run", str(exp))
    said = " ".join((res.out + res.err).split())
    assert "· failed (no RTO/RPO objective: its steps or steady state decided)" in said, said
    assert "objectives NOT met" not in said


def test_failed_method_action_is_completed_as_chaos_says(workdir: Path, capsys) -> None:
    """chaos: a failing method activity does not fail the experiment (journal completed);
    drill agrees (DESIGN 13) and records that step as failed."""
    marker = workdir / "marker"
    exp = write(workdir, "exp.yaml", experiment(marker, fail=True))
    res = drill(capsys, "run", str(exp), "--json")
    assert res.code == 0, res.err
    doc = json.loads(res.out)
    shown = json.loads(drill(capsys, "runs", "show", doc["run_id"], "--json").out)
    steps = {s["name"]: s["status"] for s in shown["steps"]}
    assert steps["break"] == "failed" and steps["inject-marker"] == "succeeded"
    assert not marker.exists()


def test_failing_runbook_step_runs_rollbacks(workdir: Path, capsys) -> None:
    marker = workdir / "marker"
    rb = write(workdir, "runbooks/marker.yaml", runbook(marker, fail=True))
    res = drill(capsys, "run", str(rb), "--json")
    assert res.code == 1, res.err
    doc = json.loads(res.out)
    assert doc["status"] == "failed"
    assert not marker.exists() and (workdir / "marker.rolled-back").exists()
    shown = json.loads(drill(capsys, "runs", "show", doc["run_id"], "--json").out)
    failed = [s for s in shown["steps"] if s["status"] == "failed"]
    assert [s["name"] for s in failed] == ["a step that fails"]
    assert "planned failure" in failed[0]["error"]
    assert any(f["kind"] == "step_failed" for f in shown["findings"])


def test_runbook_by_id_from_local_dir(workdir: Path, capsys) -> None:
    marker = workdir / "marker"
    write(workdir, "runbooks/marker.yaml", runbook(marker, rb_id="my-runbook"))
    res = drill(capsys, "run", "my-runbook", "--json")
    assert res.code == 0, res.err
    assert json.loads(res.out)["drill"] == "my-runbook"


def test_unknown_id_is_usage_error(workdir: Path, capsys) -> None:
    res = drill(capsys, "run", "no-such-drill", "--json")
    assert res.code == 2
    assert res.out == ""
    assert "drill: error: no drill, runbook or experiment with id 'no-such-drill'" in res.err
    assert "quarterly-dr" in res.err or "known ids" in res.err
    assert "Traceback" not in res.err


def test_unknown_env_is_usage_error(workdir: Path, capsys) -> None:
    exp = write(workdir, "exp.yaml", experiment(workdir / "m"))
    res = drill(capsys, "run", str(exp), "--env", "prod")
    assert res.code == 2 and "unknown environment 'prod'" in res.err


def test_bad_mode_is_usage_error(workdir: Path, capsys) -> None:
    exp = write(workdir, "exp.yaml", experiment(workdir / "m"))
    res = drill(capsys, "run", str(exp), "--mode", "chaos")
    assert res.code == 2 and "--mode" in res.err


def test_protected_environment_refuses_without_yes(workdir: Path, capsys) -> None:
    write(workdir, "drill.yaml", "environments:\n  prod-lab: {provider: lab, protected: true}\n")
    rb = write(
        workdir,
        "runbooks/failover.yaml",
        """id: failover
title: Failover
steps:
  - action: db.failover
""",
    )
    res = drill(capsys, "run", str(rb), "--env", "prod-lab", "--json")
    assert res.code == 2
    assert "protected" in res.err and "--yes" in res.err
    assert res.out == ""
    # nothing was started: no run recorded
    assert json.loads(drill(capsys, "runs", "list", "--json").out) == []


def test_manual_step_waits_for_ack(workdir: Path, capsys) -> None:
    import threading
    import time

    from orchestrator.config import load_settings
    from orchestrator.engine.ack import acknowledge
    from orchestrator.evidence.records import Run
    from orchestrator.evidence.writer import EvidenceDB

    marker = workdir / "marker"
    rb = write(workdir, "runbooks/manual.yaml", runbook(marker, manual=True))
    db = EvidenceDB.open(load_settings().database_url())

    def ack_when_waiting() -> None:
        for _ in range(200):
            runs = db.records(Run)
            run = runs[0] if runs else None
            if run is not None and marker.exists():
                time.sleep(0.3)
                acknowledge(db, run.id, "alice", "dashboard checked")
                return
            time.sleep(0.1)

    t = threading.Thread(target=ack_when_waiting)
    t.start()
    res = drill(capsys, "run", str(rb), "--json")
    t.join()
    assert res.code == 0, res.err
    shown = json.loads(drill(capsys, "runs", "show", json.loads(res.out)["run_id"], "--json").out)
    manual = next(s for s in shown["steps"] if s["kind"] == "manual")
    assert manual["output"]["acknowledged_by"] == "alice"


def test_step_failed_finding_names_a_command_that_reruns_it_where_it_ran(
    workdir: Path, capsys
) -> None:
    """The corrective action of a failed step is a command to copy: it said `drill run
    RUNBOOK --only SCENARIO` without `--env`, which runs on the default `lab`, not on
    the environment that failed (and `--only` means nothing for a runbook)."""
    import shlex

    write(workdir, "drill.yaml", "environments:\n  second: {provider: lab}\n")
    marker = workdir / "marker"
    rb = write(workdir, "runbooks/marker.yaml", runbook(marker, fail=True))
    res = drill(capsys, "run", str(rb), "--env", "second", "--json")
    assert res.code == 1, res.err
    shown = json.loads(drill(capsys, "runs", "show", json.loads(res.out)["run_id"], "--json").out)
    (finding,) = [f for f in shown["findings"] if f["kind"] == "step_failed"]
    command = finding["corrective_action"].split("`")[1]
    assert command == "drill run marker-runbook --env second"
    again = drill(capsys, *shlex.split(command)[1:], "--json")
    assert again.code == 1 and json.loads(again.out)["env"] == "second"


def test_json_stdout_holds_only_the_document_when_the_experiment_prints(workdir: Path) -> None:
    """`--json`: one JSON document on stdout and nothing else there (DESIGN 5), even when
    an experiment's own code writes to stdout — a python probe's `print`, a child process
    it starts. They went before the document, and `drill run … --json | jq` broke; they
    now go to stderr with drill's other output."""
    from tests.clihelp import run

    exp = write(
        workdir,
        "printing.yaml",
        """title: an experiment that talks on stdout
description: its probe prints and its action starts a process that writes to fd 1
method:
  - type: probe
    name: prints
    provider: {type: python, module: builtins, func: print,
               arguments: {sep: "", end: "PRINTED-BY-PROBE\\n"}}
  - type: action
    name: child-writes
    provider: {type: python, module: os, func: system,
               arguments: {command: "echo WRITTEN-BY-CHILD"}}
""",
    )
    res = run(workdir, "run", str(exp), "--json")
    assert res.code == 0, res.err
    doc = json.loads(res.out)  # the whole of stdout
    assert doc["status"] == "succeeded", doc
    assert "PRINTED-BY-PROBE" in res.err and "WRITTEN-BY-CHILD" in res.err


def test_isolated_run_with_nothing_that_runs_isolated_is_refused(workdir: Path, capsys) -> None:
    """`drill run rds-failover --mode isolated`: the runbook is live-only, so nothing would
    run. It was recorded as a *succeeded* run, exit 0 — `drill status` then showed a last
    success of rds-failover and evidence exports counted a DR test that never happened.
    Now it is refused before anything starts (exit 2), and so is a drill narrowed by
    --only to live-only scenarios; the whole quarterly-dr still runs isolated."""
    res = drill(capsys, "run", "rds-failover", "--mode", "isolated", "--json")
    assert res.code == 2 and res.out == "", res
    assert "nothing would run in isolated mode" in res.err and "rds-failover" in res.err
    assert "--mode live" in res.err  # what to do instead
    res = drill(
        capsys,
        "run",
        "quarterly-dr",
        "--mode",
        "isolated",
        "--only",
        "az-loss",
        "--only",
        "rds-failover",
    )
    assert res.code == 2 and "az-loss, rds-failover" in res.err, res.err
    assert json.loads(drill(capsys, "runs", "list", "--json").out) == []
    assert not (workdir / ".drill" / "lab").exists()  # not even the lab was brought up


def test_runs_list_with_filters_matching_nothing_does_not_say_no_runs_yet(
    workdir: Path, capsys
) -> None:
    """`drill runs list --drill typo` said "no runs yet — try `drill run quarterly-dr`" in
    a store full of runs: an operator checking whether last night's drill ran was told
    nothing had ever run."""
    assert "no runs yet" in drill(capsys, "runs", "list").out
    rb = write(workdir, "runbooks/m.yaml", runbook(workdir / "marker"))
    assert drill(capsys, "run", str(rb), "--json").code == 0
    for args in (["--drill", "typo"], ["--status", "failed"], ["--offset", "1"]):
        res = drill(capsys, "runs", "list", *args)
        assert res.code == 0 and "no runs yet" not in res.out, (args, res.out)
        assert "no run matches" in res.out, (args, res.out)


def test_validate_says_an_isolated_drill_of_live_only_scenarios_runs_nothing(
    workdir: Path, capsys
) -> None:
    """`mode: isolated` over live-only runbooks passed `drill validate`; each scheduled
    run of it is refused (nothing would run). validate now says so at the `mode:` line;
    the drill can still be planned and run with `--mode live`."""
    d = write(
        workdir,
        "drills/iso.yaml",
        "id: iso\ntitle: t\nmode: isolated\nscenarios:\n"
        "  - runbook: az-loss\n  - runbook: rds-failover\n",
    )
    res = drill(capsys, "validate", str(d))
    assert res.code == 2
    assert f"{d}:3: mode: isolated, but az-loss, rds-failover are live-only" in res.err, res.err
    assert drill(capsys, "run", "iso").code == 2
    assert drill(capsys, "plan", "iso", "--mode", "live").code == 0
    write(
        workdir,
        "drills/iso.yaml",
        "id: iso\ntitle: t\nmode: isolated\nscenarios:\n"
        "  - runbook: az-loss\n  - runbook: backup-restore\n",
    )
    assert drill(capsys, "validate", str(d)).code == 0
    write(  # an experiment of chaosaws actions does not run isolated either
        workdir,
        "drills/iso.yaml",
        "id: iso\ntitle: t\nmode: isolated\nscenarios:\n"
        "  - runbook: az-loss\n  - experiment: rds-reboot-failover-chaosaws\n",
    )
    res = drill(capsys, "validate", str(d))
    assert res.code == 2 and "az-loss, rds-reboot-failover-chaosaws are live-only" in res.err


def test_a_manual_step_nobody_can_be_prompted_for_says_how_to_ack(workdir: Path, capsys) -> None:
    """Under --json (or with no terminal on stdin) a manual step waited without a word:
    the operator was not told that a step waits, what to do, nor the `drill ack` command
    — the run just timed out. It is now said on stderr (stdout keeps the one document)."""
    rb = write(
        workdir,
        "runbooks/manual.yaml",
        """id: manual
title: a manual step
steps:
  - name: operator checks the dashboard
    kind: manual
    instructions: Open the dashboard and confirm the graph is green.
    timeout: 1s
""",
    )
    for args in (["--json"], []):
        res = drill(capsys, "run", str(rb), *args)
        assert res.code == 1, res.err  # nobody acknowledged
        run_id = json.loads(drill(capsys, "runs", "list", "--json").out)[0]["run_id"]
        said = " ".join(res.err.split())  # (a console wraps long lines)
        assert "manual step 'operator checks the dashboard' waits for an operator" in said, said
        assert "Open the dashboard and confirm the graph is green." in said
        assert f"drill ack {run_id}" in said


def test_an_experiment_with_actions_drill_cannot_isolate_does_not_run_isolated(
    workdir: Path, capsys
) -> None:
    """chaosaws's reboot_db_instance(force_failover) in `--mode isolated` would have
    failed production over, recorded as an isolated run: drill tells only its own
    activities the mode. Such an experiment is skipped in isolated mode (refused alone,
    exit 2, nothing started), as a live-only runbook is; one made only of drill's own
    activities runs."""
    res = drill(capsys, "run", "rds-reboot-failover-chaosaws", "--mode", "isolated", "--json")
    assert (res.code, res.out) == (2, ""), res.err
    assert "reboot-with-failover are not drill's" in res.err, res.err
    plan = drill(capsys, "plan", "rds-reboot-failover-chaosaws", "--mode", "isolated", "--json")
    (sc,) = json.loads(plan.out)["scenarios"]
    assert "not drill's" in sc["skipped"] and sc["destructive"] is False
    own = REPO / "experiments" / "region-promotion.yaml"
    (sc,) = json.loads(drill(capsys, "plan", str(own), "--mode", "isolated", "--json").out)[
        "scenarios"
    ]
    assert "skipped" not in sc, sc
    assert json.loads(drill(capsys, "runs", "list", "--json").out) == []


def test_a_chaosaws_experiment_on_the_lab_is_refused_before_it_calls_aws(
    workdir: Path, capsys
) -> None:
    """`drill run rds-reboot-failover-chaosaws` (default environment: lab) handed chaosaws
    no endpoint: boto3 went to the real AWS endpoints with this machine's credentials —
    a forced failover of an instance named `prod-db` by default — recorded as a run on
    the lab, no --yes asked. (The tests' loopback guard failed it on the name lookup.)"""
    res = drill(capsys, "run", "rds-reboot-failover-chaosaws", "--json")
    assert (res.code, res.out) == (2, ""), res.err
    assert "call AWS (chaosaws)" in res.err and "lab-aws" in res.err, res.err
    planned = drill(capsys, "plan", "rds-reboot-failover-chaosaws")  # plan says it first
    assert planned.code == 2 and "call AWS (chaosaws)" in planned.err, planned.err
    assert json.loads(drill(capsys, "runs", "list", "--json").out) == []


def test_a_runbook_step_calling_chaosaws_on_the_lab_is_refused_too(workdir: Path, capsys) -> None:
    rb = write(
        workdir,
        "runbooks/aws-step.yaml",
        """id: aws-step
title: an inline chaosaws activity
steps:
  - name: reboot through chaosaws
    kind: action
    activity: {type: action, name: reboot, provider: {type: python,
               module: chaosaws.rds.actions, func: reboot_db_instance,
               arguments: {db_instance_identifier: prod-db, force_failover: true}}}
""",
    )
    res = drill(capsys, "run", str(rb), "--json")
    assert (res.code, res.out) == (2, ""), res.err
    assert "call AWS (chaosaws)" in res.err, res.err


def test_scheduling_a_chaosaws_experiment_on_the_lab_is_refused(workdir: Path, capsys) -> None:
    """Every fire of it would be refused: say so when the schedule is added."""
    res = drill(capsys, "schedule", "add", "rds-reboot-failover-chaosaws", "--every", "1h")
    assert res.code == 2 and "call AWS (chaosaws)" in res.err, res.err


def test_abort_or_ack_of_a_finished_run_says_it_ended(workdir: Path, capsys) -> None:
    """It said "run r-… is already succeeded"."""
    rb = write(workdir, "runbooks/m.yaml", runbook(workdir / "marker"))
    run_id = json.loads(drill(capsys, "run", str(rb), "--json").out)["run_id"]
    for command in ("abort", "ack"):
        res = drill(capsys, command, run_id)
        assert res.code == 2
        assert f"run {run_id} has already ended (succeeded); nothing to" in res.err, res.err


def test_a_file_that_is_no_definition_is_named_as_such(workdir: Path, capsys) -> None:
    """`drill run notes.txt` said "no drill, runbook or experiment with id 'notes.txt'"."""
    (workdir / "notes.txt").write_text("hello\n")
    res = drill(capsys, "run", "notes.txt")
    assert res.code == 2
    assert "notes.txt is no definition file: drill reads .yaml, .yml, .json" in res.err, res.err


def test_a_lab_environment_beside_a_protected_one_is_protected_too(workdir: Path, capsys) -> None:
    """`prod-lab: {provider: lab, protected: true}` and the implicit `lab` drive the same
    local lab: `drill run rds-failover --env lab` failed its primary over with no --yes
    asked for. (A python activity here: should the refusal regress, no lab is built.)"""
    from tests.e2e.defs import runbook

    write(workdir, "drill.yaml", "environments:\n  prod-lab: {provider: lab, protected: true}\n")
    marker = workdir / "marker"
    rb = write(workdir, "runbooks/marker.yaml", runbook(marker))
    res = drill(capsys, "run", str(rb), "--env", "lab", "--json")
    assert res.code == 2, res.err
    line = res.err.splitlines()[0]
    assert "environment 'lab' is protected (it drives the local lab, as the protected " in line
    assert "'prod-lab' does)" in line and "--yes" in res.err and res.out == ""
    assert not marker.exists(), "nothing ran"
    assert json.loads(drill(capsys, "runs", "list", "--json").out) == [], "nothing started"
    planned = json.loads(drill(capsys, "plan", str(rb), "--env", "lab", "--json").out)
    assert planned["protected"] is True and planned["needs_confirmation"] is True
    added = drill(capsys, "schedule", "add", str(rb), "--env", "lab", "--every", "1h")
    assert added.code == 2 and "as the protected 'prod-lab' does" in added.err, added.err
    confirmed = drill(capsys, "run", str(rb), "--env", "lab", "--yes", "--json")
    assert confirmed.code == 0, confirmed.err
    shown = json.loads(
        drill(capsys, "runs", "show", json.loads(confirmed.out)["run_id"], "--json").out
    )
    assert [a["env"] for a in shown["approvals"]] == ["lab"]


def test_runs_show_lists_steps_in_the_order_they_ran(workdir: Path, capsys) -> None:
    """A rollback is recorded (numbered) when the step it undoes starts: by number,
    `runs show` listed 'remove the marker' before 'inject the fault' that put it there, so
    the run read as undone before it was done. Steps are listed as they ran."""
    write(workdir, "runbooks/two.yaml", runbook(workdir / "marker", rb_id="two", wait_s=0.1))
    res = drill(capsys, "run", "two", "--json")
    assert res.code == 0, res.err
    shown = drill(capsys, "runs", "show", json.loads(res.out)["run_id"]).out
    steps = shown.split("Steps")[1].splitlines()
    names = [n for line in steps for n in ("inject", "hold", "remove") if n in line]
    assert names == ["inject", "hold", "remove"], shown


def test_an_experiment_listing_a_file_whose_name_is_not_utf8_completes(workdir: Path) -> None:
    """A probe returning a file name that is not UTF-8 (``os.listdir``: a lone surrogate in
    the text), as chaos completes it: drill could not encode chaos's journal, so the run
    ended `failed` with an `internal_error` ("UnicodeEncodeError", exit 1) after its
    rollbacks, and the journal was missing from its evidence."""
    from tests.clihelp import run

    reports = workdir / "reports"
    reports.mkdir()
    (reports / os.fsdecode(b"q4-\xff.csv")).write_text("")
    exp = write(
        workdir,
        "listing.yaml",
        f"""title: an experiment that lists a directory
description: its probe returns the names of the files there
method:
  - type: probe
    name: list-reports
    provider: {{type: python, module: os, func: listdir, arguments: {{path: "{reports}"}}}}
rollbacks:
  - type: probe
    name: list-reports-again
    provider: {{type: python, module: os, func: listdir, arguments: {{path: "{reports}"}}}}
""",
    )
    res = run(workdir, "run", str(exp), "--json", "--journal-path", "journal.json")
    assert res.code == 0, res.err
    assert "UnicodeEncodeError" not in res.err, res.err
    doc = json.loads(res.out)
    assert doc["status"] == "succeeded", doc
    journal = json.loads((workdir / "journal.json").read_text())
    assert journal["status"] == "completed"
    assert journal["run"][0]["output"] == [os.fsdecode(b"q4-\xff.csv")]
    shown = json.loads(run(workdir, "runs", "show", doc["run_id"], "--json").out)
    assert shown["findings"] == [], shown["findings"]
    import sqlite3

    db = sqlite3.connect(workdir / ".drill" / "evidence.db")
    try:
        kept = db.execute("SELECT name FROM artifact WHERE run_id = ?", (doc["run_id"],))
        assert "journal-listing.json" in {name for (name,) in kept}, "the journal is evidence"
    finally:
        db.close()
    assert run(workdir, "evidence", "verify").code == 0


def test_every_step_of_a_runbooks_plan_says_whether_it_changes_anything(capsys) -> None:
    """`drill plan --json`: a verification and a wait lacked `destructive` (and the
    verification `timeout_s`) that every other step has, so a script asking "what would
    this change?" had to guess; the verification is now described as the probe step it
    runs as."""
    planned = drill(capsys, "plan", "rds-failover", "--json")
    assert planned.code == 0, planned.err
    (sc,) = json.loads(planned.out)["scenarios"]
    steps = {(st["phase"], st["kind"]): st for st in sc["steps"]}
    assert {("verification", "probe"), ("step", "wait"), ("step", "action")} <= set(steps)
    for st in sc["steps"]:
        assert isinstance(st["destructive"], bool) and st["timeout_s"] > 0, st
    assert steps[("verification", "probe")]["destructive"] is False
    assert steps[("step", "wait")]["destructive"] is False
    assert any(st["destructive"] for st in sc["steps"] if st["phase"] == "step"), sc["steps"]
