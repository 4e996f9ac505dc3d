"""A drill whose reader goes away (its stderr pipe closed: `drill run … | head`, a log
collector that died) goes on: the fault it injected is undone and the run is recorded.

rich's default on a broken pipe is to exit (SystemExit): drill died mid-fault with its
rollbacks unplayed. The step holds until the test has closed the pipe (no sleep picks
the moment); drill then has lines to print that nobody reads.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.clihelp import run, spawn
from tests.e2e.defs import activity, write

pytestmark = pytest.mark.slow


def test_a_closed_stderr_does_not_stop_the_drill_or_its_rollbacks(workdir: Path) -> None:
    marker, here, release = workdir / "marker", workdir / "here", workdir / "release"
    rb = write(
        workdir,
        "runbooks/reader-gone.yaml",
        f"""id: reader-gone
title: nobody reads the output any more
scenario: test
steps:
  - name: inject the fault
    kind: action
    activity: {activity("touch", path=str(marker))}
  - name: hold while the reader goes away
    kind: action
    activity: {activity("hold_until", path=str(here), release=str(release))}
rollback:
  - name: remove the marker
    kind: action
    activity: {activity("remove", path=str(marker))}
""",
    )
    proc = spawn(workdir, "run", str(rb))
    try:
        end = time.monotonic() + 120  # bounds a hang; no moment is picked
        while not here.exists():
            assert proc.poll() is None and time.monotonic() < end, proc.communicate()
            time.sleep(0.02)
        assert proc.stderr is not None
        proc.stderr.close()  # the reader is gone
        release.touch()
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    assert not marker.exists() and (workdir / "marker.rolled-back").exists()
    listed = run(workdir, "runs", "list", "--json")
    (doc,) = json.loads(listed.out)
    assert doc["status"] == "succeeded", doc
