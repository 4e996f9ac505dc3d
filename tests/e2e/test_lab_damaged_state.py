"""A damaged `.drill/lab/state.json` (edited by hand, a disk fault) is said, not a
traceback, and neither `lab down` nor `lab up` leaves the lab's processes running.

Before: every lab command ended "internal error: ValidationError: 1 validation error
for LabState", and with the pids unreadable `lab down` could stop nothing: the servers,
proxies, apps and controller ran on, holding their ports, to be killed by hand.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.clihelp import run
from tests.e2e.conftest import lab_status, running_lab

pytestmark = [pytest.mark.lab, pytest.mark.slow]


@pytest.fixture()
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield from running_lab(tmp_path_factory)


def _damage(lab: Path) -> list[dict]:
    """The lab's components, read before its state file is overwritten."""
    components = lab_status(lab)["components"]
    (lab / ".drill" / "lab" / "state.json").write_text('{"not": "a lab"}')
    return components


def _nothing_listens(components: list[dict]) -> None:
    from orchestrator.providers.lab.procs import group_alive, port_open

    for c in components:
        assert not (c["pid"] and group_alive(c["pid"])), f"{c['name']} still runs"
        assert not port_open(c["port"]), f"{c['name']} still holds port {c['port']}"


def test_lab_status_names_the_damaged_file(lab: Path) -> None:
    _damage(lab)
    status = run(lab, "lab", "status")
    assert status.code == 1, status.err
    assert "state.json is damaged (created_at: Field required)" in status.err
    assert "drill lab down" in status.err
    assert "Traceback" not in status.err and "internal error" not in status.err


def test_lab_down_stops_every_process_of_a_lab_whose_state_is_damaged(lab: Path) -> None:
    components = _damage(lab)
    down = run(lab, "lab", "down", timeout=180)
    assert down.code == 0, down.err
    assert "is damaged" in down.err and "stopping the lab processes" in down.err
    _nothing_listens(components)
    assert not (lab / ".drill" / "lab" / "state.json").exists()
    assert run(lab, "lab", "status").code == 0


def test_lab_up_stops_what_it_finds_and_builds_a_new_lab(lab: Path) -> None:
    components = _damage(lab)
    old = {c["name"]: c["pid"] for c in components}
    up = run(lab, "lab", "up", timeout=240)
    assert up.code == 0, up.err
    assert "is damaged" in up.err
    now = lab_status(lab)
    assert now["running"] is True
    assert all(c["state"] == "up" for c in now["components"])
    assert all(c["pid"] != old.get(c["name"]) for c in now["components"])
