"""Inline SVG charts for the HTML report: a run timeline and RTO/RPO vs objectives.

Hand-written SVG (no charting library, no scripts, no external assets) so the report
is one self-contained file that renders the same offline in any browser.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from html import escape

from orchestrator.durations import format_duration
from orchestrator.report.model import RunView, StepView

STATUS_COLOURS = {
    "succeeded": "#2e7d32",
    "failed": "#c62828",
    "running": "#1565c0",
    "pending": "#9e9e9e",
    "skipped": "#bdbdbd",
    "cancelled": "#bdbdbd",
}
MAX_STEPS = 40


def _x(at: datetime, t0: datetime, span: float, left: int, width: int) -> float:
    return left + max(0.0, min(1.0, (at - t0).total_seconds() / span)) * width


def step_label(run: RunView, step: StepView, limit: int) -> str:
    """A timeline row's label, the HTML's and the PDF's: the step's name, after its
    scenario's when the run has several, cut with "…" at ``limit`` characters (cut before
    escaping: an ``&amp;`` cut in half broke the SVG). Cutting "scenario name" at 34
    characters left "rds-failover-tight database endpoi" of every step."""
    several = len(run.scenarios) > 1 and step.scenario
    text = f"{step.scenario}: {step.name}" if several else step.name
    return text if len(text) <= limit else text[: limit - 1] + "…"


#: a fault-injected / service-restored mark: (time, label, colour)
Mark = tuple[datetime, str, str]


def marks(run: RunView, fault: str, restored: str) -> list[Mark]:
    """The fault-injected and service-restored times of the run's scenarios, in time order."""
    found = [
        (at, f"{sc.scenario_id}: {label}", colour)
        for sc in run.scenarios
        for at, label, colour in (
            (sc.fault_injected_at, fault, "#d32f2f"),
            (sc.service_restored_at, restored, "#388e3c"),
        )
        if at is not None
    ]
    return sorted(found, key=lambda m: m[0])


#: what the marks' colours mean, beside every timeline that has marks
MARKS_LEGEND = (
    ("red dashed: fault injected", "#d32f2f"),
    ("green dashed: service restored", "#388e3c"),
)


def lanes(starts: list[float], widths: list[float], most: int = 5) -> list[int]:
    """The line each mark's label goes on (0 = the top), so that labels of marks close
    in time ("region-promotion: fault injected" 0.16 s before "…: service restored") do
    not print over each other; ``starts``: where each label begins; at most ``most``
    lines (then the line that frees first)."""
    ends: list[float] = []
    out = [0] * len(starts)
    for i in sorted(range(len(starts)), key=starts.__getitem__):
        lane = next((n for n, end in enumerate(ends) if end <= starts[i]), None)
        if lane is None:
            if len(ends) < most:
                ends.append(0.0)
                lane = len(ends) - 1
            else:
                lane = min(range(len(ends)), key=ends.__getitem__)
        ends[lane] = starts[i] + widths[i]
        out[i] = lane
    return out


def placed(x: float, text_width: float, right: float) -> tuple[float, bool]:
    """Where a mark's label begins, and whether it sits left of its line (``x``): right
    of it unless it would run past ``right`` (it was cut off at the chart's edge)."""
    return (x - text_width - 3, True) if x + 3 + text_width > right else (x + 3, False)


def timeline_end(run: RunView) -> datetime:
    """Where a run's timeline ends: when it ended, so the axis reads the duration the
    runs table gives (its run.end event, a moment later, made it '+5.94s' beside
    '5.93s'); a run without an end, at its last step or event."""
    ends = [s.ended_at for s in run.steps] + [e.at for e in run.events]
    return run.ended_at or max((t for t in ends if t is not None), default=run.started_at)


def timeline_svg(run: RunView) -> str:
    """Steps as bars on a time axis, with fault-injected / service-restored marks."""
    t0, t1 = run.started_at, timeline_end(run)
    span = max((t1 - t0).total_seconds(), 0.001)
    steps = run.steps_ran[:MAX_STEPS]  # as they ran, as `runs show` lists them
    left, width, row = 270, 640, 16
    found = marks(run, "fault", "restored")
    xs = [_x(at, t0, span, left, width) for at, _, _ in found]
    sizes = [6.6 * len(label) for _, label, _ in found]  # 11px sans-serif, generously
    where = [placed(x, w, left + width + 20) for x, w in zip(xs, sizes, strict=True)]
    lane = lanes([b for b, _ in where], [w + 8 for w in sizes])
    top = 12 * max([*lane, 1 if found else 0])  # room for the labels' (and legend's) lines
    height = 40 + top + row * max(len(steps), 1) + 30
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 20}" '
        f'height="{height}" role="img" aria-label="timeline of run {escape(run.id)}" '
        'font-family="sans-serif" font-size="11">'
    ]
    digits = 3 if span < 1 else 2  # ticks of a short run read +0.01s twice at 2 digits
    for i in range(6):  # axis ticks
        x = left + width * i / 5
        parts.append(
            f'<line x1="{x:.1f}" y1="{20 + top}" x2="{x:.1f}" y2="{height - 25}" stroke="#eee"/>'
        )
        parts.append(
            f'<text x="{x:.1f}" y="{height - 10}" text-anchor="middle">'
            f"+{span * i / 5:.{digits}f}s</text>"
        )
    for i, st in enumerate(steps):
        y = 28 + top + i * row
        parts.append(
            f'<text x="{left - 6}" y="{y + 10}" text-anchor="end">'
            f"{escape(step_label(run, st, 40))}</text>"
        )
        if st.started_at is None:
            continue
        x0 = _x(st.started_at, t0, span, left, width)
        x1 = _x(st.ended_at or t1, t0, span, left, width)
        colour = STATUS_COLOURS.get(st.status, "#616161")
        parts.append(
            f'<rect x="{x0:.1f}" y="{y}" width="{max(x1 - x0, 2):.1f}" height="12" '
            f'fill="{colour}"><title>{escape(st.phase)} {escape(st.name)}: '
            f"{escape(st.status)}</title></rect>"
        )
    for (_at, label, colour), x, (_, before), n in zip(found, xs, where, lane, strict=True):
        parts.append(
            f'<line x1="{x:.1f}" y1="{14 + 12 * n}" x2="{x:.1f}" y2="{height - 25}" '
            f'stroke="{colour}" stroke-width="2" stroke-dasharray="4 2"/>'
        )
        anchor = f'x="{x - 3:.1f}" text-anchor="end"' if before else f'x="{x + 3:.1f}"'
        parts.append(f'<text {anchor} y="{12 + 12 * n}" fill="{colour}">{escape(label)}</text>')
    for n, (text, colour) in enumerate(MARKS_LEGEND if found else ()):  # top left
        parts.append(f'<text x="0" y="{12 + 12 * n}" fill="{colour}">{text}</text>')
    if len(run.steps) > MAX_STEPS:
        parts.append(
            f'<text x="{left}" y="{height - 25}">… {len(run.steps) - MAX_STEPS} more '
            "steps in runs.json</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


@dataclass(frozen=True)
class ChartRow:
    """One line of the RTO/RPO chart, drawn the same in the HTML (SVG) and the PDF: a
    run's heading (``heading`` set), or a measurement: its bar and objective tick as
    fractions of the row's own scale (objectives range from 0 s to hours), and the text
    right of the bar (never above it, where it ran into the row before)."""

    label: str
    heading: bool = False
    bar: float | None = None  # None: not measured (``text`` says so)
    tick: float | None = None
    ok: bool = True
    text: str = ""
    judged: bool = True  # False: the scenario's objectives were not judged (grey)


GREY = "#9e9e9e"  # not judged: an aborted or skipped scenario's row
CHART_LEGEND = (
    "bar: measured (green: objective met, red: missed, grey: not judged) · black tick: the "
    "objective · each row is scaled to its own values"
)


def chart_rows(runs: list[RunView]) -> list[ChartRow]:
    """RTO and RPO of each scenario with objectives against them, grouped by run."""
    out: list[ChartRow] = []
    for run in runs:
        scenarios = [
            sc
            for sc in run.scenarios
            if sc.objective_rto_s is not None or sc.objective_rpo_s is not None
        ]
        if scenarios:
            out.append(ChartRow(f"{run.target} · {run.id} · {run.status_shown}", heading=True))
        measured = [
            (sc, name, value, objective)
            for sc in scenarios
            for name, value, objective in (
                ("RTO", sc.rto_s, sc.objective_rto_s),
                ("RPO", sc.rpo_s, sc.objective_rpo_s),
            )
        ]
        for sc, name, value, objective in measured:
            goal = (
                "no objective" if objective is None else f"objective {format_duration(objective)}"
            )
            label = f"{sc.scenario_id} {name}"
            judged = sc.met is not None  # an aborted scenario's value is no verdict
            if value is None:
                said = "skipped: not run" if sc.skipped else "not measured"
                out.append(ChartRow(label, text=f"{said} ({goal})", ok=False, judged=judged))
                continue
            scale = max(value, objective or 0.0, 1e-9) * 1.1
            ok = objective is None or value <= objective
            verdict = "" if objective is None else (" · met" if ok else " · NOT met")
            if not judged:
                verdict = f" · not judged ({sc.status})"
            tick = None if objective is None else objective / scale
            text = f"{value:.3f}s ({goal}){verdict}"
            out.append(ChartRow(label, False, value / scale, tick, ok, text, judged))
    return out


def objectives_svg(runs: list[RunView]) -> str:
    """The chart of :func:`chart_rows` as SVG."""
    left, width = 200, 480
    parts = [f'<text x="4" y="14" fill="#616161">{escape(CHART_LEGEND)}</text>']
    y = 34
    rows = chart_rows(runs)
    for row in rows:
        if row.heading:
            parts.append(f'<text x="4" y="{y + 19}" font-weight="bold">{escape(row.label)}</text>')
            y += 28
            continue
        parts.append(
            f'<text x="{left - 6}" y="{y + 11}" text-anchor="end">{escape(row.label)}</text>'
        )
        if row.bar is None:
            fill = "#c62828" if row.judged else GREY
            parts.append(f'<text x="{left}" y="{y + 11}" fill="{fill}">{escape(row.text)}</text>')
        else:
            fill = GREY if not row.judged else "#43a047" if row.ok else "#e53935"
            parts.append(
                f'<rect x="{left}" y="{y}" width="{row.bar * width:.1f}" height="14" '
                f'fill="{fill}"/>'
                f'<text x="{left + width + 8}" y="{y + 11}">{escape(row.text)}</text>'
            )
        if row.tick is not None:
            x = left + row.tick * width
            parts.append(
                f'<line x1="{x:.1f}" y1="{y - 2}" x2="{x:.1f}" y2="{y + 16}" '
                'stroke="#000" stroke-width="2"/>'
            )
        y += 20
    if not rows:
        parts.append('<text x="10" y="40">no scenarios with objectives in this report</text>')
    return "".join(
        [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="1000" height="{max(y, 60)}" '
            'role="img" aria-label="RTO and RPO against objectives" font-family="sans-serif" '
            'font-size="11">',
            *parts,
            "</svg>",
        ]
    )
