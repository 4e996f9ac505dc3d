"""Inline SVG charts for the HTML report: a run timeline and RTO/RPO vs objectives.

Hand-written SVG (no charting library, no scripts, no external assets) so the report
is one self-contained file that renders the same offline in any browser.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from html import escape

from orchestrator.durations import format_duration
from orchestrator.report.model import RunView

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


def timeline_svg(run: RunView) -> str:
    """Steps as bars on a time axis, with fault-injected / service-restored marks."""
    t0 = run.started_at
    ends = [run.ended_at] + [s.ended_at for s in run.steps] + [e.at for e in run.events]
    t1 = max((t for t in ends if t is not None), default=t0)
    span = max((t1 - t0).total_seconds(), 0.001)
    steps = run.steps[:MAX_STEPS]
    left, width, row = 230, 640, 16
    height = 40 + row * max(len(steps), 1) + 30
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 20}" '
        f'height="{height}" role="img" aria-label="timeline of run {escape(run.id)}" '
        'font-family="sans-serif" font-size="11">'
    ]
    digits = 3 if span < 1 else 2  # ticks of a short run read +0.01s twice at 2 digits
    for i in range(6):  # axis ticks
        x = left + width * i / 5
        parts.append(f'<line x1="{x:.1f}" y1="20" x2="{x:.1f}" y2="{height - 25}" stroke="#eee"/>')
        parts.append(
            f'<text x="{x:.1f}" y="{height - 10}" text-anchor="middle">'
            f"+{span * i / 5:.{digits}f}s</text>"
        )
    for i, st in enumerate(steps):
        y = 28 + i * row
        parts.append(
            f'<text x="{left - 6}" y="{y + 10}" text-anchor="end">'
            f"{escape((st.scenario or '') + ' ' + st.name)[:40]}</text>"
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
    for sc in run.scenarios:
        for at, label, colour in (
            (sc.fault_injected_at, "fault injected", "#d32f2f"),
            (sc.service_restored_at, "service restored", "#388e3c"),
        ):
            if at is None:
                continue
            x = _x(at, t0, span, left, width)
            parts.append(
                f'<line x1="{x:.1f}" y1="14" x2="{x:.1f}" y2="{height - 25}" '
                f'stroke="{colour}" stroke-width="2" stroke-dasharray="4 2"/>'
            )
            parts.append(
                f'<text x="{x + 3:.1f}" y="12" fill="{colour}">'
                f"{escape(sc.scenario_id)}: {label}</text>"
            )
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


CHART_LEGEND = (
    "bar: measured (green: objective met, red: missed) · black tick: the objective · "
    "each row is scaled to its own values"
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
            out.append(ChartRow(f"{run.target} · {run.id} · {run.status}", heading=True))
        measured = [
            (sc.scenario_id, name, value, objective)
            for sc in scenarios
            for name, value, objective in (
                ("RTO", sc.rto_s, sc.objective_rto_s),
                ("RPO", sc.rpo_s, sc.objective_rpo_s),
            )
        ]
        for scenario_id, name, value, objective in measured:
            goal = (
                "no objective" if objective is None else f"objective {format_duration(objective)}"
            )
            label = f"{scenario_id} {name}"
            if value is None:
                out.append(ChartRow(label, text=f"not measured ({goal})", ok=False))
                continue
            scale = max(value, objective or 0.0, 1e-9) * 1.1
            ok = objective is None or value <= objective
            verdict = "" if objective is None else (" · met" if ok else " · NOT met")
            tick = None if objective is None else objective / scale
            out.append(
                ChartRow(label, False, value / scale, tick, ok, f"{value:.3f}s ({goal}){verdict}")
            )
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
            parts.append(f'<text x="{left}" y="{y + 11}" fill="#c62828">{escape(row.text)}</text>')
        else:
            parts.append(
                f'<rect x="{left}" y="{y}" width="{row.bar * width:.1f}" height="14" '
                f'fill="{"#43a047" if row.ok else "#e53935"}"/>'
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
