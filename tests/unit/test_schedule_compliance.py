"""Compliance view with a controlled clock: next due, overdue, missed quarter → finding."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from orchestrator.config import load_settings
from orchestrator.evidence.records import Finding, Run
from orchestrator.evidence.writer import EvidenceDB
from orchestrator.schedule import schedules
from orchestrator.schedule.compliance import drill_status
from tests.unit.test_schedule_support import make_project


def _d(*a: int) -> datetime:
    return datetime(*a, tzinfo=UTC)  # type: ignore[misc]


def _run(store: EvidenceDB, rid: str, at: datetime, status: str, env: str = "lab") -> None:
    store.write(
        Run(
            id=rid,
            target="qdr",
            target_kind="drill",
            env=env,
            status=status,
            trigger="schedule",
            who="tester",
            host="h",
            pid=1,
            started_at=at,
            ended_at=at,
            exit_code=0 if status == "succeeded" else 1,
        )
    )


def _qdr(
    settings: object, store: EvidenceDB, now: datetime, record: bool = True
) -> tuple[dict[str, object], list[str]]:
    report = drill_status(settings, store, now, record=record)  # type: ignore[arg-type]
    (st,) = [d for d in report.drills if d.drill == "qdr"]
    return st.doc(now), [f.title for f in report.new_findings if f.drill == "qdr"]


def test_quarterly_compliance_over_a_year(workdir: Path) -> None:
    settings = load_settings(str(make_project(workdir)))
    store = EvidenceDB.open(settings.database_url())
    out = schedules.sync_from_drills(settings, store, "lab", False, "tester", _d(2030, 1, 15))
    assert set(out["added"]) == {"qdr", "quarterly-dr"}  # the bundled drill too

    doc, new = _qdr(settings, store, _d(2030, 1, 20))
    assert doc["cadence"] == "0 0 1 1,4,7,10 *" and doc["env"] == "lab"
    assert (doc["last_run"], doc["overdue"], new) == (None, False, [])
    assert doc["next_due"] == "2030-07-01T00:00:00Z"  # the first full quarter is Q2
    assert doc["next_fire"] == "2030-04-01T00:00:00Z"

    _run(store, "r-feb", _d(2030, 2, 10), "succeeded")
    _run(store, "r-may", _d(2030, 5, 10), "failed")
    doc, new = _qdr(settings, store, _d(2030, 6, 30))
    assert (doc["last_run_id"], doc["last_run_status"]) == ("r-may", "failed")
    assert doc["last_success_run_id"] == "r-feb"
    assert (doc["next_due"], doc["overdue"], new) == ("2030-07-01T00:00:00Z", False, [])

    # Q2 ended with only a failed run: overdue, and the missed quarter is a finding
    doc, new = _qdr(settings, store, _d(2030, 7, 2))
    assert doc["overdue"] is True and doc["overdue_by_s"] == 86400.0
    assert doc["missed_periods"] == ["2030-Q2"]
    assert new == ["qdr: no successful run in 2030-Q2"]
    _doc, again = _qdr(settings, store, _d(2030, 7, 2, 1))
    assert again == []  # recorded once

    _run(store, "r-jul", _d(2030, 7, 3), "succeeded")
    doc, new = _qdr(settings, store, _d(2030, 7, 5))
    assert (doc["overdue"], doc["next_due"], new) == (False, "2031-01-01T00:00:00Z", [])

    # Q4 passes without a run
    doc, new = _qdr(settings, store, _d(2031, 1, 2))
    assert doc["overdue"] is True
    assert doc["missed_periods"] == ["2030-Q2", "2030-Q4"]
    assert new == ["qdr: no successful run in 2030-Q4"]
    found: list[Finding] = store.records(
        Finding, "kind = ? AND drill = ?", ("drill_overdue", "qdr")
    )
    assert sorted(f.title for f in found) == [
        "qdr: no successful run in 2030-Q2",
        "qdr: no successful run in 2030-Q4",
    ]
    assert all(f.drill == "qdr" and f.env == "lab" and f.severity == "high" for f in found)
    assert "drill run qdr --env lab" in (found[0].corrective_action or "")


def test_runs_on_another_environment_do_not_count(workdir: Path) -> None:
    settings = load_settings(str(make_project(workdir)))
    store = EvidenceDB.open(settings.database_url())
    schedules.sync_from_drills(settings, store, "lab", False, "tester", _d(2030, 1, 15))
    _run(store, "r-elsewhere", _d(2030, 5, 1), "succeeded", env="staging")
    doc, _new = _qdr(settings, store, _d(2030, 7, 2), record=False)
    assert doc["last_success"] is None and doc["overdue"] is True


def test_unscheduled_drill_without_cadence_is_never_overdue(workdir: Path) -> None:
    make_project(workdir)
    (workdir / "drills" / "adhoc.yaml").write_text(
        "id: adhoc\ntitle: ad hoc\nscenarios:\n  - experiment: tiny\n"
    )
    settings = load_settings()
    store = EvidenceDB.open(settings.database_url())
    report = drill_status(settings, store, _d(2030, 1, 1))
    (st,) = [d for d in report.drills if d.drill == "adhoc"]
    assert st.doc(_d(2030, 1, 1))["cadence"] is None and not st.overdue and st.next_due is None
