"""`drill serve`'s JSON twins, fetched over HTTP, equal the CLI's `--json` output.

DESIGN 15: `/api/status` = `drill status --json`, `/api/runs` = `drill runs list
--json`, `/api/runs/RUN_ID` = `drill runs show RUN_ID --json`. `drill status --json`
carried `generated_at`, the wall clock of the call, so the two documents differed in
every request however little time passed between them.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.clihelp import run, spawn
from tests.e2e.defs import experiment, write


def _get(base: str, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(base + path, timeout=60) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _cli(cwd: Path, *args: str) -> Any:
    res = run(cwd, *args)
    assert res.code == 0, res.err
    return json.loads(res.out)


def test_api_twins_equal_the_cli_documents(workdir: Path) -> None:
    ok = write(workdir, "ok.yaml", experiment(workdir / "m1"))
    bad = write(workdir, "bad.yaml", experiment(workdir / "m2", deviate=True))
    assert run(workdir, "run", str(ok), "--json").code == 0
    assert run(workdir, "run", str(bad), "--json").code == 1
    proc = spawn(workdir, "serve", "--port", "0")
    assert proc.stderr is not None
    try:
        seen = ""
        while "drill dashboard on" not in seen:
            line = proc.stderr.readline()
            assert line, seen
            seen += line
        found = re.search(r"http://127\.0\.0\.1:\d+", seen)
        assert found, seen
        base = found.group(0)
        for path, args in (("/api/status", ("status",)), ("/api/runs", ("runs", "list"))):
            code, body = _get(base, path)
            assert code == 200, body
            assert json.loads(body) == _cli(workdir, *args, "--json"), path
        runs = _cli(workdir, "runs", "list", "--json")
        assert len(runs) == 2
        for r in runs:
            code, body = _get(base, f"/api/runs/{r['run_id']}")
            assert code == 200
            assert json.loads(body) == _cli(workdir, "runs", "show", r["run_id"], "--json")
        assert _get(base, "/api/runs/r-00000000-000000-nope")[0] == 404
    finally:
        proc.terminate()
        proc.communicate(timeout=60)
