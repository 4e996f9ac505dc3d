"""A missed quarter is one finding, however many recorders notice it at once.

Two scheduler services on one store (or one and a user's `drill status`) compute the
same missed quarter at the same moment; each read "not filed yet" before the other
wrote, and the finding was filed twice (and announced twice). Here the second recorder
is held between its read and its write — by an EvidenceDB that waits on an event as
it enters ``write``, nothing else changed — while the first files the finding.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from orchestrator.config import load_settings
from orchestrator.evidence.records import Finding
from orchestrator.evidence.writer import EvidenceDB
from orchestrator.schedule import schedules
from orchestrator.schedule.compliance import drill_status
from tests.unit.test_schedule_support import make_project


def _titles(findings: list[Finding]) -> list[str]:
    return [f.title for f in findings if f.drill == "qdr"]  # not the bundled quarterly-dr


class HeldAtWrite(EvidenceDB):
    """Signals when a write begins and waits until the test lets it go on."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.entered, self.go = threading.Event(), threading.Event()

    def write(self, *records: Any, **kw: Any) -> bool:
        self.entered.set()
        assert self.go.wait(60)
        return super().write(*records, **kw)


def test_two_recorders_at_once_file_a_missed_quarter_once(workdir: Path, evidence_url: str) -> None:
    settings = load_settings(str(make_project(workdir, database=evidence_url)))
    first = EvidenceDB.open(settings.database_url())
    schedules.sync_from_drills(
        settings, first, "lab", False, "tester", datetime(2030, 1, 15, tzinfo=UTC)
    )
    now = datetime(2030, 7, 2, tzinfo=UTC)  # 2030-Q2 passed without a run
    held = HeldAtWrite(settings.database_url())
    found: list[list[str]] = []
    second = threading.Thread(
        target=lambda: found.append(
            _titles(drill_status(settings, held, now, record=True).new_findings)
        )
    )
    second.start()
    try:
        assert held.entered.wait(60)  # read: nothing filed yet; about to write
        mine = _titles(drill_status(settings, first, now, record=True).new_findings)
    finally:
        held.go.set()
        second.join(60)
    assert mine == ["qdr: no successful run in 2030-Q2"]
    assert found == [[]]  # the held recorder saw it filed and filed nothing
    rows: list[Finding] = first.records(Finding, "kind = ?", ("drill_overdue",))
    assert _titles(rows) == mine
