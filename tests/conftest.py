"""Shared fixtures: an isolated working directory, a CLI runner, a real PostgreSQL."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import sockguard

REPO = Path(__file__).resolve().parent.parent


def pytest_configure(config: pytest.Config) -> None:
    """Loopback only for this process's sockets (tests/sockguard.py), and each session
    gets its own base temp directory (unless --basetemp is given).

    Why the temp directory: the lab's PostgreSQL servers run as an unprivileged user,
    which needs to traverse the directories above their data (pgbin grants it). Every
    pytest session that starts resets the shared ``/tmp/pytest-of-USER`` to mode 0700,
    so a second session on the same machine would cut a running lab off its own files
    mid-test."""
    import tempfile

    sockguard.install()
    config.add_cleanup(sockguard.uninstall)
    _guard_subprocesses(config)
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:
        _terminal_env_of_the_controller(workerinput)
    elif config.option.basetemp is None:
        config.option.basetemp = tempfile.mkdtemp(prefix="drill-tests-")
        config.add_cleanup(_remove_basetemp(config.option.basetemp))


#: what a pytest-xdist worker finds in its environment that its controller (the pytest
#: that was run) may not have: COLUMNS=80 and LINES=24. drill's consoles and every
#: drill process a test starts would take them for a terminal's width ("COLUMNS still
#: decides") and cut tables at 80 columns that the tests expect whole.
_TERMINAL_ENV = ("COLUMNS", "LINES")


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """(pytest-xdist, in the controller) hand each worker the controller's own."""
    node.workerinput["terminal_env"] = {key: os.environ.get(key) for key in _TERMINAL_ENV}


def _terminal_env_of_the_controller(workerinput: dict[str, Any]) -> None:
    for key, value in workerinput.get("terminal_env", {}).items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def _guard_subprocesses(config: pytest.Config) -> None:
    """The Python processes this session starts load the guard too (through
    tests/childguard/sitecustomize.py on PYTHONPATH) and log what they refuse to a file
    of the session's own."""
    import tempfile

    fd, log = tempfile.mkstemp(prefix="drill-loopback-", suffix=".log")
    os.close(fd)
    config.add_cleanup(lambda: os.unlink(log))
    os.environ[sockguard.LOG_ENV] = log
    guard_dir = str(REPO / "tests" / "childguard")
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (guard_dir, os.environ.get("PYTHONPATH")) if p
    )


def _remove_basetemp(path: str) -> Callable[[], None]:
    import shutil

    def remove() -> None:
        try:
            _tear_down_labs(Path(path))
        finally:
            shutil.rmtree(path, ignore_errors=True)

    return remove


def _tear_down_labs(base: Path) -> None:
    """``lab down`` of every lab a test left under ``base`` (a crash test's, one whose
    fixture failed): removing the directory alone left its processes running and its
    servers' data in /dev/shm (~100 MB a lab; 1.3 GB after a few sessions)."""
    from orchestrator.providers.lab.lifecycle import tear_down

    for dirpath, dirnames, filenames in os.walk(base):
        if os.path.basename(dirpath) == "lab" and "state.json" in filenames:
            dirnames.clear()
            try:
                tear_down(Path(dirpath))
            except Exception as exc:  # a clean-up: a test's unreadable state.json is no failure
                first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                print(f"tests: could not stop the lab in {dirpath}: {first}", file=sys.stderr)


@pytest.fixture(autouse=True)
def _loopback_only() -> Iterator[None]:
    """Fail the test during which this process, or a Python process it started, tried
    to reach beyond 127.0.0.0/8, even when the code under test swallowed the refusal
    (what a module or session fixture's set-up refused fails the first test using it)."""
    yield
    refused = sockguard.new_refusals()
    if refused:
        pytest.fail("\n".join(refused), pytrace=False)


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh directory as cwd, with no drill.yaml and no DRILL_* leaking in."""
    for key in list(os.environ):
        if key.startswith("DRILL_") and key not in ("DRILL_TEST_PG_DSN", "DRILL_PG_BINDIR"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(scope="session")
def pg_server() -> Iterator[object]:
    """A real PostgreSQL server on 127.0.0.1 (skips if no server binaries)."""
    if os.environ.get("DRILL_TEST_PG_DSN"):
        yield None
        return
    from orchestrator import pgbin
    from orchestrator.errors import LabError

    try:
        pgbin.bindir()
    except LabError as exc:
        pytest.skip(f"PostgreSQL server not installed: {exc.message}")
    from tests.pgserver import PgServer

    server = PgServer().start()
    yield server
    server.stop()


@pytest.fixture
def pg_dsn(pg_server: object) -> Iterator[str]:
    """A new, empty PostgreSQL database (SQLAlchemy URL) for one test, dropped after it."""
    from tests.pgserver import PgServer, create_database, drop_database

    base = os.environ.get("DRILL_TEST_PG_DSN")
    if not base:
        assert isinstance(pg_server, PgServer)
        base = pg_server.dsn()
    url = create_database(base)
    yield url
    drop_database(url)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def evidence_url(
    request: pytest.FixtureRequest, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> str:
    """The evidence database of a test run on both backends: SQLite under ``workdir``,
    then a fresh PostgreSQL database; drill commands use it (``DRILL_DATABASE``)."""
    url = (
        f"sqlite:///{workdir}/.drill/evidence.db"
        if request.param == "sqlite"
        else str(request.getfixturevalue("pg_dsn"))
    )
    monkeypatch.setenv("DRILL_DATABASE", url)
    return url


@pytest.fixture
def hook() -> Iterator[object]:
    """A webhook receiver on 127.0.0.1 that keeps what it is sent (scheduler tests)."""
    from tests.unit.test_schedule_support import HookServer

    server = HookServer()
    yield server
    server.close()
