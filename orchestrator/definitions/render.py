"""Render a runbook as the Markdown an on-call engineer follows by hand.

Automation is not always possible (no network path, the drill tool itself is
down), so every runbook has a human version. It is generated, never written by
hand: the step texts come from the runbook and from the action registry (summary,
destructive flag, permissions per provider), and the rollback section lists the
undos in the exact order the engine plays them. ``drill runbook render --check``
fails when a committed rendering is stale.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.actions import ACTIONS, ActivityKind, rollback_of
from orchestrator.definitions.kinds import Mark, StepKind
from orchestrator.definitions.models import Runbook, Step
from orchestrator.durations import format_duration

TEMPLATE = """\
<!-- Generated from {{ source }} by `drill runbook render`. Do not edit: edit the YAML. -->
# {{ rb.title }}

Runbook `{{ rb.id }}`{% if rb.scenario %} · scenario `{{ rb.scenario }}`{% endif %}\
{% if rb.owner %} · owner {{ rb.owner }}{% endif %}

{% if rb.description %}{{ rb.description }}

{% endif -%}
**Objectives:** {{ objectives }}.
Automated: `drill run {{ rb.id }} --env ENV`. Follow this page when automation is not possible.
{% if rb.isolated_supported -%}
Isolated mode (`--mode isolated`) rehearses it on a clone and leaves production alone:
steps marked *live mode only* are left out there, steps marked *isolated mode only* replace them.
{% else %}Live mode only: this scenario disrupts production by nature; isolated mode skips it.
{% endif %}
## Before you start

1. Announce the drill in the incident channel; name who runs it and who watches.
2. Start a client that writes and reads a row through the database endpoint every
   few seconds and logs the time of every acknowledged write (this is your probe
   and your ledger: RTO and RPO are measured from the client side, not from the
   provider's console).
{% for p in pre %}{{ loop.index + 2 }}. **{{ p.title }}**: {{ p.text }}
{% endfor %}
Do not continue unless every check above holds.

## Procedure
{% for s in steps %}
### Step {{ loop.index }}: {{ s.title }}

{{ s.text }}
{% for line in s.details %}- {{ line }}
{% endfor %}{% endfor %}
## Verification
{% for v in verification %}
{{ loop.index }}. **{{ v.title }}**: {{ v.text }}
{%- endfor %}
{% if not verification %}
No data verification is defined for this runbook.
{% endif %}
## Rollback

Run these in this order, also when the drill failed or was interrupted; skip an
undo whose step never ran.
{% for r in rollback %}
{{ loop.index }}. **{{ r.title }}**: {{ r.text }}
{%- endfor %}
{% if not rollback %}
Nothing to roll back.
{% endif %}
## Record

| what | value |
|---|---|
| fault injected at (T0, UTC) | |
| service restored at (UTC) | |
| RTO = restored - T0 | |
| newest acknowledged write before the fault (client time) | |
| newest write that survived | |
| lost acknowledged writes | |
| RPO | |
| objectives met ({{ objectives }})? | |
| performed by / date | |

File the record with `drill ack` notes or attach it to the quarterly evidence.
"""


@dataclass
class Item:
    title: str
    text: str
    details: list[str]


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return "null" if v is None else str(v)


def _args(args: dict[str, Any]) -> str:
    return ", ".join(f"{k}: {_value(v)}" for k, v in args.items()) if args else "no arguments"


def _action_text(name: str, args: dict[str, Any]) -> tuple[str, list[str]]:
    spec = ACTIONS.get(name)
    verb = "Check" if spec.kind is ActivityKind.PROBE else "Do"
    text = f"{verb} `{name}` ({_args(args)}): {spec.summary}"
    details = []
    if spec.destructive:
        details.append("**Disruptive**: changes the environment; confirm before you do it.")
    for provider in sorted(spec.permissions):
        details.append(f"Needs ({provider}): {', '.join(spec.permissions[provider])}.")
    return text, details


MODE_TAGS = {"skip": " (live mode only)", "only": " (isolated mode only)", "run": ""}


def _step_item(step: Step) -> Item:
    details: list[str] = []
    if step.kind is StepKind.WAIT and step.until == "service_restored":
        text = (
            "Watch your client. The service is restored at the first success after "
            "which it stays healthy for a stability window (drill uses 10 probe "
            "intervals, at least 1 s). Write down that time: **service restored**."
        )
        details.append(f"Give up and escalate after {format_duration(step.timeout)}.")
    elif step.kind is StepKind.WAIT and step.until:
        text = f"Wait until `{step.until}` holds."
        details.append(f"Give up and escalate after {format_duration(step.timeout)}.")
    elif step.kind is StepKind.WAIT:
        text = f"Wait {format_duration(step.duration)}."
    elif step.kind is StepKind.MANUAL:
        text = step.instructions or ""
    elif step.action:
        text, details = _action_text(step.action, step.args)
        if step.kind is StepKind.PROBE:
            details.insert(
                0,
                "It must hold before you continue"
                + (f" (retry up to {step.retries} times)." if step.retries else "."),
            )
        else:
            details.insert(
                0,
                f"Allow up to {format_duration(step.timeout)}"
                + (f", retry up to {step.retries} times." if step.retries else "."),
            )
    else:
        text = f"Run the Chaos Toolkit activity `{(step.activity or {}).get('name', '?')}`."
    if step.mark is Mark.FAULT_INJECTED:
        details.insert(0, "⏱ Write down the time this step **starts**: **T0, fault injected**.")
    if step.mark is Mark.SERVICE_RESTORED:
        details.insert(0, "⏱ Write down the time this step **ends**: **service restored**.")
    if step.kind is StepKind.ACTION and step.action and step.rollback:
        undo = rollback_of(step.action, step.args)
        if undo:
            details.append(f"Undone in the rollback by `{undo[0]}`.")
    return Item(step.title + MODE_TAGS[step.isolated], text, details)


def _rollback_items(rb: Runbook) -> list[Item]:
    """Automatic undos (newest first), then the runbook's own rollback steps."""
    items: list[Item] = []
    for step in reversed(rb.steps):
        if step.kind is not StepKind.ACTION or not step.action or not step.rollback:
            continue
        undo = rollback_of(step.action, step.args)
        if undo:
            text, _ = _action_text(*undo)
            items.append(Item(f"undo “{step.title}”{MODE_TAGS[step.isolated]}", text, []))
    for step in rb.rollback:
        items.append(_step_item(step))
    return items


def render_runbook(rb: Runbook, source: str) -> str:
    from jinja2 import Environment, StrictUndefined

    obj = []
    if rb.objectives.rto is not None:
        obj.append(f"RTO ≤ {format_duration(rb.objectives.rto)}")
    if rb.objectives.rpo is not None:
        obj.append(f"RPO ≤ {format_duration(rb.objectives.rpo)}")
    verification = []
    for v in rb.verification:
        text, _ = _action_text(v.action, v.args)
        verification.append(Item((v.name or v.action) + MODE_TAGS[v.isolated], text, []))
    env = Environment(
        undefined=StrictUndefined, keep_trailing_newline=True, autoescape=False
    )  # Markdown, not HTML
    out = env.from_string(TEMPLATE).render(
        rb=rb,
        source=source,
        objectives=", ".join(obj) or "none set",
        pre=[_step_item(s) for s in rb.preconditions],
        steps=[_step_item(s) for s in rb.steps],
        verification=verification,
        rollback=_rollback_items(rb),
    )
    from orchestrator.secrets import redact_text  # game days keep rendered runbooks

    return redact_text("\n".join(line.rstrip() for line in out.splitlines()) + "\n")


def rendered_path(source: Path, out_dir: Path | None) -> Path:
    return (out_dir or source.parent) / (source.stem + ".md")
