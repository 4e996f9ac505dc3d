"""Every date-time of ``oscal/assessment-results.json`` is one NIST's OSCAL JSON schema
accepts. Its ``DateTimeWithTimezoneDatatype`` allows a fraction of a second only without
trailing zeros; drill wrote Python's isoformat (``2026-12-02T02:45:55.073070+00:00``), so
about one export in ten (a time whose microseconds end in 0) failed the schema's check,
which compliance-trestle's models do not make."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from orchestrator.report.model import ReportData, RunView
from orchestrator.report.oscal import OscalRenderer

#: DateTimeWithTimezoneDatatype's pattern in NIST's oscal_assessment-results_schema.json
OSCAL_DATE_TIME = re.compile(
    r"^(((2000|2400|2800|(19|2[0-9](0[48]|[2468][048]|[13579][26])))-02-29)|"
    r"(((19|2[0-9])[0-9]{2})-02-(0[1-9]|1[0-9]|2[0-8]))|"
    r"(((19|2[0-9])[0-9]{2})-(0[13578]|10|12)-(0[1-9]|[12][0-9]|3[01]))|"
    r"(((19|2[0-9])[0-9]{2})-(0[469]|11)-(0[1-9]|[12][0-9]|30)))"
    r"T(2[0-3]|[01][0-9]):([0-5][0-9]):([0-5][0-9])(\.[0-9]*[1-9])?"
    r"(Z|(-((0[0-9]|1[0-2]):00|0[39]:30)|\+((0[0-9]|1[0-4]):00|(0[34569]|10):30|(0[58]|12):45)))$"
)


def _date_times(doc: Any, path: str = "") -> list[tuple[str, str]]:
    if isinstance(doc, dict):
        return [x for k, v in doc.items() for x in _date_times(v, f"{path}/{k}")]
    if isinstance(doc, list):
        return [x for i, v in enumerate(doc) for x in _date_times(v, f"{path}/{i}")]
    if isinstance(doc, str) and re.match(r"\d{4}-\d\d-\d\dT\d\d:", doc):
        return [(path, doc)]
    return []


def test_every_date_time_matches_the_oscal_schema() -> None:
    at = datetime(2026, 12, 2, 2, 45, 55, 73070, tzinfo=UTC)  # microseconds ending in 0
    run = {
        "id": "r-1",
        "target": "quarterly-dr",
        "target_kind": "drill",
        "env": "lab",
        "mode": "live",
        "status": "failed",
        "trigger": "manual",
        "who": "sre",
        "started_at": at.replace(microsecond=500000),
        "ended_at": at + timedelta(minutes=1),
        "scenarios": [],
    }
    finding = {
        "id": 1,
        "run_id": "r-1",
        "kind": "objective_missed",
        "severity": "high",
        "title": "t",
        "status": "open",
        "created_at": at.replace(microsecond=0, tzinfo=None),  # naive, as stored: UTC
    }
    data = ReportData(
        title="t",
        generated_at=at,
        generated_by="test",
        period_label="2026-Q4",
        period_start=datetime(2026, 10, 1, tzinfo=UTC),
        period_end=datetime(2027, 1, 1, tzinfo=UTC),
        runs=[RunView.model_validate(run)],
        findings=[finding],
    )
    doc = json.loads(OscalRenderer().render(data))
    found = dict(_date_times(doc))
    assert len(found) == 4  # last-modified, start, a run's and a finding's collected
    assert [(p, t) for p, t in found.items() if not OSCAL_DATE_TIME.match(t)] == []
    assert found["/assessment-results/metadata/last-modified"] == "2026-12-02T02:45:55.07307Z"
    collected = sorted(t for p, t in found.items() if p.endswith("/collected"))
    assert collected == ["2026-12-02T02:45:55.5Z", "2026-12-02T02:45:55Z"]
