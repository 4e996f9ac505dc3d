"""Files drill keeps under `.drill/` that are damaged or not what they should be (a
directory in a file's place, a file in a directory's): one line naming the file, the
exit code of a refusal (2), nothing started and nothing recorded — never "internal
error: …, this is a bug in drill"."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.test_store_faults import drill, one_line_error, recorded

pytestmark = pytest.mark.slow


def _lock_is_a_directory(locks: Path) -> Path:
    for lock in locks.glob("*.lock"):
        lock.unlink()
    (locks / "local-lab.lock").mkdir()
    return locks / "local-lab.lock"


def _locks_is_a_file(locks: Path) -> Path:
    shutil.rmtree(locks)
    locks.write_text("")
    return locks


@pytest.mark.parametrize(
    ("damage", "why"),
    [(_lock_is_a_directory, "Is a directory"), (_locks_is_a_file, "not a directory")],
    ids=["lock-is-a-directory", "locks-is-a-file"],
)
def test_a_run_lock_that_cannot_be_opened_is_named_and_nothing_runs(
    workdir: Path, damage: Callable[[Path], Path], why: str
) -> None:
    """The run lock (`.drill/locks/local-lab.lock`) with a directory in its place, or
    `.drill/locks` a file: `drill run` and `drill lab down` ended "internal error:
    IsADirectoryError" / "FileExistsError" with "this is a bug in drill"."""
    marker, rb = recorded(workdir)
    Path(f"{marker}.rolled-back").unlink()  # that run's
    bad = damage(workdir / ".drill" / "locks")
    res = drill(workdir, "run", str(rb), "--json")
    assert res.code == 2, res.err
    one_line_error(res, "run lock", f"{bad}: {why}", "nothing was started")
    assert res.out == "" and not marker.exists() and not Path(f"{marker}.rolled-back").exists()
    listed = json.loads(drill(workdir, "runs", "list", "--json").out)
    assert len(listed) == 1, listed  # the first run only: nothing recorded
    down = drill(workdir, "lab", "down")
    assert down.code == 2, down.err
    one_line_error(down, "run lock", str(bad))


def test_a_game_day_whose_runbooks_cannot_be_written_is_not_created(workdir: Path) -> None:
    """`.drill/gamedays` a file (where drill renders each game day's runbooks): `gameday
    create` ended "internal error: NotADirectoryError" and "this is a bug in drill"."""
    recorded(workdir)  # the store, and runbooks/hold.yaml: marker-runbook
    (workdir / ".drill" / "gamedays").write_text("")
    args = ["gameday", "create", "--date", "2030-03-01T10:00", "--drills", "marker-runbook"]
    res = drill(workdir, *args, "--env", "lab", "--json")
    assert res.code == 2, res.err
    one_line_error(res, f"{workdir / '.drill' / 'gamedays'}: not a directory", "not created")
    assert res.out == ""
    assert json.loads(drill(workdir, "gameday", "list", "--json").out) == []
    assert json.loads(drill(workdir, "schedule", "list", "--json").out) == []


@pytest.mark.parametrize(
    ("state", "says"),
    [
        ("[]", "state.json is damaged"),
        ('{"components": {"aws-api": 5}}', "started without --aws"),
        ('{"components": {"aws-api": {"pid": 1}}}', "is not ready yet"),  # no port
    ],
    ids=["a-list", "a-number", "no-port"],
)
def test_a_damaged_lab_state_is_no_lab_aws_not_an_internal_error(
    workdir: Path, state: str, says: str
) -> None:
    """`--env lab-aws` reads the lab's state.json to find its AWS API: a file that is
    not an object of components ended 'internal error: AttributeError' (KeyError for a
    component without a port) in every command naming lab-aws."""
    recorded(workdir)
    lab = workdir / ".drill" / "lab"
    (lab / "aws").mkdir(parents=True)
    (lab / "aws" / "ready").write_text("1")
    (lab / "state.json").write_text(state)
    res = drill(workdir, "plan", "marker-runbook", "--env", "lab-aws")
    assert res.code == 2, res.err
    one_line_error(res, "environment 'lab-aws'", says)
