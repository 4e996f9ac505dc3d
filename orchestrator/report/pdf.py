"""``report.pdf``: the same content as the HTML report, generated in pure Python.

reportlab (no system libraries, no browser) so that exports work on a bare CI box
or an air-gapped runner. Timelines are drawn as vector graphics.
"""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any

from orchestrator.durations import format_duration
from orchestrator.report.base import Renderer
from orchestrator.report.model import ControlResult, ReportData, RunView
from orchestrator.report.svg import (
    CHART_LEGEND,
    GREY,
    MARKS_LEGEND,
    MAX_STEPS,
    STATUS_COLOURS,
    chart_rows,
    lanes,
    marks,
    placed,
    step_label,
    timeline_end,
)


def _ts(value: datetime | None) -> str:
    # "—" for nothing, as the HTML and the objective columns beside it say (was "-")
    return value.strftime("%Y-%m-%d %H:%M:%S") + "Z" if value else "—"


def _secs(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}s"


def _timeline(run: RunView, width: float) -> Any:
    from reportlab.graphics.shapes import Drawing, Line, Rect, String
    from reportlab.lib import colors

    steps = run.steps_ran[:MAX_STEPS]  # as they ran, as `runs show` lists them
    row, left = 11.0, 150.0
    plot = width - left - 10
    t0 = run.started_at
    span = max((timeline_end(run) - t0).total_seconds(), 0.001)

    def x(at: datetime) -> float:
        return left + max(0.0, min(1.0, (at - t0).total_seconds() / span)) * plot

    found = marks(run, "fault", "restored")
    xs = [x(at) for at, _, _ in found]
    sizes = [3.1 * len(label) for _, label, _ in found]  # 6 pt Helvetica
    where = [placed(at_x, w, width) for at_x, w in zip(xs, sizes, strict=True)]
    lane = lanes([b for b, _ in where], [w + 6 for w in sizes])
    top = 8.0 * max([*lane, 1 if found else 0])  # room for the labels' (and legend's) lines
    height = 30 + top + row * max(len(steps), 1)
    d = Drawing(width, height)
    for i, st in enumerate(steps):
        y = height - 20 - top - (i + 1) * row
        d.add(String(left - 4, y + 2, step_label(run, st, 46), fontSize=6, textAnchor="end"))
        if st.started_at is not None:
            x0, x1 = x(st.started_at), x(st.ended_at or st.started_at)
            d.add(
                Rect(
                    x0,
                    y,
                    max(x1 - x0, 1.5),
                    row - 3,
                    strokeWidth=0,
                    fillColor=colors.HexColor(STATUS_COLOURS.get(st.status, "#616161")),
                )
            )
    for (_at, label, colour), at_x, (_, before), n in zip(found, xs, where, lane, strict=True):
        d.add(
            Line(
                at_x,
                4,
                at_x,
                height - 12 - 8 * n,
                strokeColor=colors.HexColor(colour),
                strokeDashArray=[3, 2],
            )
        )
        d.add(
            String(
                at_x - 2 if before else at_x + 2,
                height - 10 - 8 * n,
                label,
                fontSize=6,
                fillColor=colors.HexColor(colour),
                textAnchor="end" if before else "start",
            )
        )
    for n, (text, colour) in enumerate(MARKS_LEGEND if found else ()):  # top left
        d.add(String(0, height - 10 - 8 * n, text, fontSize=6, fillColor=colors.HexColor(colour)))
    d.add(String(left, 0, "+0s", fontSize=6))
    d.add(String(left + plot, 0, f"+{span:.2f}s", fontSize=6, textAnchor="end"))
    return d


def _objectives(runs: list[RunView], width: float) -> list[Any]:
    """The RTO/RPO chart of the HTML report (:func:`chart_rows`), drawn for the PDF: one
    drawing per :data:`_CHART_ROWS` rows, since a drawing never breaks across pages (100
    runs of four scenarios are ~900 rows)."""
    from reportlab.graphics.shapes import Drawing, Line, Rect, String
    from reportlab.lib import colors

    rows = chart_rows(runs)
    left, plot, row = 150.0, 300.0, 11.0
    red, green, grey = colors.HexColor("#e53935"), colors.HexColor("#43a047"), colors.HexColor(GREY)
    drawings = []
    for start in range(0, max(len(rows), 1), _CHART_ROWS):
        part = rows[start : start + _CHART_ROWS]
        height = 16 + row * max(len(part), 1)
        d = Drawing(width, height)
        if start == 0:
            d.add(String(0, height - 8, CHART_LEGEND, fontSize=6, fillColor=colors.grey))
        for i, r in enumerate(part):
            y = height - 16 - (i + 1) * row
            if r.heading:
                d.add(String(0, y + 2, r.label, fontSize=6.5, fontName="Helvetica-Bold"))
                continue
            d.add(String(left - 4, y + 2, r.label, fontSize=6, textAnchor="end"))
            if r.bar is None:
                d.add(String(left, y + 2, r.text, fontSize=6, fillColor=red if r.judged else grey))
            else:
                colour = grey if not r.judged else green if r.ok else red
                d.add(Rect(left, y, r.bar * plot, row - 3, strokeWidth=0, fillColor=colour))
                d.add(String(left + plot + 6, y + 2, r.text, fontSize=6))
            if r.tick is not None:
                x = left + r.tick * plot
                d.add(Line(x, y - 1, x, y + row - 2, strokeWidth=1.2))
        if not rows:
            d.add(String(0, 0, "no scenarios with objectives in this report", fontSize=7))
        drawings.append(d)
    return drawings


def _control_evidence(c: ControlResult) -> str:
    """What backs a control, in words: each evidence kind the mapping asks for and how
    many items of it the export holds; then what is missing (a bare count said nothing
    of what was looked for, and the PDF named no evidence at all)."""
    have = "; ".join(
        f"{c.evidence_meaning.get(kind, kind)}: {len(refs)}"
        for kind, refs in c.evidence.items()
        if kind not in {m.partition(":")[0] for m in c.missing}
    )
    missing = "; ".join(c.missing)
    return have + (f". MISSING: {missing}" if missing else "")


_CHART_ROWS = 40  # rows of the RTO/RPO chart per drawing: well within a landscape A4 page


class PdfRenderer(Renderer):
    name = "pdf"
    filename = "report.pdf"
    media_type = "application/pdf"

    def render(self, data: ReportData) -> bytes:
        from xml.sax.saxutils import escape

        from reportlab import rl_config

        # no validation of every attribute set on a shape (read when reportlab's shapes
        # module is first imported, just below): a quarter's charts and timelines set
        # ~26,000, a fifth of the PDF's time; drill's values are numbers it computed
        rl_config.shapeChecking = 0
        from reportlab.lib import colors
        from reportlab.lib.pagesizes import A4, landscape
        from reportlab.lib.styles import getSampleStyleSheet
        from reportlab.platypus import (
            KeepTogether,
            Paragraph,
            SimpleDocTemplate,
            Spacer,
            Table,
            TableStyle,
        )

        styles = getSampleStyleSheet()
        small = styles["BodyText"].clone("small", fontSize=7, leading=8.5)
        buf = io.BytesIO()
        doc = SimpleDocTemplate(
            buf,
            pagesize=landscape(A4),
            title=data.title,
            author=data.generated_by,
            invariant=1,
            leftMargin=30,
            rightMargin=30,
            topMargin=30,
            bottomMargin=30,
        )
        width = landscape(A4)[0] - 60

        def p(text: object) -> Paragraph:
            return Paragraph(escape(str(text)), small)

        def table(rows: list[list[Any]], widths: list[float] | None = None) -> Table:
            t = Table(rows, colWidths=widths, repeatRows=1)
            t.setStyle(
                TableStyle(
                    [
                        ("GRID", (0, 0), (-1, -1), 0.3, colors.grey),
                        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee")),
                        ("FONTSIZE", (0, 0), (-1, -1), 7),
                        ("VALIGN", (0, 0), (-1, -1), "TOP"),
                    ]
                )
            )
            return t

        story: list[Any] = [
            Paragraph(escape(data.title), styles["Title"]),
            p(
                data.scope_shown
                + (f", environment {data.env}" if data.env else "")
                + f". Generated {_ts(data.generated_at)} by {data.generated_by}."
                + (
                    f" Evidence chain head #{data.chain.get('head_seq')} "
                    f"{str(data.chain.get('head_hash'))[:16]}, "
                    f"{'verified' if data.chain.get('verified') else 'NOT verified'}."
                    if data.chain
                    else ""
                )
                + (f" Signed by {data.signer_fingerprint}." if data.signer_fingerprint else "")
                + " All times are UTC (a trailing Z). RTO: recovery time objective, how long "
                "the service may be down after a fault; RPO: recovery point objective, how "
                "much recent data may be lost; both measured from outside, by probes acting "
                "as clients."
            ),
            Spacer(1, 6),
        ]
        dry = sum(r.dry_run for r in data.runs)
        skipped = sum(sc.skipped is not None for r in data.runs for sc in r.scenarios)
        ok = sum(r.status == "succeeded" and not r.dry_run for r in data.runs)
        story.append(
            p(
                f"{_count(len(data.runs), 'run')}, {ok} succeeded, {len(data.runs) - ok - dry} not"
                + (f", {dry} dry run(s) (no fault injected: not a DR test)" if dry else "")
                + (f", {skipped} scenario(s) skipped (not run)" if skipped else "")
                + "; "
                f"{_count(len(data.findings), 'finding')} "
                f"({sum(f.status == 'open' for f in data.findings)} open)."
            )
        )
        if data.controls:
            story += [
                Paragraph("Controls", styles["Heading2"]),
                table(
                    [["Framework", "Control", "Status", "Evidence (items in this export)"]]
                    + [
                        [
                            p(c.framework_title),
                            p(f"{c.control_id} {c.title}"),
                            p("satisfied" if c.satisfied else "NOT satisfied"),
                            p(_control_evidence(c)),
                        ]
                        for c in data.controls
                    ],
                    [120, 200, 60, width - 380],
                ),
                p(
                    "Each item is listed in report.html and in controls/FRAMEWORK.json "
                    "(the run, scenario or finding behind it)."
                ),
            ]
        chart = _objectives(data.detailed_runs(), width)
        story += [
            KeepTogether(  # no heading alone at the foot of a page
                [Paragraph("RTO / RPO against objectives", styles["Heading2"]), chart[0]]
            ),
            *chart[1:],
            Paragraph("Findings and corrective actions", styles["Heading2"]),
        ]
        findings = data.detailed_findings()
        if len(findings) < len(data.findings):  # a large period: counts, then a selection
            story += [
                table(
                    [["Kind", "Severity", "Status", "Findings"]]
                    + [list(row) for row in data.finding_summary()],
                    [200, 80, 80, 80],
                ),
                Spacer(1, 4),
                p(
                    f"Detail for {len(findings)} of {len(data.findings)} findings (open "
                    "first, then the newest); every finding is in report.html and "
                    "runs.json."
                ),
            ]
        story.append(
            table(
                [["#", "Run", "Finding", "Corrective action", "Owner / due", "Status"]]
                + [
                    [
                        f.id,
                        p(f.run_id or "-"),
                        p(f"[{f.severity}] {f.title}"),
                        p(f.corrective_action or "-"),
                        p(f"{f.owner or '-'} / {f.due_date or '-'}"),
                        p(f.status + (f": {f.resolution}" if f.resolution else "")),
                    ]
                    for f in findings
                ],
                [25, 110, 220, 220, 90, width - 665],
            )
            if findings
            else p("No findings were raised.")
        )
        detailed = data.detailed_runs()
        story.append(Paragraph("Runs", styles["Heading2"]))
        if len(detailed) < len(data.runs):
            story.append(
                p(
                    f"Detail for {len(detailed)} of {len(data.runs)} runs (failures "
                    "first, then the newest); every run is in runs.json / runs.csv."
                )
            )
        for r in detailed:
            story += [
                Paragraph(escape(f"{r.target} - {r.id} - {r.status_shown}"), styles["Heading3"]),
                p(
                    f"{r.target_kind} on {r.env} ({r.mode}), {r.trigger} by {r.who}, "
                    f"{_ts(r.started_at)} to {_ts(r.ended_at)}"
                    + (f". Error: {r.error}" if r.error else "")
                    + (f". Scenarios {r.not_started}" if r.not_started else "")
                ),
                Paragraph(  # one paragraph, not three: 100 runs' worth cost ~60 ms more
                    "<br/>".join(escape(f"{label}: {text}") for label, text in r.provenance()),
                    small,
                ),
                table(
                    [
                        [
                            "Scenario",
                            "Status",
                            "Fault injected",
                            "Service restored",
                            "RTO",
                            "RTO objective",
                            "RPO",
                            "RPO objective",
                            "Met",
                        ]
                    ]
                    + [
                        [
                            p(sc.scenario_id),
                            sc.status_shown,
                            _ts(sc.fault_injected_at),
                            _ts(sc.service_restored_at),
                            _secs(sc.rto_s),
                            format_duration(sc.objective_rto_s),
                            _secs(sc.rpo_s),
                            format_duration(sc.objective_rpo_s),
                            "dry run"
                            if sc.untested_dry_run
                            else {True: "yes", False: "no", None: "not judged"}[sc.met]
                            if sc.has_objective or sc.met is None
                            else "rollback failed (no objective)"
                            if sc.rollback_failed_held
                            else "passed (no objective)"
                            if sc.met
                            else "failed (no objective)",
                        ]
                        for sc in r.scenarios
                    ]
                ),
                *(
                    [p("Objectives set by " + "; ".join(set_by))]
                    if (
                        set_by := [
                            f"{sc.scenario_id}: {sc.objectives_set_by}"
                            for sc in r.scenarios
                            if sc.objectives_from and sc.has_objective
                        ]
                    )
                    else []
                ),
                Spacer(1, 4),
                _timeline(r, width),
                Spacer(1, 8),
            ]
        doc.build(story)
        return buf.getvalue()


def _count(n: int, noun: str) -> str:
    """``1 run``, ``2 runs``."""
    return f"{n} {noun}{'' if n == 1 else 's'}"
