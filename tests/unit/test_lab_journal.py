"""The lab's plan-vs-execution check: what is recorded, and what counts as unplanned."""

from __future__ import annotations

from orchestrator.providers.lab import journal
from orchestrator.providers.lab.plan import describe


def test_only_a_recording_notes_and_unplanned_keys_are_reported_once() -> None:
    journal.note("process", "SIGKILL")  # outside a recording (lab up, controller): dropped
    with journal.recording() as made:
        journal.note("process", "SIGKILL")
        journal.note("table", "DROP")
        journal.note("table", "DROP")
    assert made == ["process:SIGKILL", "table:DROP", "table:DROP"]
    planned = describe("db.failover", {}, "live", None)
    assert journal.unplanned(planned, made) == ["table:DROP"]
    assert journal.unplanned(describe("data.drop_table", {"table": "t"}, "live", None), made) == [
        "process:SIGKILL"
    ]


def test_effects_go_with_the_call_the_action_makes() -> None:
    failover = describe("db.failover", {}, "live", None)
    assert [c.effects for c in failover] == [["process:SIGKILL"], []]
    clone = describe("db.promote_replica", {}, "isolated", None)
    assert "postgres:pg_basebackup" in clone[0].effects
    assert describe("dns.point", {"to": "dr_replica"}, "isolated", None)[0].effects == []
