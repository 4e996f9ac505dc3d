"""A failover does not leak the killed primary's shared memory.

`db.failover` SIGKILLs the primary (as RDS loses it): no shutdown runs to remove its
System V segment. PostgreSQL removes such a segment when it starts again on the same
directory, but the lab's re-protect rebuilds the directory instead, so every failover
leaked one — a shared machine reached the kernel's limit (4,096) within a day of drills
and tests, and then no PostgreSQL server could start: the lab broke for everyone.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.clihelp import run
from tests.e2e.conftest import lab_status, running_lab

pytestmark = [pytest.mark.lab, pytest.mark.slow]


@pytest.fixture()
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield from running_lab(tmp_path_factory)


def segment(data: Path) -> tuple[str, str]:
    """(key, id) of the server's System V segment, from its postmaster.pid."""
    key, shmid = (data / "postmaster.pid").read_text().splitlines()[6].split()[:2]
    return key, shmid


def segments() -> set[tuple[str, str]]:
    rows = Path("/proc/sysvipc/shm").read_text().splitlines()[1:]
    return {(r.split()[0], r.split()[1]) for r in rows}


def test_the_killed_primary_s_segment_is_released(lab: Path) -> None:
    (primary,) = [c for c in lab_status(lab)["components"] if c["role"] == "primary"]
    seg = segment(lab / ".drill" / "lab" / "pg" / primary["name"])
    assert seg in segments()

    res = run(lab, "run", "rds-failover", "--json", timeout=600)
    assert res.code == 0, res.err
    assert json.loads(res.out)["status"] == "succeeded"
    assert seg not in segments(), "the killed primary's segment was left behind"
