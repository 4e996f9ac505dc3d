"""``report.html``: one self-contained page (inline CSS and SVG, no scripts, no network).

Jinja2 with autoescaping; every value from the evidence is escaped, the SVG charts
are built by :mod:`orchestrator.report.svg` which escapes its own text.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any

from orchestrator.durations import format_duration
from orchestrator.report.base import Renderer
from orchestrator.report.model import ReportData
from orchestrator.report.svg import objectives_svg, timeline_svg


def _ts(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") + "Z" if value else "—"


def _secs(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}s"


@cache
def _env() -> Any:
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=PackageLoader("orchestrator.report", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["ts"] = _ts
    env.filters["secs"] = _secs
    env.filters["duration"] = format_duration  # objectives: "4h 00m", not "14400.000s"
    return env


class HtmlRenderer(Renderer):
    name = "html"
    filename = "report.html"
    media_type = "text/html"

    def render(self, data: ReportData) -> bytes:
        detailed = data.detailed_runs()
        html = (
            _env()
            .get_template("report.html.j2")
            .render(
                d=data,
                detailed=detailed,
                objectives_svg=objectives_svg(detailed),
                timelines={r.id: timeline_svg(r) for r in detailed},
            )
        )
        return html.encode()
