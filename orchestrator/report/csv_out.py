"""``runs.csv``: one row per scenario run (a run without scenarios gets one row), the
shape a spreadsheet-minded auditor filters and pivots."""

from __future__ import annotations

import csv
import io

from orchestrator.report.base import Renderer
from orchestrator.report.model import ReportData, ScenarioView

COLUMNS = [
    "run_id",
    "drill",
    "kind",
    "env",
    "mode",
    "trigger",
    "who",
    "run_status",
    "run_started_at",
    "run_ended_at",
    "scenario",
    "scenario_status",
    "fault_injected_at",
    "service_restored_at",
    "rto_s",
    "objective_rto_s",
    "rpo_s",
    "objective_rpo_s",
    "lost_writes",
    "objectives_met",  # empty: not judged (aborted, drill died, skipped), see the next column
    "objectives_not_judged_because",
    "findings",
    "open_findings",
    "git_commit",  # last: which definitions ran and who approved (a spreadsheet's view)
    "approved_by",
]


def _text(value: str | None) -> str:
    """A text cell a spreadsheet shows as text: one starting like a formula (``=``, ``+``,
    ``-``, ``@``, tab, CR; e.g. a DRILL_OPERATOR of ``=HYPERLINK(…)``) gets a leading
    ``'``, as OWASP advises for CSV files opened in Excel; runs.json keeps the value."""
    if not value:
        return ""
    return "'" + value if value[0] in "=+-@\t\r" else value


def _t(value: object) -> str:
    return (
        value.isoformat() if hasattr(value, "isoformat") else ("" if value is None else str(value))
    )


class CsvRenderer(Renderer):
    name = "csv"
    filename = "runs.csv"
    media_type = "text/csv"

    def render(self, data: ReportData) -> bytes:
        buf = io.StringIO()
        out = csv.writer(buf, lineterminator="\n")
        out.writerow(COLUMNS)
        for r in data.runs:
            base = [
                r.id,
                _text(r.target),
                r.target_kind,
                _text(r.env),
                r.mode,
                r.trigger,
                _text(r.who),
                f"{r.status} (dry run)" if r.dry_run else r.status,  # as every report says
                _t(r.started_at),
                _t(r.ended_at),
            ]
            scenarios: list[ScenarioView | None] = list(r.scenarios) or [None]
            for sc in scenarios:
                found = [f for f in r.findings if sc is None or f.scenario == sc.scenario_id]
                tail = (
                    [
                        _text(sc.scenario_id),
                        sc.status_shown,
                        _t(sc.fault_injected_at),
                        _t(sc.service_restored_at),
                        _t(sc.rto_s),
                        _t(sc.objective_rto_s),
                        _t(sc.rpo_s),
                        _t(sc.objective_rpo_s),
                        _t(sc.lost_writes),
                        _t(sc.met),
                        _text(sc.met_reason),
                    ]
                    if sc
                    else [""] * 11
                )
                counts = [len(found), sum(f.status == "open" for f in found)]
                out.writerow(base + tail + counts + [_text(r.git_commit), _text(r.approved_by)])
        return buf.getvalue().encode()
