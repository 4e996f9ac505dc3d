"""Two real `drill scheduler run` processes on one real PostgreSQL evidence database:
each fire of a job runs exactly once (claimed in schedule_fire, unique per fire time)."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
from sqlmodel import select

from orchestrator.evidence.records import Run
from orchestrator.evidence.store import EvidenceStore
from orchestrator.schedule.models import SchedulerInstance
from orchestrator.schedule.records import ScheduleFire
from tests.clihelp import drill, spawn
from tests.unit.test_schedule_support import make_project, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def test_two_schedulers_fire_each_job_exactly_once(
    workdir: Path, pg_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    make_project(workdir, database=pg_dsn)
    added = drill(capsys, "schedule", "add", "tiny", "--env", "lab", "--every", "4s", "--json")
    assert added.code == 0, added.err
    sid = json.loads(added.out)["id"]
    store = EvidenceStore(pg_dsn, migrate=False)

    def finished() -> list[ScheduleFire]:
        return store.db.records(ScheduleFire, "schedule_id = ? AND ended_at IS NOT NULL", (sid,))

    procs = [spawn(workdir, "scheduler", "run", "--poll", "1") for _ in range(2)]
    errs: list[str] = []
    try:
        wait_for(
            lambda: len([f for f in finished() if f.status == "succeeded"]) >= 3,
            timeout=60,
            what="three successful fires",
        )
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            errs.append(p.communicate(timeout=60)[1])
    assert [p.returncode for p in procs] == [0, 0], errs
    fires: list[ScheduleFire] = store.db.records(ScheduleFire, "schedule_id = ?", (sid,))
    runs: list[Run] = store.db.records(Run, "trigger = ?", ("schedule",))
    with store.session() as s:
        instances = list(s.exec(select(SchedulerInstance)))
    store.dispose()
    assert len(instances) == 2 and {i.state for i in instances} == {"stopped"}
    # one fire row per fire time, whoever claimed it
    times = [f.scheduled_at for f in fires]
    assert len(times) == len(set(times))
    # each run was started by exactly one fire, and every started fire has its run
    launched = [f.launched_run_id for f in fires if f.launched_run_id]
    assert len(launched) == len(set(launched))
    assert sorted(r.id for r in runs) == sorted(launched)
    assert all(r.schedule_id == sid for r in runs)
    # both schedulers really competed for the same fires (and the losers stood down)
    lost = sum(e.count("already claimed by another scheduler") for e in errs)
    claimed_by = {f.claimed_by for f in fires}
    assert lost >= 1 or len(claimed_by) == 2, errs
