"""The example Prometheus alert rules (docs/prometheus/drill-alerts.yml) are valid and
name only metrics and labels that drill really exports.

`promtool check rules` when promtool is installed; otherwise (it is not packaged
without the whole Prometheus server) the file is checked by parsing it: the rule
file's structure, balanced PromQL, and every metric and label against a real scrape.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

RULES = Path(__file__).resolve().parents[2] / "docs" / "prometheus" / "drill-alerts.yml"
SCENARIO_METRICS = {"drill_rto_seconds", "drill_rpo_seconds", "drill_objective_met"}


@pytest.fixture(scope="module")
def rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load(RULES.read_text())
    assert set(doc) == {"groups"}
    out: list[dict[str, Any]] = []
    for group in doc["groups"]:
        assert set(group) == {"name", "rules"} and group["rules"]
        out += group["rules"]
    return out


def exported_metrics(workdir: Path) -> set[str]:
    """Metric family names of a real scrape (an empty store still declares them all)."""
    from prometheus_client.parser import text_string_to_metric_families

    from orchestrator.web import metrics

    text = metrics.render(metrics.Sources.open(None)).decode()
    return {fam.name for fam in text_string_to_metric_families(text)}


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
def test_promtool_accepts_the_rules() -> None:
    res = subprocess.run(
        ["promtool", "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60
    )
    assert res.returncode == 0, res.stdout + res.stderr


def test_rules_are_well_formed(rules: list[dict[str, Any]]) -> None:
    names = [r["alert"] for r in rules]
    assert len(names) == len(set(names))
    assert {"DrillOverdue", "DrillObjectiveMissed"} <= set(names)
    for r in rules:
        assert set(r) <= {"alert", "expr", "for", "labels", "annotations"}, r["alert"]
        assert re.fullmatch(r"[A-Z][A-Za-z0-9]+", r["alert"])
        if "for" in r:
            assert re.fullmatch(r"\d+[smhdwy]", r["for"]), r["alert"]
        assert r["labels"]["severity"] in ("page", "ticket")
        assert r["annotations"]["summary"] and r["annotations"]["description"]
        expr = r["expr"]
        depth = 0
        for ch in expr:
            depth += {"(": 1, "[": 1, "{": 1, ")": -1, "]": -1, "}": -1}.get(ch, 0)
            assert depth >= 0, r["alert"]
        assert depth == 0, r["alert"]
        for text in r["annotations"].values():
            assert text.count("{{") == text.count("}}"), r["alert"]


def test_rules_use_only_exported_metrics_and_labels(
    rules: list[dict[str, Any]], workdir: Path
) -> None:
    exported = exported_metrics(workdir)
    assert {"drill_overdue", "drill_objective_met", "drill_scheduler_fire_lag_seconds"} <= exported
    for r in rules:
        used = set(re.findall(r"\bdrill_[a-z_]+", r["expr"]))
        assert used, r["alert"]
        for name in used:
            base = re.sub(r"_(bucket|sum|count)$", "", name)
            assert name in exported or base in exported, (r["alert"], name)
        labels = {
            m
            for text in r["annotations"].values()
            for m in re.findall(r"\$labels\.([a-z_]+)", text)
        }
        allowed = {"drill", "env"} | ({"scenario"} if used & SCENARIO_METRICS else set())
        assert labels <= allowed, (r["alert"], labels - allowed)
    overdue = next(r for r in rules if r["alert"] == "DrillOverdue")
    assert overdue["expr"].strip() == "drill_overdue == 1"
    missed = next(r for r in rules if r["alert"] == "DrillObjectiveMissed")
    assert missed["expr"].strip() == "drill_objective_met == 0"
