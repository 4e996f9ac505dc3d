"""`drill run` and the evidence commands never import SQLAlchemy, SQLModel or Alembic on a
store whose schema is current: every journaled table is written and read through the
DB-API writer (importing the ORM alone costs more than `drill run`'s start-up budget).
Only a schema migration imports them — the first command on a new store."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.clihelp import subprocess_env

EXPERIMENT = """title: one probe
description: a single python probe, no environment needed
method:
  - type: probe
    name: root-exists
    provider: {type: python, module: os.path, func: exists, arguments: {path: /}}
"""
CHECK = """
import sys
from orchestrator.cli import main
code = main(sys.argv[1:])
heavy = sorted(m for m in ("sqlalchemy", "sqlmodel", "alembic") if m in sys.modules)
print("HEAVY=" + ",".join(heavy), file=sys.stderr)
sys.exit(code)
"""


def _drill(cwd: Path, *args: str) -> tuple[int, list[str], str]:
    proc = subprocess.run([sys.executable, "-c", CHECK, *args], cwd=cwd, text=True,
                          capture_output=True, env=subprocess_env(), timeout=300)
    line = [x for x in proc.stderr.splitlines() if x.startswith("HEAVY=")]
    assert line, proc.stderr
    heavy = line[-1].removeprefix("HEAVY=")
    return proc.returncode, heavy.split(",") if heavy else [], proc.stderr


def test_run_and_evidence_reads_and_writes_do_not_import_the_orm(workdir: Path) -> None:
    (workdir / "exp.yaml").write_text(EXPERIMENT)
    code, heavy, err = _drill(workdir, "run", "exp.yaml", "--json")
    assert code == 0, err
    assert "alembic" in heavy  # the new store was migrated: the one place they load
    for args in (["run", "exp.yaml", "--json"], ["runs", "list", "--json"],
                 ["findings", "list", "--json"], ["status", "--json"],
                 ["schedule", "list", "--json"], ["gameday", "list", "--json"],
                 ["evidence", "verify"]):
        code, heavy, err = _drill(workdir, *args)
        assert (code, heavy) == (0, []), (args, err)
