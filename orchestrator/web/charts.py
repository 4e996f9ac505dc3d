"""Inline SVG charts for the dashboard, drawn from the JSON documents the pages show.

Hand-written SVG with a ``viewBox`` (it scales to a phone's width), no script and no
external asset, so the dashboard works offline and behind any proxy. Text is escaped
here; templates mark the result safe.
"""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Any

STATUS_COLOURS = {
    "succeeded": "#2e7d32",
    "failed": "#c62828",
    "running": "#1565c0",
    "pending": "#9e9e9e",
    "skipped": "#bdbdbd",
    "cancelled": "#bdbdbd",
    "aborted": "#ef6c00",
    "crashed": "#6a1b9a",
    "rollback_failed": "#6a1b9a",
}
MAX_STEPS = 60
#: characters of a timeline row's label (the rest: "…", and whole on hover)
LABEL_CHARS = 34


def _when(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def trend_svg(points: list[dict[str, Any]], key: str, label: str) -> str:
    """``key`` (rto_s / rpo_s) of one scenario over its last runs, oldest left.

    The scale fits the measured values; the objective is a dashed line when it is on
    that scale and is named in the caption otherwise (an RTO of 2 s against 4 h is
    still a readable trend). A dot is green when that run met the objective, red when
    it did not, grey when there was none."""
    width, height, left, top, bottom = 240, 78, 30, 16, 6
    values = [p[key] for p in points if p[key] is not None]
    objective = next(
        (p["objectives"][key] for p in reversed(points) if p["objectives"][key] is not None), None
    )
    peak = max(values, default=0.0)
    scale = (peak or objective or 1.0) * 1.25
    if objective is not None and objective <= scale * 1.5:
        scale = max(scale, objective * 1.25)
    inner_w, inner_h = width - left - 8, height - top - bottom

    def y(v: float) -> float:
        return top + inner_h - min(v / scale, 1.0) * inner_h

    caption = label + ("" if objective is None else f" · objective {objective:g}s")
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'class="chart trend" role="img" aria-label="{escape(caption)} trend">',
        f'<text x="2" y="10" class="axis">{escape(caption)}</text>',
        f'<line x1="{left}" y1="{top + inner_h}" x2="{width - 8}" y2="{top + inner_h}" '
        'class="grid"/>',
        f'<text x="{left - 3}" y="{top + 6}" text-anchor="end" class="axis">{scale:.2g}s</text>',
    ]
    if objective is not None and objective <= scale:
        parts.append(
            f'<line x1="{left}" y1="{y(objective):.1f}" x2="{width - 8}" '
            f'y2="{y(objective):.1f}" class="objective"/>'
        )
    if not values:
        parts.append(
            f'<text x="{left + 6}" y="{top + inner_h / 2}" class="axis">not measured</text>'
        )
    step = inner_w / max(len(points) - 1, 1)
    line: list[str] = []
    dots: list[str] = []
    for i, p in enumerate(points):
        x = left + (i * step if len(points) > 1 else inner_w / 2)
        value, goal = p[key], p["objectives"][key]
        if value is None:
            continue
        line.append(f"{x:.1f},{y(value):.1f}")
        ok = "none" if goal is None else ("met" if value <= goal else "missed")
        dots.append(
            f'<circle cx="{x:.1f}" cy="{y(value):.1f}" r="3" class="dot {ok}">'
            f"<title>{escape(p['started_at'] or '')}: {value:.3f}s"
            + (f" (objective {goal:g}s)" if goal is not None else "")
            + "</title></circle>"
        )
    if len(line) > 1:
        parts.append(f'<polyline points="{" ".join(line)}" class="series"/>')
    parts += dots
    parts.append("</svg>")
    return "".join(parts)


def timeline_svg(doc: dict[str, Any]) -> str:
    """A run's steps as bars on its time axis, with fault-injected / restored marks."""
    from orchestrator.views import steps_as_ran

    t0 = _when(doc["started_at"])
    steps = doc.get("steps", [])
    if t0 is None:
        return ""
    ends = [_when(doc["ended_at"])] + [_when(s["ended_at"]) for s in steps]
    t1 = max((t for t in ends if t is not None), default=t0)
    span = max((t1 - t0).total_seconds(), 0.001)
    shown = steps_as_ran(steps)[:MAX_STEPS]  # as the Steps table (and `runs show`) list them
    left, width, row = 210, 560, 18
    head = 34  # two rows of mark labels, alternating by scenario, so neighbours do not overlap
    height = head + 8 + row * max(len(shown), 1) + 26

    def x(at: datetime) -> float:
        return left + max(0.0, min(1.0, (at - t0).total_seconds() / span)) * width

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {left + width + 16} '
        f'{height}" class="chart timeline" role="img" '
        f'aria-label="timeline of run {escape(doc["run_id"])}">'
    ]
    for i in range(6):
        gx = left + width * i / 5
        parts.append(
            f'<line x1="{gx:.1f}" y1="{head - 6}" x2="{gx:.1f}" y2="{height - 22}" '
            'class="grid"/><text x="{:.1f}" y="{}" text-anchor="middle" '
            'class="axis">+{:.1f}s</text>'.format(gx, height - 8, span * i / 5)
        )
    several = len(doc.get("scenarios", [])) > 1
    for i, st in enumerate(shown):
        top = head + i * row
        # as the reports' timeline (report.svg.step_label): the scenario only when the run
        # has several, cut with "…" and whole on hover; "scenario name" cut at 34 left
        # "tight-failover database endpoint a" of a one-scenario run's every step
        name = f"{st['scenario']}: {st['name']}" if several and st["scenario"] else st["name"]
        cut = name if len(name) <= LABEL_CHARS else name[: LABEL_CHARS - 1] + "…"
        parts.append(
            f'<text x="{left - 6}" y="{top + 11}" text-anchor="end" class="label">'
            f"<title>{escape(name)}</title>{escape(cut)}</text>"
        )
        start = _when(st["started_at"])
        if start is None:
            continue
        x0, x1 = x(start), x(_when(st["ended_at"]) or t1)
        colour = STATUS_COLOURS.get(st["status"], "#616161")
        parts.append(
            f'<rect x="{x0:.1f}" y="{top}" width="{max(x1 - x0, 2):.1f}" height="13" '
            f'fill="{colour}" class="step"><title>{escape(st["phase"])} '
            f"{escape(st['name'])}: {escape(st['status'])}</title></rect>"
        )
    for n, sc in enumerate(doc["scenarios"]):
        label_y = 11 + 12 * (n % 2)
        for key, label, css in (
            ("fault_injected_at", "fault", "fault"),
            ("service_restored_at", "restored", "restored"),
        ):
            at = _when(sc[key])
            if at is None:
                continue
            mx = x(at)
            parts.append(
                f'<line x1="{mx:.1f}" y1="{label_y + 2}" x2="{mx:.1f}" y2="{height - 22}" '
                f'class="mark {css}"><title>{escape(sc["id"])}: {label}</title></line>'
                + (
                    f'<text x="{mx + 3:.1f}" y="{label_y}" class="mark-label {css}">'
                    f"{escape(sc['id'])}</text>"
                    if css == "fault"
                    else ""
                )
            )
    if len(steps) > MAX_STEPS:
        parts.append(
            f'<text x="{left}" y="{height - 22}" class="axis">… '
            f"{len(steps) - MAX_STEPS} more steps below</text>"
        )
    parts.append("</svg>")
    return "".join(parts)
