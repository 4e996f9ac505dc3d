"""The run timelines of report.html and report.pdf, as an auditor reads them.

Each step's label was "scenario name" cut at 34 (PDF) or 40 (HTML) characters — in a
one-scenario run "rds-failover-tight database endpoi" for every step — and the HTML cut
it after escaping, so an ``&amp;`` cut in half broke the SVG. The labels of fault and
restore marks a fraction of a second apart were printed over each other.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

from orchestrator.report.model import RunView, ScenarioView, StepView
from orchestrator.report.svg import lanes, step_label, timeline_svg

T0 = datetime(2026, 12, 1, 23, 52, tzinfo=UTC)


def _run(scenarios: list[str], name: str) -> RunView:
    scs = [
        ScenarioView(
            id=i,
            scenario_id=sid,
            ref=sid,
            kind="runbook",
            status="succeeded",
            started_at=T0,
            fault_injected_at=T0 + timedelta(seconds=1 + 3 * i),
            service_restored_at=T0 + timedelta(seconds=1.2 + 3 * i),
        )
        for i, sid in enumerate(scenarios)
    ]
    steps = [
        StepView(
            seq=i,
            scenario=sid,
            phase="step",
            name=name,
            kind="action",
            status="succeeded",
            started_at=T0 + timedelta(seconds=3 * i),
            ended_at=T0 + timedelta(seconds=3 * i + 1),
        )
        for i, sid in enumerate(scenarios)
    ]
    return RunView(
        id="r-1",
        target="quarterly-dr",
        target_kind="drill",
        env="lab",
        mode="live",
        status="succeeded",
        trigger="manual",
        who="root",
        started_at=T0,
        ended_at=T0 + timedelta(seconds=3 * len(scenarios)),
        scenarios=scs,
        steps=steps,
    )


def test_a_one_scenario_run_labels_its_steps_by_name() -> None:
    run = _run(["rds-failover-tight"], "database endpoint accepts writes")
    assert step_label(run, run.steps[0], 46) == "database endpoint accepts writes"
    several = _run(["az-loss", "rds-failover"], "database endpoint accepts writes on the new one")
    label = step_label(several, several.steps[1], 40)
    assert label.startswith("rds-failover: database endpoint") and label.endswith("…")
    assert len(label) == 40


def test_a_label_cut_next_to_an_ampersand_is_still_valid_svg() -> None:
    # "a: " + 36 characters puts the "&" at the cut
    run = _run(["a", "b"], "x" * 35 + " & y is checked")
    svg = timeline_svg(run)
    root = ET.fromstring(svg)  # a cut "&amp;" raised ParseError
    texts = [t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert any(t.startswith("a: xxx") and t.endswith("…") for t in texts), texts


def test_mark_labels_close_in_time_go_on_separate_lines() -> None:
    # two labels 5 px apart, 100 px wide: not on one line; a third far right: line 0
    assert lanes([100.0, 105.0, 400.0], [100.0, 100.0, 100.0]) == [0, 1, 0]
    run = _run(["region-promotion"], "promote")  # fault and restore 0.2 s apart
    root = ET.fromstring(timeline_svg(run))
    marks = [
        t
        for t in root.iter("{http://www.w3.org/2000/svg}text")
        if (t.text or "").startswith("region-promotion: ")
    ]
    assert len(marks) == 2 and marks[0].get("y") != marks[1].get("y"), [
        (m.text, m.get("y")) for m in marks
    ]


def test_the_axis_ends_at_the_run_s_duration() -> None:
    """The run.end event is written a moment after the run's end: the timeline's last
    tick read '+5.94s' beside the runs table's duration of 5.93s (HTML and PDF)."""
    from orchestrator.report.model import EventView

    run = _run(["az-loss"], "lose the zone").model_copy(
        update={
            "ended_at": T0 + timedelta(seconds=5.934),
            "events": [EventView(at=T0 + timedelta(seconds=5.9352), kind="run.end", message="")],
        }
    )
    svg = timeline_svg(run)
    assert "+5.93s" in svg and "+5.94s" not in svg
    assert f"{run.duration_s:.2f}s" == "5.93s"  # the runs table's
