"""The final table of `drill run`: measured values against objectives, per scenario."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from orchestrator.commands.progress import summary_table


def scenario(
    sid: str,
    rto: float | None,
    rpo: float | None,
    lost: int | None,
    objectives: tuple[float | None, float | None],
    met: bool | None,
) -> dict[str, Any]:
    return {
        "id": sid,
        "status": "succeeded" if met else "failed",
        "rto_s": rto,
        "rpo_s": rpo,
        "lost_writes": lost,
        "objectives": {"rto_s": objectives[0], "rpo_s": objectives[1]},
        "met": met,
        "fault_injected_at": None,
        "service_restored_at": None,
    }


def render(doc: dict[str, Any]) -> str:
    console = Console(record=True, width=100, color_system=None)
    console.print(summary_table(doc))
    return console.export_text()


def test_table_shows_measurements_objectives_and_verdicts() -> None:
    doc = {
        "drill": "quarterly-dr",
        "env": "lab",
        "status": "failed",
        "scenarios": [
            scenario("rds-failover", 1.42, 0.0, 0, (120, 0), True),
            scenario("region-promotion", 0.3, 2.5, 14, (900, 60), True),
            scenario("az-loss", None, None, None, (300, 0), False),
        ],
    }
    text = render(doc)
    assert "quarterly-dr on lab: failed" in text
    assert "2/3 scenario(s) met their objectives" in text
    lines = {line.split("│")[1].strip(): line for line in text.splitlines() if "│" in line}
    assert "1.42s" in lines["rds-failover"] and "≤ 2m / ≤ 0s" in lines["rds-failover"]
    assert "yes" in lines["rds-failover"]
    row = lines["region-promotion"]
    assert "2.50s" in row and " 14 " in row and "≤ 15m / ≤ 1m" in row
    assert "NO" in lines["az-loss"] and "—" in lines["az-loss"]


def test_a_scenario_without_objectives_passed_rather_than_met_them() -> None:
    """An experiment without RTO/RPO objectives read "1/1 scenario(s) met their
    objectives (measured by independent probes)" and "met? yes": nothing was measured and
    there was nothing to meet. It passed (its steady state held), and says so."""
    doc = {
        "drill": "multi-az-failover",
        "env": "lab",
        "status": "succeeded",
        "scenarios": [scenario("multi-az-failover", None, None, None, (None, None), True)],
    }
    raw = render(doc)
    row = next(line for line in raw.splitlines() if line.startswith("│ multi-az-failover"))
    assert row.split("│")[-2].strip() == "passed", row
    text = " ".join(raw.split())
    assert "met their objectives" not in text and "measured by" not in text, text
    assert "1/1 without an RTO/RPO objective passed" in text
    doc["scenarios"].append(scenario("rds-failover", 1.4, 0.0, 0, (120, 0), False))
    text = " ".join(render(doc).split())
    assert "0/1 scenario(s) met their objectives (measured by independent probes)" in text
    assert "1/1 without an RTO/RPO objective passed" in text


def test_live_probe_line_shows_under_the_running_step() -> None:
    import io

    from orchestrator.commands.progress import ConsoleReporter

    console = Console(file=io.StringIO(), force_terminal=True, width=100)
    reporter = ConsoleReporter(console)
    reporter.step_started("step", "wait until clients are served again")
    reporter.probe_status("probes: sql@db ✘ 1000ms · 40 writes acked")
    console.file.flush()
    reporter.step_finished("step", "wait until clients are served again", "succeeded", None)
    reporter.probe_status("after the step: nowhere to show it")  # no spinner: ignored
    out = console.file.getvalue()  # type: ignore[attr-defined]
    assert "probes: sql@db ✘ 1000ms · 40 writes acked" in out
    assert "step: wait until clients are served again" in out
    assert "nowhere to show it" not in out


def test_a_scenario_not_judged_or_skipped_is_not_counted_as_a_miss() -> None:
    """An aborted run's table read "0/1 scenario(s) met their objectives", as if the
    scenario had missed them, and an isolated run's "2/4 … met" counted the two scenarios
    it skipped; each now says what it was."""
    aborted = scenario("az-loss", 2.41, 0.0, 0, (300, 0), None)
    aborted["status"] = "aborted"
    doc = {"drill": "quarterly-dr", "env": "lab", "status": "aborted", "scenarios": [aborted]}
    assert (
        "0/1 scenario(s) met their objectives (measured by independent probes); "
        "1 not judged (aborted)" in " ".join(render(doc).split())
    )
    skipped = scenario("rds-failover", None, None, None, (120, 0), None)
    skipped["skipped"] = "live-only scenario"
    doc = {
        "drill": "quarterly-dr",
        "env": "lab",
        "status": "succeeded",
        "mode": "isolated",
        "scenarios": [skipped, scenario("backup-restore", 1.2, 0.0, 0, (3600, 900), True)],
    }
    text = " ".join(render(doc).split())
    assert text.startswith("quarterly-dr on lab (isolated): succeeded")  # as the reports say
    assert "1/1 scenario(s) met their objectives" in text and "1 skipped in isolated mode" in text
    assert "not judged" not in text
