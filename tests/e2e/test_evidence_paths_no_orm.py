"""`drill run` and the evidence commands never import SQLAlchemy, SQLModel or Alembic on a
store whose schema is current: every journaled table is written and read through the
DB-API writer (importing the ORM alone costs more than `drill run`'s start-up budget).
Only a schema migration imports them — the first command on a new store."""

from __future__ import annotations

from pathlib import Path

from tests.clihelp import python_c
from tests.e2e.defs import experiment, write

CHECK = """
import sys
from orchestrator.cli import main
code = main(sys.argv[1:])
heavy = sorted(m for m in ("sqlalchemy", "sqlmodel", "alembic") if m in sys.modules)
print("HEAVY=" + ",".join(heavy), file=sys.stderr)
sys.exit(code)
"""


def _drill(cwd: Path, *args: str) -> tuple[int, list[str], str]:
    proc = python_c(cwd, CHECK, *args)
    line = [x for x in proc.stderr.splitlines() if x.startswith("HEAVY=")]
    assert line, proc.stderr
    heavy = line[-1].removeprefix("HEAVY=")
    return proc.returncode, heavy.split(",") if heavy else [], proc.stderr


def test_run_and_evidence_reads_and_writes_do_not_import_the_orm(workdir: Path) -> None:
    write(workdir, "exp.yaml", experiment(workdir / "marker"))
    code, heavy, err = _drill(workdir, "run", "exp.yaml", "--env", "lab", "--json")
    assert code == 0, err
    assert "alembic" in heavy  # the new store was migrated: the one place they load
    for args in (
        ["run", "exp.yaml", "--env", "lab", "--json"],
        ["runs", "list", "--json"],
        ["findings", "list", "--json"],
        ["status", "--json"],
        ["schedule", "list", "--json"],
        ["gameday", "list", "--json"],
        ["evidence", "verify"],
    ):
        code, heavy, err = _drill(workdir, *args)
        assert (code, heavy) == (0, []), (args, err)
