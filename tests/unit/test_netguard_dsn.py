"""The lab's DSN guard (issue 18, item 12): a DSN reaches 127.0.0.0/8 only, whatever
libpq would fill in from a service file or PG* variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.errors import LabError
from orchestrator.netguard import dsn_problem, looks_like_dsn
from orchestrator.providers.lab.ops import check_loopback_dsn
from tests.clihelp import drill
from tests.e2e.defs import write


@pytest.mark.parametrize(
    ("dsn", "environ", "reason"),
    [
        ("host=10.0.0.1 dbname=x", {}, "refusing to connect to 10.0.0.1"),
        ("postgresql://10.0.0.1/x", {}, "refusing to connect to 10.0.0.1"),
        ("postgresql+psycopg://u:p@10.1.2.3:5432/x", {}, "refusing to connect to 10.1.2.3"),
        ("host=127.0.0.1,db.example.com dbname=x", {}, "db.example.com"),
        ("host=127.0.0.1 hostaddr=10.0.0.1", {}, "refusing to connect to 10.0.0.1"),
        ("host=/var/run/postgresql dbname=x", {}, "refusing to connect to /var/run"),
        ("service=evil", {}, "takes its host from pg_service.conf"),
        ("host=127.0.0.1 service=evil", {}, "takes its host from pg_service.conf"),
        ("dbname=postgres", {}, "names no host"),
        ("postgresql:///postgres", {}, "names no host"),
        ("host=127.0.0.1 dbname=x", {"PGSERVICE": "evil"}, "PGSERVICE set"),
        ("host=127.0.0.1 dbname=x", {"PGHOSTADDR": "10.0.0.1"}, "refusing to connect"),
        ("host='127.0.0.1", {}, "invalid DSN"),
    ],
)
def test_dsns_that_could_leave_loopback(dsn: str, environ: dict[str, str], reason: str) -> None:
    problem = dsn_problem(dsn, environ)
    assert problem is not None and reason in problem


@pytest.mark.parametrize(
    "dsn",
    [
        "host=127.0.0.1 dbname=x",
        "host=localhost port=5 dbname=x",
        "postgresql://127.0.0.2:5/x",
        "host=::1 dbname=x",
        "host=127.0.0.1 hostaddr=127.0.0.1",
    ],
)
def test_loopback_dsns_pass(dsn: str) -> None:
    assert dsn_problem(dsn, {"PGHOST": "10.0.0.1"}) is None  # PGHOST yields to host=
    assert check_loopback_dsn(dsn) == dsn


def test_lab_check_raises_lab_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGHOST", "10.0.0.1")
    with pytest.raises(LabError, match="names no host"):
        check_loopback_dsn("dbname=postgres")
    assert looks_like_dsn("postgresql://h/x") and not looks_like_dsn("primary_db")


def test_validate_refuses_a_non_loopback_dsn_target(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        workdir,
        "runbooks/t.yaml",
        "id: t\ntitle: t\nsteps:\n  - kind: probe\n"
        '    action: db.health\n    args: {target: "host=10.0.0.1 dbname=x"}\n',
    )
    for args in (("validate", str(path)), ("run", "t")):
        res = drill(capsys, *args)
        assert res.code == 2
        assert f"{path}:6: refusing to connect to 10.0.0.1" in res.err
        assert "(steps[0].args.target)" in res.err
