"""Evidence-database faults: damaged, read-only, full — one clear line, exit 2, and
nothing runs (no fault injected, nothing appended). `evidence verify` of a damaged
store says so and names what it can still read.

Real faults only: bytes overwritten in the file, ``chattr +i``, an 8 MiB tmpfs filled
with ``dd``. The last two need root (they are skipped otherwise).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.clihelp import Result, run
from tests.e2e.defs import activity, runbook, write

pytestmark = pytest.mark.slow


def drill(cwd: Path, *args: str, db: Path | None = None) -> Result:
    return run(cwd, *args, env={"DRILL_DATABASE": f"sqlite:///{db}"} if db else None)


def one_line_error(res: Result, *words: str) -> None:
    lines = res.err.strip().splitlines()
    assert lines and lines[0].startswith("drill: error: "), res.err
    assert all(not ln.strip() or ln.startswith("  hint: ") for ln in lines[1:]), res.err
    assert "Traceback" not in res.err and "internal error" not in res.err, res.err
    for word in words:
        assert word in lines[0], res.err


def recorded(workdir: Path, db: Path | None = None) -> tuple[Path, Path]:
    """One marker run recorded in the store; returns (marker, runbook)."""
    marker = workdir / "marker"
    rb = write(workdir, "runbooks/hold.yaml", runbook(marker))
    res = drill(workdir, "run", str(rb), db=db)
    assert res.code == 0, res.err
    assert not marker.exists()
    return marker, rb


def with_step(marker: Path, rb_id: str, name: str, func: str, **arguments: object) -> str:
    """The marker runbook (id ``rb_id``) with one more step, ``func`` of tests.faults,
    after its fault and before its rollback."""
    step = f"  - name: {name}\n    kind: action\n    activity: {activity(func, **arguments)}\n"
    return runbook(marker, rb_id=rb_id).replace("rollback:", step + "rollback:", 1)


def smash_table(db: Path, table: str) -> None:
    """Overwrite the root page of ``table`` in the middle of the file."""
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
    conn.close()
    with open(db, "r+b") as fh:
        fh.seek((root - 1) * page_size + 8)
        fh.write(b"\xa5" * (page_size - 100))


def test_damaged_store_is_named_and_nothing_runs(workdir: Path) -> None:
    marker, rb = recorded(workdir)
    db = workdir / ".drill" / "evidence.db"
    smash_table(db, "step_run")
    size = db.stat().st_size
    for args in (["runs", "list"], ["status"], ["run", str(rb)], ["recover"]):
        res = drill(workdir, *args)
        assert res.code == 2, (args, res.err)
        one_line_error(res, "is damaged", str(db))
    assert not marker.exists(), "a run started on a damaged store"
    assert (workdir / "marker.rolled-back").read_text().count("\n") == 1
    assert db.stat().st_size == size, "nothing may be appended to a damaged store"

    verify = drill(workdir, "evidence", "verify")
    assert verify.code == 1, verify.err
    one_line_error(
        verify,
        "is damaged",
        "cannot be verified",
        "Unreadable: step_run",
        "still readable: ",
        "run (1 rows)",
    )


def test_verify_json_of_a_damaged_store_has_the_shape_of_every_verify_document(
    workdir: Path,
) -> None:
    """`drill evidence verify --json` reads the same keys whatever broke: a damaged file
    adds what is still readable, and its first break names the database."""
    recorded(workdir)
    sound = json.loads(drill(workdir, "evidence", "verify", "--json").out)
    smash_table(workdir / ".drill" / "evidence.db", "journal")
    res = drill(workdir, "evidence", "verify", "--json")
    assert res.code == 1, res.err
    doc = json.loads(res.out)
    assert set(sound) <= set(doc) and doc["ok"] is False and doc["damaged"] is True, doc
    assert doc["break_count"] == len(doc["breaks"]) == 1 and doc["breaks"][0] == doc["first_break"]
    assert set(doc["first_break"]) == {"seq", "kind", "run", "record", "detail"}
    assert doc["first_break"]["record"] == str(workdir / ".drill" / "evidence.db")
    assert "damaged" in doc["first_break"]["detail"] and "journal" in doc["first_break"]["detail"]
    assert set(doc["head"]) == {"seq", "hash"}


@pytest.fixture
def immutable(workdir: Path) -> Iterator[Path]:
    db = workdir / ".drill" / "evidence.db"
    recorded(workdir)
    sqlite3.connect(db).execute("PRAGMA wal_checkpoint(TRUNCATE)").close()
    if subprocess.run(["chattr", "+i", str(db)], capture_output=True, check=False).returncode != 0:
        pytest.skip("chattr +i is not available here (needs root and ext4/xfs…)")
    try:
        yield db
    finally:
        subprocess.run(["chattr", "-i", str(db)], check=False)


def test_read_only_store_refuses_a_run_before_it_starts(workdir: Path, immutable: Path) -> None:
    marker = workdir / "marker"
    res = drill(workdir, "run", str(workdir / "runbooks" / "hold.yaml"))
    assert res.code == 2, res.err
    one_line_error(res, "read-only", str(immutable))
    assert not marker.exists()
    listed = drill(workdir, "runs", "list")  # reading a read-only store is fine
    assert listed.code == 0, listed.err


@pytest.fixture
def frozen_state(workdir: Path) -> Iterator[Path]:
    """The state directory (.drill) made immutable: nothing can be created in it."""
    recorded(workdir)
    state = workdir / ".drill"
    if subprocess.run(["chattr", "+i", str(state)], capture_output=True, check=False).returncode:
        pytest.skip("chattr +i is not available here (needs root and ext4/xfs…)")
    try:
        yield state
    finally:
        subprocess.run(["chattr", "-i", str(state)], check=False)


def test_read_only_state_dir_read_commands_work_writers_say_why(
    workdir: Path, frozen_state: Path
) -> None:
    """Reads go on (`evidence verify` only remembers its outcome for the dashboard when it
    can: it failed with "this is a bug"); a writer names what it could not create."""
    for args in (["evidence", "verify"], ["runs", "list"], ["status"], ["findings", "list"]):
        res = drill(workdir, *args)
        assert res.code == 0, (args, res.err)
        assert "Traceback" not in res.err and "internal error" not in res.err, res.err
    res = drill(workdir, "evidence", "export", "--period", "2020-Q1", "--out", "e.zip")
    assert res.code == 2, res.err
    one_line_error(res, "signing key", str(frozen_state / "keys"))
    assert "--out" not in res.err.splitlines()[0], "the key is not --out's file"
    res = drill(workdir, "run", str(workdir / "runbooks" / "hold.yaml"))
    assert res.code == 2, res.err
    one_line_error(res, "read-only", str(frozen_state))
    assert not (workdir / "marker").exists()


@pytest.fixture
def tiny_fs(tmp_path: Path) -> Iterator[Path]:
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    if (
        os.geteuid() != 0
        or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mnt)],
            capture_output=True,
            check=False,
        ).returncode
        != 0
    ):
        pytest.skip("mounting a small tmpfs needs root")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_full_store_refuses_a_run_before_it_starts(workdir: Path, tiny_fs: Path) -> None:
    db = tiny_fs / "evidence.db"
    marker, rb = recorded(workdir, db)
    subprocess.run(
        ["dd", "if=/dev/zero", f"of={tiny_fs / 'fill'}", "bs=64k"], capture_output=True, check=False
    )  # until "No space left on device"
    res = drill(workdir, "run", str(rb), db=db)
    assert res.code == 2, res.err
    one_line_error(res, "is full", str(db))
    assert not marker.exists()


def test_store_filling_up_during_a_run_still_plays_rollbacks(workdir: Path, tiny_fs: Path) -> None:
    """The disk fills mid-run: every later evidence write fails, yet the rollback runs,
    the error is one line (exit 1), and `drill recover` closes the run once there is
    space again."""
    db, marker, filler = tiny_fs / "evidence.db", workdir / "marker", tiny_fs / "fill"
    recorded(workdir, db)
    text = with_step(marker, "fill-runbook", "the disk fills up", "fill", path=str(filler))
    rb = write(workdir, "runbooks/fill.yaml", text)
    res = drill(workdir, "run", str(rb), db=db)
    assert res.code in (1, 2), res.err
    assert "Traceback" not in res.err and "this is a bug" not in res.err, res.err
    assert "database or disk is full" in res.err, res.err
    assert "internal error" not in res.err, res.err  # the store's fault, said as such
    assert not marker.exists(), "the rollback must run although nothing can be recorded"
    filler.unlink()
    rec = drill(workdir, "recover", db=db)
    assert rec.code == 0, rec.err
    listed = drill(workdir, "runs", "list", "--json", db=db)
    assert "awaits recovery" not in listed.err
    assert "running" not in listed.out


def test_store_damaged_during_a_run_still_plays_rollbacks(workdir: Path) -> None:
    """The store becomes unreadable mid-run (reads fail too, not only writes): the undos
    this drill registered are still played — from its memory; they were lost with the
    store before — and the failure is said once, in one line (no traceback)."""
    marker, rb = recorded(workdir)
    db = workdir / ".drill" / "evidence.db"
    text = with_step(marker, "damage-runbook", "the store is damaged", "damage", path=str(db))
    rb = write(workdir, "runbooks/damage.yaml", text)
    res = drill(workdir, "run", str(rb), "--json")
    assert res.code == 1, res.err
    assert "Traceback" not in res.err and "this is a bug" not in res.err, res.err
    assert "file is not a database" in res.err and "internal error" not in res.err, res.err
    doc = json.loads(res.out)  # the run's document all the same, said to be unrecorded
    assert (doc["status"], doc["exit_code"], doc["recorded"]) == ("failed", 1, False), doc
    assert len([ln for ln in res.err.splitlines() if "could not record" in ln]) == 1, res.err
    assert not marker.exists(), "the rollback must run although the store cannot be read"
    assert (workdir / "marker.rolled-back").exists()


def test_store_removed_during_a_run_is_said_and_rollbacks_still_run(workdir: Path) -> None:
    """The SQLite file is removed mid-run (a clean-up job, a mistaken `rm`): drill's open
    connection went on writing into the unlinked file, and the run ended "succeeded",
    exit 0 — every record of it gone with the file, nothing said. Now the next write
    says so: the rollbacks are still played, one error line, exit 1."""
    marker, rb = recorded(workdir)
    db = workdir / ".drill" / "evidence.db"
    text = with_step(marker, "gone-runbook", "the store is removed", "remove", path=str(db))
    rb = write(workdir, "runbooks/gone.yaml", text)
    res = drill(workdir, "run", str(rb), "--json")
    assert res.code == 1, res.err
    assert "Traceback" not in res.err and "this is a bug" not in res.err, res.err
    errors = [ln for ln in res.err.splitlines() if ln.startswith("drill: error:")]
    assert len(errors) == 1 and f"evidence database {db} was removed or replaced" in errors[0]
    assert len([ln for ln in res.err.splitlines() if "could not record" in ln]) <= 1, res.err
    assert not marker.exists(), "the rollback must run although the store is gone"
    assert (workdir / "marker.rolled-back").exists()
    # --json: stdout is still the run's one document (it was empty), from drill's memory
    doc = json.loads(res.out)
    assert doc["drill"] == "gone-runbook" and doc["status"] == "failed", doc
    assert doc["exit_code"] == 1 and doc["recorded"] is False, doc
    assert doc["ended_at"] and "was removed or replaced" in doc["error"], doc
    assert [(sc["id"], sc["status"]) for sc in doc["scenarios"]] == [("gone-runbook", "failed")]
    listed = drill(workdir, "runs", "list")  # and the next command says the store is gone
    assert "is gone" in listed.err and "drill: warning:" in listed.err, listed.err


@pytest.mark.postgres
def test_postgres_store_lost_during_a_run_still_plays_rollbacks(workdir: Path) -> None:
    """The PostgreSQL evidence server goes away mid-run: the rollback is played, the
    failure is one line and the run's end one error (not a traceback from releasing the
    lock on the lost session, which hid it)."""
    from orchestrator import pgbin
    from orchestrator.errors import LabError
    from tests.pgserver import PgServer

    try:
        pgbin.bindir()
    except LabError as exc:
        pytest.skip(f"PostgreSQL server not installed: {exc.message}")
    server = PgServer().start()  # its own: this test stops it
    try:
        url = server.create_database()
        marker = workdir / "marker"
        text = with_step(
            marker,
            "lost-runbook",
            "the evidence server goes away",
            "stop_postgres",
            data=str(server.data),
        )
        rb = write(workdir, "runbooks/lost.yaml", text)
        res = run(workdir, "run", str(rb), env={"DRILL_DATABASE": url})
    finally:
        server.stop()
    assert res.code == 1, res.err
    assert "Traceback" not in res.err and "this is a bug" not in res.err, res.err
    assert len([ln for ln in res.err.splitlines() if "could not record" in ln]) == 1, res.err
    errors = [ln for ln in res.err.splitlines() if ln.startswith("drill: error:")]
    assert len(errors) == 1 and "could not be recorded" in errors[0], res.err
    assert not marker.exists(), "the rollback must run although the store is gone"


def test_store_damaged_then_a_stop_still_plays_rollbacks_and_says_it_once(workdir: Path) -> None:
    """The store becomes unreadable, then the run is stopped (SIGTERM): the run's end
    reads the run's `drill abort` flag, which fails on the damaged store; the stop goes
    on all the same — rollbacks played, one error line, exit 3 — as without the read."""
    import signal

    from tests.clihelp import spawn
    from tests.e2e.test_signals import wait_for
    from tests.faults import damage

    marker, _rb = recorded(workdir)
    here = workdir / "holding"
    never = workdir / "never"
    text = with_step(
        marker, "stop-runbook", "hold", "hold_until", path=str(here), release=str(never)
    )
    proc = spawn(workdir, "run", str(write(workdir, "runbooks/stop.yaml", text)))
    wait_for(here)
    damage(str(workdir / ".drill" / "evidence.db"))
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=120)
    assert "Traceback" not in err and "this is a bug" not in err, err
    assert proc.returncode in (1, 3), err
    assert not marker.exists(), "the rollback must run although the store cannot be read"
    assert (workdir / "marker.rolled-back").exists()


def _mount(mnt: Path, mode: str) -> None:
    res = subprocess.run(["mount", "-o", f"remount,{mode}", str(mnt)], capture_output=True)
    if res.returncode != 0:
        pytest.skip(f"remounting a tmpfs {mode} failed: {res.stderr.decode().strip()}")


def test_a_store_on_a_read_only_mount_is_read_not_called_damaged(
    workdir: Path, tiny_fs: Path
) -> None:
    """An evidence database on a read-only mount (an auditor's archive, a snapshot) with
    no -shm file beside it: SQLite cannot create one there, and every read command said
    "evidence database … is damaged: unable to open database file" (exit 2), `evidence
    verify` "the hash chain cannot be verified" (exit 1). A store whose write-ahead log
    has content cannot be read there without that file: said as it is, not as damage;
    one closed cleanly (all of it in the file) is read."""
    db = tiny_fs / "evidence.db"
    recorded(workdir, db)
    wal, shm = Path(f"{db}-wal"), Path(f"{db}-shm")
    assert wal.stat().st_size > 0 and shm.exists()  # as drill leaves them
    shm.unlink()  # (copied without it; no connection is open)
    _mount(tiny_fs, "ro")
    try:
        for args in (["runs", "list"], ["evidence", "verify"]):
            res = drill(workdir, *args, db=db)
            assert res.code == 2, (args, res.err)
            one_line_error(res, "cannot be read where it is", "read-only", "evidence.db-wal")
            assert "damaged" not in res.err
    finally:
        _mount(tiny_fs, "rw")

    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()  # the last connection, closed cleanly: SQLite removes -wal and -shm
    assert not wal.exists() and not shm.exists()
    _mount(tiny_fs, "ro")
    try:
        for args in (["runs", "list"], ["status"], ["findings", "list"], ["evidence", "verify"]):
            res = drill(workdir, *args, db=db)
            assert res.code == 0, (args, res.err)
            assert "damaged" not in res.err and "Traceback" not in res.err, res.err
        listed = drill(workdir, "runs", "list", "--json", db=db)
        assert [r["status"] for r in json.loads(listed.out)] == ["succeeded"]
        verified = drill(workdir, "evidence", "verify", "--json", db=db)
        assert json.loads(verified.out)["ok"] is True
        refused = drill(workdir, "run", str(workdir / "runbooks" / "hold.yaml"), db=db)
        assert refused.code == 2, refused.err
        one_line_error(refused, "read-only")
        assert not (workdir / "marker").exists()
    finally:
        _mount(tiny_fs, "rw")
