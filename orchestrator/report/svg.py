"""Inline SVG charts for the HTML report: a run timeline and RTO/RPO vs objectives.

Hand-written SVG (no charting library, no scripts, no external assets) so the report
is one self-contained file that renders the same offline in any browser.
"""

from __future__ import annotations

from datetime import datetime
from html import escape

from orchestrator.report.model import RunView, ScenarioView

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
    for i in range(6):  # axis ticks
        x = left + width * i / 5
        parts.append(f'<line x1="{x:.1f}" y1="20" x2="{x:.1f}" y2="{height - 25}" stroke="#eee"/>')
        parts.append(
            f'<text x="{x:.1f}" y="{height - 10}" text-anchor="middle">+{span * i / 5:.2f}s</text>'
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


def _bar(label: str, value: float | None, objective: float | None, y: int) -> list[str]:
    left, width = 260, 520
    out = [f'<text x="{left - 6}" y="{y + 11}" text-anchor="end">{escape(label)}</text>']
    if value is None:
        out.append(
            f'<text x="{left}" y="{y + 11}" fill="#c62828">not measured'
            + (f" (objective {objective:g}s)" if objective is not None else "")
            + "</text>"
        )
        return out
    scale = max(value, objective or 0.0, 1e-9) * 1.1
    ok = objective is None or value <= objective
    out.append(
        f'<rect x="{left}" y="{y}" width="{value / scale * width:.1f}" height="14" '
        f'fill="{"#43a047" if ok else "#e53935"}"/>'
    )
    out.append(f'<text x="{left + value / scale * width + 4:.1f}" y="{y + 11}">{value:.3f}s</text>')
    if objective is not None:
        x = left + objective / scale * width
        out.append(
            f'<line x1="{x:.1f}" y1="{y - 3}" x2="{x:.1f}" y2="{y + 17}" '
            'stroke="#000" stroke-width="2"/>'
        )
        out.append(
            f'<text x="{x:.1f}" y="{y - 4}" text-anchor="middle" font-size="9">'
            f"objective {objective:g}s</text>"
        )
    return out


def objectives_svg(rows: list[tuple[RunView, ScenarioView]]) -> str:
    """RTO and RPO of each scenario against its objectives (black tick = objective)."""
    height = 20 + 44 * max(len(rows), 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="860" height="{height}" '
        'role="img" aria-label="RTO and RPO against objectives" font-family="sans-serif" '
        'font-size="11">'
    ]
    for i, (run, sc) in enumerate(rows):
        y = 16 + i * 44
        parts += _bar(f"{run.id} {sc.scenario_id} RTO", sc.rto_s, sc.objective_rto_s, y)
        parts += _bar(f"{sc.scenario_id} RPO", sc.rpo_s, sc.objective_rpo_s, y + 20)
    if not rows:
        parts.append('<text x="10" y="20">no scenarios with objectives in this report</text>')
    parts.append("</svg>")
    return "".join(parts)
