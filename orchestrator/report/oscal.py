"""``oscal/assessment-results.json``: the export as NIST OSCAL assessment results.

One *result* per export: the reviewed controls of the chosen framework(s), one
*observation* per run (method TEST, linking to its record in runs.json) and per drill
finding, and one OSCAL *finding* per control whose objective status is ``satisfied``
when every evidence kind the mapping asks for is present. UUIDs are version-5,
derived from the evidence, so exporting the same data twice yields the same ids.

Control ids are the mapping's ``oscal_id`` tokens (e.g. ``cp-4``, ``a1.3``,
``req-12.10.2``): OSCAL requires tokens, which ``12.10.2`` or ``164.308(a)(7)(ii)(D)``
are not; the framework's own spelling is kept in a ``label`` prop.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from orchestrator.report.base import Renderer
from orchestrator.report.json_out import dumps_readable
from orchestrator.report.model import ReportData, RunView

OSCAL_VERSION = "1.1.2"
_NS = uuid.UUID("5f1c3f5e-6a51-4d8e-9d8a-2f0d1c7e0a11")
DRILL_NS = "https://drill.dev/ns/oscal"


def _scenarios_in_words(r: RunView) -> str:
    """How the run's scenarios ended: objectives met (of those that had RTO/RPO
    objectives), passed (of those without: an experiment's steady state), not judged.
    "1 of 1 scenario(s) met their objectives" was said of an experiment that had none."""
    aimed = [sc for sc in r.scenarios if sc.has_objective and sc.met is not None]
    free = [sc for sc in r.scenarios if not sc.has_objective and sc.met is not None]
    unjudged = [sc for sc in r.scenarios if sc.met is None]
    parts = []
    if aimed:
        parts.append(
            f"{sum(bool(sc.met) for sc in aimed)} of {len(aimed)} scenario(s) met their objectives"
        )
    if free:  # one whose rollback failed did not pass, whatever its steady state said
        ok = sum(bool(sc.met) and sc.status != "rollback_failed" for sc in free)
        parts.append(f"{ok} of {len(free)} without an RTO/RPO objective passed")
    if stuck := [sc for sc in r.scenarios if sc.status == "rollback_failed"]:
        parts.append(f"{len(stuck)} rollback failed (the environment may be degraded)")
    if unjudged:
        parts.append(
            f"{len(unjudged)} not judged ("
            + "; ".join(f"{sc.scenario_id}: {sc.met_reason}" for sc in unjudged)
            + ")"
        )
    return "; ".join(parts) or "no scenario"


def _uuid(*parts: object) -> str:
    return str(uuid.uuid5(_NS, "\x1f".join(str(p) for p in parts)))


def _ts(value: datetime) -> str:
    """A date-time as OSCAL's schema takes it (``DateTimeWithTimezoneDatatype``): UTC with
    ``Z``, and a fraction of a second, when there is one, without trailing zeros —
    ``02:45:55.073070+00:00`` (isoformat's) fails that pattern, about one time in ten."""
    value = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)  # stored UTC
    text = value.strftime("%Y-%m-%dT%H:%M:%S.%f").rstrip("0").rstrip(".")
    return text + "Z"


def _prop(name: str, value: object) -> dict[str, str]:
    return {"name": name, "ns": DRILL_NS, "value": str(value) if str(value) else "-"}


class OscalRenderer(Renderer):
    name = "oscal"
    filename = "oscal/assessment-results.json"
    media_type = "application/json"

    def document(self, data: ReportData) -> dict[str, Any]:
        key = (data.period_label, data.env, ",".join(data.frameworks), data.generated_at)
        ap = _uuid("ap", *key)
        observations, obs_of_run = [], {}
        for r in data.runs:
            u = _uuid("run", r.id)
            obs_of_run[f"run:{r.id}"] = u
            observations.append(
                {
                    "uuid": u,
                    "title": f"Drill run {r.id}: {r.target} on {r.env}",
                    "description": (
                        f"{r.target_kind} {r.target} ran on {r.env} ({r.mode}), "
                        f"{r.trigger} by {r.who}; status {r.status_shown}; "
                        f"{_scenarios_in_words(r)}."
                        + (f" Scenarios {r.not_started}." if r.not_started else "")
                    ),
                    "props": [_prop("run-status", r.status), _prop("environment", r.env)]
                    + [
                        _prop("rto-seconds", f"{sc.scenario_id}={sc.rto_s:.3f}")
                        for sc in r.scenarios
                        if sc.rto_s is not None
                    ]
                    + [
                        _prop("rpo-seconds", f"{sc.scenario_id}={sc.rpo_s:.3f}")
                        for sc in r.scenarios
                        if sc.rpo_s is not None
                    ],
                    "methods": ["TEST"],
                    "types": ["control-objective"],
                    "collected": _ts(r.started_at),
                    "relevant-evidence": [
                        {
                            "href": f"../runs.json#{r.id}",
                            "description": "run record with steps, measurements and timeline",
                        }
                    ]
                    + [
                        {
                            "href": f"../{a.bundle_path}",
                            "description": f"journal {a.name}, sha256 {a.sha256}",
                        }
                        for a in r.artifacts
                    ],
                }
            )
        for f in data.findings:
            u = _uuid("finding", f.id)
            obs_of_run[f"finding:{f.id}"] = u
            observations.append(
                {
                    "uuid": u,
                    "title": f"Finding #{f.id}: {f.title}",
                    "description": (
                        f"{f.kind} ({f.severity}), {f.status}. Corrective action: "
                        f"{f.corrective_action or 'none recorded'}."
                        + (f" Owner {f.owner}, due {f.due_date}." if f.owner else "")
                        + (f" Resolution: {f.resolution}." if f.resolution else "")
                    ),
                    "methods": ["TEST"],
                    "types": ["finding"],
                    "collected": _ts(f.created_at),
                    "relevant-evidence": [
                        {"href": f"../runs.json#finding-{f.id}", "description": "finding record"}
                    ],
                }
            )
        findings = []
        for c in data.controls:
            related = sorted(
                {
                    obs_of_run[ref.ref]
                    for refs in c.evidence.values()
                    for ref in refs
                    if ref.ref in obs_of_run
                }
            )
            finding: dict[str, Any] = {
                "uuid": _uuid("control", c.framework, c.oscal_id, *key),
                "title": f"{c.framework_title} {c.control_id}: {c.title}",
                "description": (
                    f"{c.description} Evidence required: "
                    + "; ".join(f"{c.evidence_meaning.get(k, k)} ({k})" for k in c.evidence_kinds)
                    + "."
                    + (f" Missing: {'; '.join(c.missing)}." if c.missing else "")
                ),
                "props": [_prop("label", c.control_id), _prop("framework", c.framework)],
                "target": {
                    "type": "objective-id",
                    "target-id": f"{c.oscal_id}_obj",
                    "status": {"state": "satisfied" if c.satisfied else "not-satisfied"},
                },
            }
            if related:
                finding["related-observations"] = [{"observation-uuid": u} for u in related]
            findings.append(finding)
        result: dict[str, Any] = {
            "uuid": _uuid("result", *key),
            "title": f"Disaster-recovery drills, {data.period_label}",
            "description": (
                f"Drill runs recorded by drill for {data.period_label}"
                + (f" on {data.env}" if data.env else "")
                + ", evidence chain "
                + ("verified." if data.chain.get("verified") else "not verified.")
            ),
            "start": _ts(data.period_start or data.generated_at),
            "reviewed-controls": {
                "control-selections": [
                    {"include-controls": [{"control-id": c.oscal_id} for c in data.controls]}
                    if data.controls
                    else {"include-all": {}}
                ]
            },
        }
        if data.period_end and data.period_end <= data.generated_at:
            result["end"] = _ts(data.period_end)
        if observations:
            result["observations"] = observations
        if findings:
            result["findings"] = findings
        return {
            "assessment-results": {
                "uuid": _uuid("ar", *key),
                "metadata": {
                    "title": data.title,
                    "last-modified": _ts(data.generated_at),
                    "version": data.period_label,
                    "oscal-version": OSCAL_VERSION,
                },
                "import-ap": {"href": f"#{ap}"},
                "results": [result],
                "back-matter": {
                    "resources": [
                        {
                            "uuid": ap,
                            "title": "Assessment plan: drill definitions",
                            "description": (
                                "The drills, runbooks and experiments whose runs are "
                                "assessed; their definition hashes are in runs.json."
                            ),
                        }
                    ]
                },
            }
        }

    def render(self, data: ReportData) -> bytes:
        # one observation / finding per line (see dumps_readable)
        return dumps_readable(self.document(data), depth=5, indent=2)
