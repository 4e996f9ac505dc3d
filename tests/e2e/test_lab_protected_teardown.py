"""`drill lab down|reset` destroy the lab's servers and data. On a lab that a protected
environment stands on they need --yes (DESIGN 10: nothing mutating runs against a
protected environment without explicit confirmation); without it, exit 2 and the lab
is left as it was.

Found as a user: with `prod-lab: {provider: lab, protected: true}` in drill.yaml, a
plain `drill lab down` (no run awaiting recovery) stopped every server and removed the
lab's data, no --yes asked for — only the `--force` path over an orphaned run asked.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.clihelp import run
from tests.e2e.conftest import lab_status, running_lab
from tests.e2e.defs import write

pytestmark = [pytest.mark.lab]


@pytest.fixture()
def protected_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    for cwd in running_lab(tmp_path_factory):
        write(cwd, "drill.yaml", "environments:\n  prod-lab: {provider: lab, protected: true}\n")
        yield cwd
        run(cwd, "lab", "down", "--yes", timeout=180)


def pids(cwd: Path) -> dict[str, object]:
    return {c["name"]: c["pid"] for c in lab_status(cwd)["components"]}


def test_down_and_reset_of_a_protected_lab_need_yes(protected_lab: Path) -> None:
    before = pids(protected_lab)
    for args in (["down"], ["reset"], ["reset", "--env", "prod-lab"]):
        refused = run(protected_lab, "lab", *args, timeout=180)
        assert refused.code == 2, refused.err
        (line, hint) = refused.err.strip().splitlines()
        assert line.startswith("drill: error: ") and "protected environment 'prod-lab'" in line
        assert f"`drill lab {args[0]}`" in line and "--yes" in hint
        assert lab_status(protected_lab)["running"], "a refusal changes nothing"
        assert pids(protected_lab) == before, "nothing was stopped or rebuilt"

    reset = run(protected_lab, "lab", "reset", "--yes", timeout=240)
    assert reset.code == 0, reset.err
    assert "confirmed by" in reset.err and "(--yes)" in reset.err
    assert lab_status(protected_lab)["running"]
    assert pids(protected_lab) != before, "the lab was rebuilt"

    down = run(protected_lab, "lab", "down", "--yes", timeout=180)
    assert down.code == 0, down.err
    assert not lab_status(protected_lab)["running"]
    again = run(protected_lab, "lab", "down")  # nothing left to destroy: nothing to confirm
    assert again.code == 0 and "lab was not running" in again.out, again.err


def test_an_unprotected_lab_needs_no_yes(tmp_path_factory: pytest.TempPathFactory) -> None:
    for cwd in running_lab(tmp_path_factory):
        down = run(cwd, "lab", "down", timeout=180)
        assert down.code == 0, down.err
        assert not lab_status(cwd)["running"]
