"""Test definitions written into a test's working directory."""

from __future__ import annotations

from pathlib import Path


def experiment(
    marker: Path,
    fail: bool = False,
    pause: float = 0.0,
    deviate: bool = False,
    held: Path | None = None,
) -> str:
    """A marker experiment; ``fail``: a method action raises (chaos: still completed);
    ``deviate``: the method breaks the steady state (chaos: deviated); ``held``: an action
    after the marker says it is running (``held``) and ends once ``HELD.release`` exists
    (a stop lets an action end: the test releases it, no grace is waited out)."""
    method = f"""
  - type: action
    name: inject-marker
    provider: {{type: python, module: tests.faults, func: touch, arguments: {{path: "{marker}"}}}}
"""
    if held is not None:
        method += f"""
  - type: action
    name: hold
    provider: {{type: python, module: tests.faults, func: hold_until,
               arguments: {{path: "{held}", release: "{held}.release"}}}}
"""
    if pause:
        method += f"""
  - type: action
    name: hold
    provider: {{type: python, module: tests.faults, func: pause, arguments: {{seconds: {pause}}}}}
"""
    if fail:
        method += """
  - type: action
    name: break
    provider: {type: python, module: tests.faults, func: fail, arguments: {message: planned}}
"""
    if deviate:
        method += f"""
  - type: action
    name: break-steady-state
    provider: {{type: python, module: tests.faults, func: touch,
               arguments: {{path: "{marker}.broken"}}}}
"""
    return f"""title: marker experiment
description: leaves a marker file; its rollback removes it
steady-state-hypothesis:
  title: filesystem is there
  probes:
    - type: probe
      name: root-exists
      tolerance: true
      provider: {{type: python, module: os.path, func: exists, arguments: {{path: /}}}}
    - type: probe
      name: nothing-broken
      tolerance: false
      provider: {{type: python, module: os.path, func: exists,
                  arguments: {{path: "{marker}.broken"}}}}
method:{method}
rollbacks:
  - type: action
    name: remove-marker
    provider: {{type: python, module: tests.faults, func: remove, arguments: {{path: "{marker}"}}}}
"""


def runbook(
    marker: Path,
    *,
    fail: bool = False,
    wait_s: float = 0.0,
    manual: bool = False,
    rb_id: str = "marker-runbook",
) -> str:
    steps = f"""
  - name: inject the fault
    kind: action
    activity: {{type: action, name: touch, provider: {{type: python, module: tests.faults,
               func: touch, arguments: {{path: "{marker}"}}}}}}
"""
    if wait_s:
        steps += f"""
  - name: hold the fault
    kind: wait
    duration: {wait_s}s
"""
    if manual:
        steps += """
  - name: operator checks the dashboard
    kind: manual
    instructions: Look at the dashboard and confirm the alarm fired.
    timeout: 60s
"""
    if fail:
        steps += """
  - name: a step that fails
    kind: action
    activity: {type: action, name: fail, provider: {type: python, module: tests.faults,
               func: fail, arguments: {message: planned failure}}}
"""
    return f"""id: {rb_id}
title: Marker runbook
scenario: test
steps:{steps}
rollback:
  - name: remove the marker
    kind: action
    activity: {{type: action, name: remove, provider: {{type: python, module: tests.faults,
               func: remove, arguments: {{path: "{marker}"}}}}}}
"""


def activity(func: str, **arguments: object) -> str:
    """An inline Chaos Toolkit activity of tests.faults, as one YAML flow mapping (JSON is
    YAML: paths and messages need no escaping of their own)."""
    import json

    provider = {"type": "python", "module": "tests.faults", "func": func, "arguments": arguments}
    return json.dumps({"type": "action", "name": func, "provider": provider})


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path
