"""``runs.json``: every run of the report with its scenarios, steps, measurements,
findings, timeline and artifact references — the machine-readable record."""

from __future__ import annotations

import json
from typing import Any

from orchestrator.report.base import Renderer
from orchestrator.report.model import ReportData, RunView


def run_json(run: RunView) -> dict[str, Any]:
    doc = run.model_dump(mode="json")
    for art in doc["artifacts"]:
        art["bundle_path"] = f"journals/{run.id}/{art['id']}-{art['name']}"
    return doc


class JsonRenderer(Renderer):
    name = "json"
    filename = "runs.json"
    media_type = "application/json"

    def render(self, data: ReportData) -> bytes:
        doc = {
            "title": data.title,
            "period": {"label": data.period_label,
                       "start": data.period_start.isoformat() if data.period_start else None,
                       "end_exclusive": data.period_end.isoformat() if data.period_end else None},
            "env": data.env,
            "generated_at": data.generated_at.isoformat(),
            "generated_by": data.generated_by,
            "chain": data.chain,
            "runs": [run_json(r) for r in data.runs],
            "findings": [f.model_dump(mode="json") for f in data.findings],
            "controls": [c.model_dump(mode="json") for c in data.controls],
        }
        return (json.dumps(doc, indent=1, ensure_ascii=False) + "\n").encode()
