"""The job table of `drill scheduler run` lives in the evidence database, which
schedulers on several machines share: APScheduler pickles each job there, and a row
someone else wrote was unpickled — run — by every scheduler when it came due
(``os.system`` and its arguments is a pickle). drill loads only what its own jobs hold;
such a row is APScheduler's "Unable to restore job", removed, and the scheduler goes on
with the jobs of its schedules."""

from __future__ import annotations

import json
import os
import pickle
import signal
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.clihelp import drill, spawn
from tests.unit.test_schedule_support import make_project, wait_for

pytestmark = pytest.mark.slow


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.system, (f"touch {self.marker}",)


def test_a_job_row_pickled_by_someone_else_is_not_run(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{workdir}/evidence.db"
    make_project(workdir, database=url)
    added = drill(capsys, "schedule", "add", "tiny", "--env", "lab", "--every", "1h", "--json")
    assert added.code == 0, added.err
    sid = json.loads(added.out)["id"]
    engine = sa.create_engine(url)
    proc = spawn(workdir, "scheduler", "run", "--poll", "1")
    marker = workdir / "PWNED"
    try:

        def jobs() -> set[str]:
            with engine.connect() as conn:
                try:
                    return {r[0] for r in conn.execute(sa.text("SELECT id FROM apscheduler_jobs"))}
                except sa.exc.OperationalError:  # the table is made as the service starts
                    return set()

        wait_for(lambda: sid in jobs(), timeout=60, what="the schedule's job")
        hostile = pickle.dumps({"x": _Payload(marker)})
        with engine.begin() as conn:  # the schedule's own job, due now
            conn.execute(
                sa.text(
                    "UPDATE apscheduler_jobs SET next_run_time = 0, job_state = :s WHERE id = :i"
                ),
                {"s": hostile, "i": sid},
            )

        def state() -> bytes | None:
            with engine.connect() as conn:
                row = conn.execute(
                    sa.text("SELECT job_state FROM apscheduler_jobs WHERE id = :i"), {"i": sid}
                ).first()
            return None if row is None else bytes(row[0])

        # removed as a job that cannot be restored, then added again by the service
        wait_for(lambda: state() not in (None, hostile), timeout=60, what="the job restored")
        assert proc.poll() is None, "the scheduler goes on"
        assert jobs() == {sid}
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=60)
        engine.dispose()
    assert not marker.exists(), "the pickled command ran"
    assert proc.returncode == 0, err
