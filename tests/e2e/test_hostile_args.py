"""Out-of-range numbers and dates on the command line (issue 18, item 10): a usage error
naming the option, exit 2, never an internal error from deep in datetime or SQLite."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.clihelp import drill

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (("schedule", "add", "rds-failover", "--every", "99999999999999999999d"), "--every"),
        (("schedule", "add", "rds-failover", "--every", "1e400"), "--every"),
        (("schedule", "add", "rds-failover", "--at", "+99999999999999d"), "--at"),
        (("schedule", "add", "rds-failover", "--at", "9999-12-31T23:59:59-12:00"), "--at"),
        (("schedule", "add", "rds-failover", "--at", "0001-01-01T00:00:00+01:00"), "--at"),
        (("evidence", "export", "--period", "9999-Q4", "--out", "x.zip"), "--period"),
        (("evidence", "export", "--period", "0000-Q1", "--out", "x.zip"), "--period"),
        (
            ("evidence", "export", "--from", "0001-01-01", "--to", "9999-12-31", "--out", "x.zip"),
            "--from",
        ),
        (("runs", "list", "--limit", "9223372036854775808"), "--limit"),
        (("runs", "list", "--limit", "-1"), "--limit"),
        (("findings", "show", "99999999999999999999999"), "finding_id"),
        (("findings", "show", "0"), "finding_id"),
        (("plan", "rds-failover", "--mode", "bogus"), "--mode"),
        (("run", "rds-failover", "--mode", "bogus"), "--mode"),
        (("scheduler", "run", "--max-workers", "0"), "--max-workers"),
        (("scheduler", "run", "--health-port", "70000"), "--health-port"),
    ],
)
def test_out_of_range_values_name_the_option(
    workdir: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], names: str
) -> None:
    res = drill(capsys, *args)
    assert res.code == 2, res.err
    assert res.err.startswith("drill: error: ")  # one line (and a hint), no usage dump
    assert len(res.err.splitlines()) <= 2
    assert names in res.err.splitlines()[0]
    assert "internal error" not in res.err
    assert not (workdir / "x.zip").exists()


def test_render_check_of_an_experiment_says_what_it_is(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    exp = REPO / "experiments" / "multi-az-failover.yaml"
    res = drill(capsys, "runbook", "render", str(exp), "--check")
    assert res.code == 2
    assert f"{exp} is an experiment, not a runbook" in res.err


def test_durations_and_dates_at_the_edges(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from datetime import UTC, date, datetime

    from orchestrator.durations import MAX_DURATION_S, check_date, parse_duration

    assert parse_duration("36500d") == MAX_DURATION_S
    with pytest.raises(ValueError, match="longer than 100 years"):
        parse_duration("36501d")
    with pytest.raises(ValueError, match="longer than 100 years"):
        parse_duration(float("inf"))
    check_date(date(1970, 1, 1), "--from")
    check_date(datetime(9998, 12, 31, 23, 59, tzinfo=UTC), "--at")
    with pytest.raises(ValueError, match="--to 9999-01-01 is out of range"):
        check_date(date(9999, 1, 1), "--to")
