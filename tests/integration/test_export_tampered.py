"""`drill evidence export` refuses a tampered store: it names the first broken record,
exits 1 and leaves no bundle — also when the reports render in a forked process, and
when the tampered rows could not even be turned into views."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from orchestrator.cli import main
from tests.clihelp import clear_drill_env, copy_sqlite


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    from tests.integration.test_evidence_chain import run_drill, write_definitions

    root = tmp_path_factory.mktemp("export-tampered")
    with pytest.MonkeyPatch.context() as mp:
        clear_drill_env(mp)
        mp.chdir(root)
        mp.setenv("DRILL_DATABASE", f"sqlite:///{root}/.drill/evidence.db")
        write_definitions(root)
        run_drill(root)
        run_drill(root)
        assert main(["evidence", "keygen"]) == 0
    yield root


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE journal SET event = CAST(event AS TEXT) || ' ' WHERE seq = 5",
        "DELETE FROM journal WHERE seq = 4",
        "UPDATE journal SET prev = hash WHERE seq = 3",
    ],
)
def test_a_tampered_journal_is_refused(
    workspace: Path, capsys: pytest.CaptureFixture[str], sql: str
) -> None:
    _tamper(workspace, sql)
    code, err = _export(capsys)
    assert code == 1 and "evidence journal broken at" in err, err
    assert not (workspace / "bundle.zip").exists()


@pytest.fixture(params=["inline", "forked"])
def workspace(
    request: pytest.FixtureRequest, base: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """A copy of the base (database through SQLite's backup API, signing key) as cwd."""
    from orchestrator.evidence import export

    clear_drill_env(monkeypatch)
    shutil.copytree(
        base / ".drill", tmp_path / ".drill", ignore=shutil.ignore_patterns("evidence.db*", "lab")
    )
    copy_sqlite(base / ".drill" / "evidence.db", tmp_path / ".drill" / "evidence.db")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DRILL_DATABASE", f"sqlite:///{tmp_path}/.drill/evidence.db")
    if request.param == "forked":
        monkeypatch.setattr(export, "PARALLEL_MIN_RUNS", 0)
    return tmp_path


def _export(capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    year = datetime.now(UTC).year
    capsys.readouterr()
    code = main(
        [
            "evidence",
            "export",
            "--from",
            f"{year}-01-01",
            "--to",
            f"{year}-12-31",
            "--out",
            "bundle.zip",
        ]
    )
    return code, capsys.readouterr().err


def _tamper(root: Path, sql: str) -> int:
    con = sqlite3.connect(root / ".drill" / "evidence.db")
    try:
        with con:
            con.execute(sql)
        return int(con.execute("SELECT min(id) FROM step_run").fetchone()[0])
    finally:
        con.close()


def test_an_untampered_store_exports(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _export(capsys)
    assert code == 0, err
    assert (workspace / "bundle.zip").is_file()
    assert main(["evidence", "verify", "bundle.zip"]) == 0


@pytest.mark.parametrize(
    "sql,named",
    [
        (
            "UPDATE step_run SET name = name || 'x' WHERE id = (SELECT min(id) FROM step_run)",
            "step_run {id} ",
        ),
        # a timestamp no longer parses: the views could not be built, the check says why
        (
            "UPDATE step_run SET started_at = 'not a time' "
            "WHERE id = (SELECT min(id) FROM step_run)",
            "step_run {id} ",
        ),
    ],
)
def test_a_tampered_store_is_refused(
    workspace: Path, capsys: pytest.CaptureFixture[str], sql: str, named: str
) -> None:
    step = _tamper(workspace, sql)
    code, err = _export(capsys)
    assert code == 1
    assert "evidence journal broken at" in err and named.format(id=step) in err, err
    assert "changed" in err and "nothing was exported" in err
    assert not (workspace / "bundle.zip").exists()
    assert not list(workspace.glob(".drill-*.tmp"))
    # --json: one document on stdout saying so (stdout was empty)
    capsys.readouterr()
    year = datetime.now(UTC).year
    span = ["--from", f"{year}-01-01", "--to", f"{year}-12-31"]
    assert main(["evidence", "export", *span, "--out", "bundle.zip", "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is False and doc["bundle"] is None
    assert named.format(id=step) in doc["error"]


def test_an_event_made_unreadable_is_a_break_not_an_internal_error(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    con = sqlite3.connect(workspace / ".drill" / "evidence.db")
    try:
        with con:
            ev = con.execute("SELECT event FROM journal WHERE seq = 3").fetchone()[0]
            con.execute(
                "UPDATE journal SET event = ? WHERE seq = 3",
                (ev.replace(b'"kind":"', b'"kind":"\\q\xff', 1),),
            )
    finally:
        con.close()
    capsys.readouterr()
    assert main(["evidence", "verify"]) == 1
    err = capsys.readouterr().err
    assert "(event #3," in err and "does not recompute" in err and "Traceback" not in err


def test_a_file_the_zip_cannot_take_fails_the_export_and_leaves_nothing(
    workspace: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The zip is written by a background thread: an error there is the export's error."""
    import errno
    import zipfile

    real = zipfile.ZipFile.writestr

    def disk_full(
        self: zipfile.ZipFile, info: zipfile.ZipInfo, data: bytes, *args: object, **kwargs: object
    ) -> None:
        if info.filename.startswith("journals/"):
            raise OSError(errno.ENOSPC, "No space left on device")
        real(self, info, data, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(zipfile.ZipFile, "writestr", disk_full)
    code, err = _export(capsys)
    assert code == 2 and "bundle.zip: no space left on device" in err, err
    assert not (workspace / "bundle.zip").exists()
    assert not list(workspace.glob(".drill-*.tmp"))
