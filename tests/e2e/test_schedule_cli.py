"""`drill schedule`, `drill status`, `drill gameday` in-process: messages and exit codes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import time_machine

from tests.clihelp import drill
from tests.unit.test_schedule_support import make_project


@pytest.fixture
def project(workdir: Path) -> Path:
    make_project(workdir, extra="environments:\n  prod: {provider: lab, protected: true}\n")
    return workdir


@pytest.fixture
def lab_project(workdir: Path) -> Path:
    """No protected environment: `prod` (provider lab) would protect `lab` too, the same
    local lab."""
    make_project(workdir)
    return workdir


def test_add_list_remove(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with time_machine.travel(datetime(2030, 1, 7, 8, 0, tzinfo=UTC), tick=False):
        a = drill(
            capsys, "schedule", "add", "tiny", "--env", "lab", "--cron", "0 9 * * 1-5", "--json"
        )
        assert a.code == 0, a.err
        b = drill(capsys, "schedule", "add", "tiny", "--env", "lab", "--every", "5m")
        assert b.code == 0 and "every 5m" in b.err
        listed = drill(capsys, "schedule", "list", "--json")
    docs = json.loads(listed.out)
    assert [(d["kind"], d["next_fire_at"]) for d in docs] == [
        ("cron", "2030-01-07T09:00:00Z"),
        ("interval", "2030-01-07T08:05:00Z"),
    ]
    assert docs[0]["id"] == json.loads(a.out)["id"] and docs[0]["target"] == "tiny"
    removed = drill(capsys, "schedule", "remove", docs[0]["id"])
    assert removed.code == 0 and "removed schedule" in removed.err
    assert len(json.loads(drill(capsys, "schedule", "list", "--json").out)) == 1
    again = drill(capsys, "schedule", "remove", docs[0]["id"])
    assert again.code == 2 and f"drill: error: no schedule '{docs[0]['id']}'" in again.err


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--env", "lab"], "give exactly one of --cron, --every, --at"),
        (["--env", "lab", "--cron", "daily", "--every", "1h"], "(got --cron, --every)"),
        (["--env", "lab", "--cron", "0 25 * * *"], "invalid cron expression '0 25 * * *'"),
        (["--env", "lab", "--every", "1h", "--timezone", "UTC"], "--timezone applies to --cron"),
        (["--env", "nowhere", "--every", "1h"], "unknown environment 'nowhere'"),
        # saved with an empty message and no next fire, then never run
        (["--env", "lab", "--cron", "0 0 30 2 *"], "'0 0 30 2 *' never fires"),
        (["--env", "lab", "--cron", "0 9 31 4,6,9,11 *"], "never fires"),
    ],
)
def test_bad_input_is_a_clear_usage_error(
    project: Path, capsys: pytest.CaptureFixture[str], args: list[str], needle: str
) -> None:
    res = drill(capsys, "schedule", "add", "tiny", *args)
    assert res.code == 2
    assert res.err.startswith("drill: error: ") and needle in res.err
    assert "Traceback" not in res.err


def test_unknown_target_is_refused_at_creation(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    res = drill(capsys, "schedule", "add", "no-such-drill", "--env", "lab", "--every", "1h")
    assert res.code == 2 and "no drill, runbook or experiment with id 'no-such-drill'" in res.err


def test_mutating_drill_on_protected_environment_needs_yes(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    refused = drill(
        capsys, "schedule", "add", "quarterly-dr", "--env", "prod", "--cron", "quarterly"
    )
    assert refused.code == 2
    assert (
        "drill: error: environment 'prod' is protected and quarterly-dr would change it"
        in refused.err
        and "--yes" in refused.err
    )
    res = drill(
        capsys,
        "schedule",
        "add",
        "quarterly-dr",
        "--env",
        "prod",
        "--cron",
        "quarterly",
        "--yes",
        "--json",
    )
    assert res.code == 0, res.err
    assert json.loads(res.out)["approved_by"]
    probes_only = drill(
        capsys, "schedule", "add", "tiny", "--env", "prod", "--every", "1h", "--json"
    )
    assert probes_only.code == 0 and json.loads(probes_only.out)["approved_by"] is None
    # a game day says to repeat *it* with --yes (it said "add the schedule with --yes")
    game = drill(
        capsys, "gameday", "create", "--date", "2030-03-01T10:00", "--drills", "quarterly-dr",
        "--env", "prod",
    )  # fmt: skip
    assert game.code == 2 and "then create the game day with --yes" in game.err, game.err


def test_sync_installs_drill_schedules_and_status_shows_overdue(
    lab_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with time_machine.travel(datetime(2030, 1, 15, tzinfo=UTC), tick=False) as tm:
        synced = drill(capsys, "schedule", "sync", "--env", "lab", "--json")
        assert synced.code == 0, synced.err
        assert "qdr" in json.loads(synced.out)["added"]
        assert "qdr" in json.loads(drill(capsys, "schedule", "sync", "--json").out)["unchanged"]
        tm.move_to(datetime(2030, 7, 2, tzinfo=UTC))
        res = drill(capsys, "status", "--json")
        table = drill(capsys, "status")
    assert res.code == 0, res.err
    doc = json.loads(res.out)
    (qdr,) = [d for d in doc["drills"] if d["drill"] == "qdr"]
    assert qdr["overdue"] is True and qdr["next_due"] == "2030-07-01T00:00:00Z"
    assert qdr["missed_periods"] == ["2030-Q2"]
    assert "finding recorded: qdr: no successful run in 2030-Q2" in res.err
    assert "OVERDUE" in table.out


def test_gameday_create_list_show(lab_project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    res = drill(
        capsys,
        "gameday",
        "create",
        "--date",
        "2031-03-01T10:00",
        "--drills",
        "quarterly-dr",
        "--participants",
        "alice,bob",
        "--env",
        "lab",
        "--notify",
        "https://hooks.slack.com/services/T1/B2/SECRET",
        "--json",
    )
    assert res.code == 0, res.err
    gd = json.loads(res.out)
    assert gd["participants"] == ["alice", "bob"] and gd["status"] == "planned"
    assert gd["notify"] == ["https://hooks.slack.com/***"]
    books = {b["runbook"]: b for b in gd["runbooks"]}
    assert set(books) == {"az-loss", "rds-failover", "region-promotion", "backup-restore"}
    for b in books.values():
        text = Path(b["rendered"]).read_text()
        assert "drill runbook render" in text and "\n# " in text and len(text) > 200
    listed = json.loads(drill(capsys, "gameday", "list", "--json").out)
    assert [g["id"] for g in listed] == [gd["id"]]
    shown = drill(capsys, "gameday", "show", gd["id"])
    assert "alice, bob" in shown.out and "SECRET" not in shown.out
    scheds = json.loads(drill(capsys, "schedule", "list", "--json").out)
    assert sorted(s["action"] for s in scheds if s["target"] == gd["id"]) == [
        "gameday.announce",
        "gameday.run",
    ]
    run_at = next(s for s in scheds if s["action"] == "gameday.run")["next_fire_at"]
    assert run_at == "2031-03-01T10:00:00Z"
    past = drill(capsys, "gameday", "create", "--date", "2001-01-01", "--drills", "qdr")
    assert past.code == 2 and "is in the past" in past.err


def test_a_drill_whose_schedule_never_fires_is_refused_at_its_line(
    lab_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    qdr = lab_project / "drills" / "qdr.yaml"
    assert "schedule: quarterly" in qdr.read_text()
    qdr.write_text(qdr.read_text().replace("schedule: quarterly", 'schedule: "0 0 30 2 *"'))
    res = drill(capsys, "validate")
    assert res.code == 2 and "qdr.yaml:" in res.err and "never fires" in res.err, res.err
    leap = drill(capsys, "schedule", "add", "tiny", "--env", "lab", "--cron", "0 9 29 2 *")
    assert leap.code == 0 and "next fire 20" in leap.err  # 29 February fires, in leap years


def test_a_gameday_in_a_time_zone_says_its_time_in_that_zone_and_in_utc(
    lab_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["gameday", "create", "--date", "2031-01-15T10:00", "--drills", "qdr", "--env", "lab"]
    res = drill(capsys, *args, "--timezone", "Europe/Paris")
    assert res.code == 0, res.err
    # it said 'planned for 2031-01-15 10:00 UTC': the Paris time labelled UTC
    assert "planned for 2031-01-15 10:00 Europe/Paris (2031-01-15 09:00 UTC)" in res.err, res.err
    made = json.loads(drill(capsys, *args, "--timezone", "America/New_York", "--json").out)
    assert made["date"] == "2031-01-15T15:00:00Z" and made["timezone"] == "America/New_York"
    shown = json.loads(drill(capsys, "gameday", "show", made["id"], "--json").out)
    assert shown["date"] == made["date"]


def test_a_gameday_naming_a_drill_twice_is_refused(
    lab_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--drills qdr,qdr` was accepted and the game day ran the drill twice."""
    args = ["gameday", "create", "--date", "2031-01-15T10:00", "--env", "lab"]
    res = drill(capsys, *args, "--drills", "qdr,qdr")
    assert res.code == 2 and "--drills names qdr more than once" in res.err, res.err
    listed = drill(capsys, "gameday", "list", "--json")
    assert json.loads(listed.out) == []


def test_scheduler_status_prints_one_line_per_fire(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A fire's line holds its status and its whole reason however narrow the output
    (80 columns when piped): it was wrapped mid-reason, and grep found half of it."""
    from orchestrator.config import load_settings
    from orchestrator.evidence.store import EvidenceStore
    from orchestrator.notify.webhook import WebhookNotifier
    from orchestrator.schedule.blackout import load_windows
    from orchestrator.schedule.fire import FireContext, fire
    from orchestrator.schedule.launcher import ChildLauncher

    freeze = (
        "blackout_windows:\n"
        "  - {name: a rather long year-end change freeze, start: 2030-01-01, end: 2030-01-10}\n"
    )
    make_project(workdir, extra=freeze)
    added = drill(capsys, "schedule", "add", "tiny", "--env", "lab", "--cron", "daily", "--json")
    settings = load_settings()
    ctx = FireContext(
        settings,
        EvidenceStore(settings.database_url()),
        "cli-test",
        ChildLauncher(settings),
        WebhookNotifier([]),
        load_windows(settings),
    )
    at = datetime(2030, 1, 2, tzinfo=UTC)
    assert fire(ctx, json.loads(added.out)["id"], at) == "skipped"
    res = drill(capsys, "scheduler", "status")
    assert res.code == 0
    (line,) = [ln for ln in res.out.splitlines() if "2030-01-02" in ln]
    assert "tiny" in line and "skipped" in line
    assert line.endswith("blackout window 'a rather long year-end change freeze'")


def test_adding_a_schedule_whose_next_fire_is_frozen_says_so(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A fire in a blackout window is skipped without a finding: the one who adds it
    hears it now, not never."""
    make_project(
        workdir,
        extra="blackout_windows:\n  - {name: march freeze, start: 2030-03-01, end: 2030-03-31}\n",
    )
    with time_machine.travel(datetime(2030, 2, 1, tzinfo=UTC), tick=False):
        frozen = drill(
            capsys, "schedule", "add", "tiny", "--env", "lab", "--at", "2030-03-15T09:00"
        )
        free = drill(capsys, "schedule", "add", "tiny", "--env", "lab", "--at", "2030-04-15T09:00")
    assert frozen.code == 0 and free.code == 0
    assert "falls in blackout window 'march freeze' and will be skipped" in frozen.err
    assert "blackout" not in free.err


def test_a_one_shot_that_fired_has_no_next_fire(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`drill schedule list` (and `drill status`) showed a fired --at schedule's past time
    as its next fire."""
    from orchestrator.config import load_settings
    from orchestrator.evidence.enums import utcnow
    from orchestrator.evidence.store import EvidenceStore
    from orchestrator.notify.webhook import WebhookNotifier
    from orchestrator.schedule.fire import FireContext, fire
    from tests.unit.test_schedule_support import RecordingLauncher

    make_project(workdir)
    with time_machine.travel(datetime(2030, 1, 7, 8, 0, tzinfo=UTC), tick=False) as tm:
        added = drill(capsys, "schedule", "add", "tiny", "--env", "lab", "--at", "+1m", "--json")
        sid = json.loads(added.out)["id"]
        settings = load_settings()
        ctx = FireContext(
            settings,
            EvidenceStore(settings.database_url()),
            "cli-test",
            RecordingLauncher(utcnow),
            WebhookNotifier([]),
        )
        tm.move_to(datetime(2030, 1, 7, 8, 1, tzinfo=UTC))
        assert fire(ctx, sid, datetime(2030, 1, 7, 8, 1, tzinfo=UTC)) == "succeeded"
        (doc,) = json.loads(drill(capsys, "schedule", "list", "--json").out)
        status = json.loads(drill(capsys, "status", "--json").out)
    assert doc["next_fire_at"] is None
    assert doc["last_fire"]["status"] == "succeeded"
    # status said the same fired time was the drill's next fire (a past one, run already)
    (tiny,) = [d for d in status["drills"] if d["drill"] == "tiny"]
    assert tiny["next_fire"] is None


def test_removing_a_game_days_run_schedule_cancels_it(
    lab_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The game day read 'planned' for ever though nothing would run it, and its
    announcement still went out, calling people to a game day that would not happen."""
    args = ["gameday", "create", "--date", "2031-03-01T10:00", "--drills", "qdr", "--json"]
    gid = json.loads(drill(capsys, *args).out)["id"]
    scheds = json.loads(drill(capsys, "schedule", "list", "--json").out)
    run = next(s["id"] for s in scheds if s["action"] == "gameday.run")
    res = drill(capsys, "schedule", "remove", run)
    assert res.code == 0
    assert f"game day {gid} will not run, it is cancelled (its announcement too)" in res.err
    assert json.loads(drill(capsys, "schedule", "list", "--json").out) == []
    shown = json.loads(drill(capsys, "gameday", "show", gid, "--json").out)
    assert shown["status"] == "cancelled"


def test_a_secret_var_is_refused_for_a_schedule_and_a_var_file_is_not(
    lab_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The schedule kept `--var api_token=***` (the store masks secrets) and every fire
    ran the experiment with '***' for the token."""
    secret = ["--var", "api_token=hunter2-s3cret-value", "--var", "region=eu-west-1"]
    res = drill(capsys, "schedule", "add", "tiny", "--env", "lab", "--every", "1h", *secret)
    assert res.code == 2 and res.err.startswith("drill: error: --var api_token holds a secret")
    assert "--var-file" in res.err and "hunter2" not in res.err
    assert json.loads(drill(capsys, "schedule", "list", "--json").out) == []
    vars_file = lab_project / "vars.yaml"
    vars_file.write_text("api_token: hunter2-s3cret-value\n")
    ok = drill(
        capsys, "schedule", "add", "tiny", "--env", "lab", "--every", "1h",
        "--var", "region=eu-west-1", "--var-file", str(vars_file), "--json",
    )  # fmt: skip
    assert ok.code == 0, ok.err
    (row,) = json.loads(drill(capsys, "schedule", "list", "--json").out)
    assert row["run_args"] == ["--var", "region=eu-west-1", "--var-file", str(vars_file)]


@pytest.mark.parametrize(
    ("cron", "first"),
    [
        ("0 9 13 * 5", "2030-01-04T09:00:00Z"),  # every 13th and every Friday: Friday 4th
        ("0 9 1-7 * 1", "2030-01-02T09:00:00Z"),  # days 1-7 and every Monday: the 2nd
        ("0 9 13 * *", "2030-01-13T09:00:00Z"),  # one day field restricted: as before
        ("0 9 * * 5", "2030-01-04T09:00:00Z"),
    ],
)
def test_a_cron_with_both_day_fields_runs_when_either_matches_as_cron_does(
    lab_project: Path, capsys: pytest.CaptureFixture[str], cron: str, first: str
) -> None:
    """APScheduler's CronTrigger needs both day fields to match: '0 9 13 * 5' ran on
    Friday the 13th only (next: 2030-09-13), where cron runs it every 13th and every
    Friday."""
    with time_machine.travel(datetime(2030, 1, 1, 12, 0, tzinfo=UTC), tick=False):
        res = drill(capsys, "schedule", "add", "tiny", "--env", "lab", "--cron", cron, "--json")
    assert res.code == 0, res.err
    assert json.loads(res.out)["next_fire_at"] == first


@pytest.mark.parametrize("grace", ["0", "500ms"])
def test_a_misfire_grace_under_a_second_is_refused(
    lab_project: Path, capsys: pytest.CaptureFixture[str], grace: str
) -> None:
    """APScheduler takes the grace in whole seconds and refuses 0: the service stopped
    with 'internal error: TypeError: misfire_grace_time must be either None or a positive
    integer', and with its jobs already stored it removed each one as it came due, as a
    job it could not restore (the store is shared: its siblings' too), firing nothing."""
    added = drill(capsys, "schedule", "add", "tiny", "--env", "lab", "--every", "1h")
    assert added.code == 0, added.err
    res = drill(capsys, "scheduler", "run", "--misfire-grace", grace)
    assert res.code == 2, res.err
    assert res.err.splitlines()[0] == f"drill: error: --misfire-grace {grace} is too short"
    assert "internal error" not in res.err


def test_a_schedule_this_drill_cannot_build_is_listed_with_why(
    lab_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The schedule table is shared by a group's schedulers: a row another one wrote that
    this drill cannot build a trigger of (a time zone its tzdata lacks, a kind from a
    newer drill), with no job row stored, made `drill schedule list` and `drill status`
    fail whole — 'drill: error: unknown time zone …', naming no schedule. The row is now
    listed, its next fire null and why it cannot be computed; the others as before."""
    from orchestrator.config import load_settings
    from orchestrator.evidence.store import EvidenceStore
    from orchestrator.schedule.records import Schedule

    t0 = datetime(2030, 1, 7, 8, 0, tzinfo=UTC)
    with time_machine.travel(t0, tick=False):
        ok = drill(capsys, "schedule", "add", "qdr", "--env", "lab", "--cron", "0 9 * * 1-5")
        assert ok.code == 0, ok.err
        store = EvidenceStore(load_settings().database_url())
        for sid, kind, expr, tz in (
            ("s-elsewhere", "cron", "0 9 * * *", "Mars/Olympus_Mons"),
            ("s-newer", "lunar", "full moon", "UTC"),
        ):
            store.db.write(
                Schedule(
                    id=sid,
                    target="qdr",
                    env="lab",
                    kind=kind,
                    expr=expr,
                    timezone=tz,
                    start_at=t0,
                    created_by="a newer host",
                    created_at=t0,
                )
            )
        listed = drill(capsys, "schedule", "list", "--json")
        table = drill(capsys, "schedule", "list")
        status = drill(capsys, "status", "--json")
        status_table = drill(capsys, "status")
    assert listed.code == 0, listed.err
    docs = {d["id"]: d for d in json.loads(listed.out)}
    assert docs["s-elsewhere"]["next_fire_at"] is None
    assert docs["s-elsewhere"]["next_fire_error"] == (
        "cannot compute: unknown time zone 'Mars/Olympus_Mons'"
    )
    assert docs["s-newer"]["next_fire_at"] is None
    assert docs["s-newer"]["next_fire_error"] == "cannot compute: unknown schedule kind 'lunar'"
    assert docs["s-newer"]["description"] == "lunar full moon"
    (good,) = [d for d in docs.values() if d["id"] not in ("s-elsewhere", "s-newer")]
    assert good["next_fire_at"] == "2030-01-07T09:00:00Z" and good["next_fire_error"] is None
    assert table.code == 0, table.err
    assert "unknown time zone" in table.out and "s-elsewhere" in table.out
    assert status.code == 0, status.err
    (qdr,) = [d for d in json.loads(status.out)["drills"] if d["drill"] == "qdr"]
    assert qdr["next_fire"] == "2030-01-07T09:00:00Z"
    assert qdr["next_fire_errors"] == [
        "schedule s-elsewhere: cannot compute: unknown time zone 'Mars/Olympus_Mons'",
        "schedule s-newer: cannot compute: unknown schedule kind 'lunar'",
    ]
    assert status_table.code == 0, status_table.err
    assert "s-elsewhere" in status_table.out and "Traceback" not in status_table.err


@pytest.mark.parametrize(
    ("every", "seconds", "said"),
    [
        ("30d 1m 1s", 2592061, "every 30d 1m 1s"),
        ("1000001s", 1000001, "every 11d 13h 46m 41s"),
        ("100000.5s", 100000.5, "every 100000.5s"),
        ("90m", 5400, "every 90m"),
    ],
)
def test_an_interval_is_kept_to_the_second_it_was_given(
    lab_project: Path, capsys: pytest.CaptureFixture[str], every: str, seconds: float, said: str
) -> None:
    with time_machine.travel(datetime(2030, 1, 7, 8, 0, tzinfo=UTC), tick=False):
        added = drill(capsys, "schedule", "add", "tiny", "--env", "lab", "--every", every)
        assert added.code == 0, added.err
        (doc,) = json.loads(drill(capsys, "schedule", "list", "--json").out)
    assert float(doc["expr"]) == seconds
    assert doc["description"] == said and said in added.err
    created = datetime.fromisoformat(doc["created_at"])
    assert (datetime.fromisoformat(doc["next_fire_at"]) - created).total_seconds() == seconds


@pytest.mark.parametrize(
    ("first", "again"),
    [
        (["--cron", "daily"], ["--cron", "0 0 * * *"]),
        (["--at", "2030-01-08T09:00"], ["--at", "2030-01-08T10:00+01:00"]),
    ],
)
def test_a_schedule_that_would_fire_with_one_already_there_is_refused(
    lab_project: Path, capsys: pytest.CaptureFixture[str], first: list[str], again: list[str]
) -> None:
    """The same target, environment and fire times added twice was a second schedule: at
    each fire both ran the drill — or one was refused, the environment busy, a finding."""
    with time_machine.travel(datetime(2030, 1, 7, 8, 0, tzinfo=UTC), tick=False):
        a = drill(capsys, "schedule", "add", "tiny", "--env", "lab", *first)
        assert a.code == 0, a.err
        b = drill(capsys, "schedule", "add", "tiny", "--env", "lab", *again)
        assert b.code == 2 and b.out == "", b.err
        assert f"tiny on lab already has schedule {a.out.strip()}" in b.err
        other = drill(capsys, "schedule", "add", "tiny", "--env", "lab", *again, "--var", "x=1")
        assert other.code == 0, other.err  # other options: another schedule
        assert len(json.loads(drill(capsys, "schedule", "list", "--json").out)) == 2
