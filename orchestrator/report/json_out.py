"""``runs.json``: every run of the report with its scenarios, steps, measurements,
findings, timeline and artifact references — the machine-readable record (one run
per line)."""

from __future__ import annotations

import json
from typing import Any

from orchestrator.report.base import Renderer
from orchestrator.report.model import ReportData, RunView


def dumps_readable(doc: Any, depth: int, indent: int = 1) -> bytes:
    """JSON with the outer ``depth`` levels of objects and arrays one member per line
    (indented) and anything deeper on one line.

    Readable and diffable like ``json.dumps(indent=…)`` — one run, observation or control
    per line — but encoded by the C encoder: ``indent`` makes the standard library fall
    back to its pure-Python encoder, which was most of the export time for a quarter of
    5,000 runs.
    """
    encode = json.JSONEncoder(ensure_ascii=False).encode
    out: list[str] = []

    def walk(value: Any, level: int) -> None:
        if level < depth and isinstance(value, dict | list) and value:
            pad = "\n" + " " * (indent * (level + 1))
            is_dict = isinstance(value, dict)
            out.append("{" if is_dict else "[")
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for i, (key, item) in enumerate(items):
                out.append(pad if i == 0 else "," + pad)
                if is_dict:
                    out.append(encode(str(key)) + ": ")
                walk(item, level + 1)
            out.append("\n" + " " * (indent * level) + ("}" if is_dict else "]"))
        elif isinstance(value, RawJSON):
            out.append(value)
        else:
            out.append(encode(value))

    walk(doc, 0)
    out.append("\n")
    return "".join(out).encode()


class RawJSON(str):
    """Already-encoded JSON that :func:`dumps_readable` writes as it is."""


def run_json(run: RunView) -> dict[str, Any]:
    """One run as runs.json holds it (artifacts carry their ``bundle_path``)."""
    return run.model_dump(mode="json")


class JsonRenderer(Renderer):
    name = "json"
    filename = "runs.json"
    media_type = "application/json"

    def render(self, data: ReportData) -> bytes:
        doc = {
            "title": data.title,
            "period": {
                "label": data.period_label,
                "start": data.period_start.isoformat() if data.period_start else None,
                "end_exclusive": data.period_end.isoformat() if data.period_end else None,
            },
            "env": data.env,
            "generated_at": data.generated_at.isoformat(),
            "generated_by": data.generated_by,
            "chain": data.chain,
            "runs": [RawJSON(r.model_dump_json()) for r in data.runs],  # = run_json(r)
            "environments": [RawJSON(e.model_dump_json()) for e in data.environments],
            "findings": [RawJSON(f.model_dump_json()) for f in data.findings],
            "controls": [RawJSON(c.model_dump_json()) for c in data.controls],
        }
        return dumps_readable(doc, depth=2)  # one run per line
