"""`drill serve` driven from outside, as an SRE would: a real server process, real HTTP.

DESIGN 15 read as a user: every drill, runbook or experiment that ran shows in
`/metrics` and `/api/status`; a damaged or unreachable store is a clear page (and a
clear line in the server's log, never a traceback); the dashboard comes back by itself
when its PostgreSQL does; the HTTP answers say what a client needs (405 with Allow,
401 in JSON under /api/).
"""

from __future__ import annotations

import html
import io
import json
import re
import sqlite3
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.clihelp import run, spawn
from tests.e2e.defs import experiment, write

Response = tuple[int, dict[str, str], bytes]


def _http(
    base: str, path: str, method: str = "GET", headers: dict[str, str] | None = None
) -> Response:
    req = urllib.request.Request(base + path, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


class Served:
    """`drill serve --port 0` in ``cwd``; ``log()`` stops it and returns its stderr."""

    def __init__(self, cwd: Path, env: dict[str, str] | None = None) -> None:
        self.proc = spawn(cwd, "serve", "--port", "0", env=env)
        assert self.proc.stderr is not None
        seen = ""
        while not (found := re.search(r"http://127\.0\.0\.1:\d+", seen)):
            line = self.proc.stderr.readline()
            assert line, seen
            seen += line
        self.base = found.group(0)
        self._log = seen

    def get(self, path: str, **kw: Any) -> Response:
        return _http(self.base, path, **kw)

    def log(self) -> str:
        if self.proc.poll() is None:
            self.proc.terminate()
            self._log += self.proc.communicate(timeout=60)[1]
        return self._log


@pytest.fixture
def served_dir(workdir: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Two runs (a success, a deviation) of experiments run by file, not by a drill."""
    runs = {}
    for name, deviate in (("ok", False), ("bad", True)):
        path = write(workdir, f"{name}.yaml", experiment(workdir / f"m-{name}", deviate=deviate))
        res = run(workdir, "run", str(path), "--json")
        assert res.code == (1 if deviate else 0), res.err
        runs[name] = json.loads(res.out)
    yield workdir, runs


def _scrape(cwd: Path) -> tuple[int, bytes]:
    """/metrics of a server started for this one scrape."""
    server = Served(cwd)
    try:
        code, _h, body = server.get("/metrics")
    finally:
        assert "Traceback" not in server.log()
    return code, body


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    from prometheus_client.parser import text_string_to_metric_families

    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            key = (s.name, tuple(sorted(s.labels.items())))
            assert key not in out, f"duplicate series {key}"
            out[key] = s.value
    return out


def test_what_ran_without_a_drill_shows_in_metrics_and_status(
    served_dir: tuple[Path, dict[str, Any]],
) -> None:
    """Runbooks and experiments run on their own are what most teams run between
    quarterly drills: their last run, last success and objectives must be scraped too,
    not only their open findings."""
    cwd, runs = served_dir
    server = Served(cwd)
    try:
        code, _h, body = server.get("/metrics")
        assert code == 200
        got = _samples(body.decode())
        for name, doc in runs.items():
            labels = (("drill", name), ("env", "lab"))
            start = datetime.fromisoformat(doc["started_at"].replace("Z", "+00:00")).timestamp()
            assert got[("drill_last_run_timestamp_seconds", labels)] == pytest.approx(start)
            assert got[("drill_overdue", labels)] == 0.0
            for sc in doc["scenarios"]:
                key = ("drill_objective_met", tuple(sorted((*labels, ("scenario", sc["id"])))))
                assert got[key] == (1.0 if sc["met"] else 0.0)
        ok_start = datetime.fromisoformat(runs["ok"]["started_at"].replace("Z", "+00:00"))
        ok_labels = (("drill", "ok"), ("env", "lab"))
        assert got[("drill_last_success_timestamp_seconds", ok_labels)] == pytest.approx(
            ok_start.timestamp()
        )
        assert (
            "drill_last_success_timestamp_seconds",
            (("drill", "bad"), ("env", "lab")),
        ) not in got
        assert got[("drill_open_findings", (("drill", "bad"), ("env", "lab")))] >= 1.0
        # and /api/status = drill status --json, which now lists them
        code, _h, body = server.get("/api/status")
        cli = run(cwd, "status", "--json")
        assert cli.code == 0 and json.loads(body) == json.loads(cli.out)
        listed = {d["drill"]: d for d in json.loads(cli.out)["drills"]}
        assert listed["ok"]["kind"] == "experiment"
        assert listed["ok"]["last_success_run_id"] == runs["ok"]["run_id"]
        assert listed["bad"]["last_run_id"] == runs["bad"]["run_id"]
        assert listed["bad"]["last_success"] is None
    finally:
        assert "Traceback" not in server.log()


def test_a_tampered_store_is_a_clear_page_and_line_never_a_traceback(
    served_dir: tuple[Path, dict[str, Any]],
) -> None:
    cwd, runs = served_dir
    bad = runs["bad"]["run_id"]
    conn = sqlite3.connect(cwd / ".drill" / "evidence.db")
    with conn:  # changed behind drill's back: a value drill never writes
        conn.execute("UPDATE run SET started_at = 'garbage' WHERE id = ?", (bad,))
    conn.close()
    server = Served(cwd)
    try:
        for path in ("/runs", "/api/runs", f"/runs/{bad}", f"/api/runs/{bad}", "/metrics", "/"):
            code, _h, body = server.get(path)
            text = body.decode()
            assert code == 500, path
            assert "Traceback" not in text and "internal error" not in text, (path, text)
            assert bad in text and "started_at" in text, (path, text)
            assert "drill evidence verify" in text, (path, text)
    finally:
        log = server.log()
    assert "Traceback" not in log and 'File "' not in log, log
    assert f"{bad}" in log and "started_at" in log
    # the CLI says the same, in one line, not "a bug in drill"
    res = run(cwd, "runs", "list")
    assert res.code == 1
    assert res.err.startswith("drill: error: evidence store:") and "bug" not in res.err, res.err
    assert "Traceback" not in res.err


def test_a_store_migrated_or_altered_while_served_says_so_not_internal_error(
    served_dir: tuple[Path, dict[str, Any]],
) -> None:
    """The dashboard checks the store's schema when it opens it. A newer drill (the
    scheduler's host upgraded first) migrating the store under a running dashboard — a
    column renamed — made `/` and `/metrics` 500 'internal error (see the server's
    log)', the log 'OperationalError: no such column'. Now the pages say which revision
    the store is at, that this drill does not know it, and what to do (503); the same
    change without a migration is a change outside drill (500, verify)."""
    cwd, _runs = served_dir
    server = Served(cwd)
    try:
        assert server.get("/")[0] == 200
        conn = sqlite3.connect(cwd / ".drill" / "evidence.db", isolation_level=None)
        conn.execute("ALTER TABLE finding RENAME COLUMN status TO state")
        for path in ("/", "/metrics"):
            code, _h, body = server.get(path)
            text = html.unescape(body.decode())
            assert code == 500 and "internal error" not in text, (path, text)
            assert "the evidence tables were changed outside drill" in text, (path, text)
            assert "no such column: status" in text and "drill evidence verify" in text
        conn.execute("UPDATE alembic_version SET version_num = '9999_future'")
        conn.close()
        for path in ("/", "/metrics"):
            code, _h, body = server.get(path)
            text = html.unescape(body.decode())
            assert code == 503 and "internal error" not in text, (path, text)
            assert "is at schema revision 9999_future, which this drill does not know" in text
            assert "open it with the (newer) drill that wrote it" in text
    finally:
        log = server.log()
    assert "Traceback" not in log and "internal error" not in log, log
    assert "drill serve: /metrics: evidence database" in log


def test_405_says_what_is_allowed_and_api_401_is_json(
    served_dir: tuple[Path, dict[str, Any]],
) -> None:
    cwd, _runs = served_dir
    server = Served(cwd)
    try:
        for path in ("/", "/api/runs", "/metrics"):
            code, headers, _b = server.get(path, method="POST")
            assert code == 405
            assert {"GET", "HEAD"} <= {
                m.strip() for m in headers.get("allow", headers.get("Allow", "")).split(",")
            }, (path, headers)
    finally:
        server.log()
    server = Served(cwd, env={"DRILL_SERVE_TOKEN": "tok-never-logged-4242"})
    try:
        code, headers, body = server.get("/api/runs")
        assert code == 401 and headers.get("www-authenticate", headers.get("WWW-Authenticate"))
        said = "a bearer token is required: send it in the Authorization header, scheme Bearer"
        assert json.loads(body) == {"error": said, "hint": None, "status": 401}  # not "***"
        code, _h, body = server.get("/runs")
        assert code == 401 and body.decode() == f"drill: {said}\n"
        good = {"Authorization": "Bearer tok-never-logged-4242"}
        assert server.get("/api/runs", headers=good)[0] == 200
    finally:
        assert "tok-never-logged-4242" not in server.log()


@pytest.mark.postgres
def test_the_dashboard_comes_back_with_its_postgresql(workdir: Path) -> None:
    """A restart of the evidence database (maintenance, failover) shows as "unreachable"
    while it lasts, and the dashboard serves again without being restarted."""
    from tests.pgserver import own_server

    pg = own_server()
    server: Served | None = None
    try:
        env = {"DRILL_DATABASE": pg.create_database()}
        path = write(workdir, "ok.yaml", experiment(workdir / "m"))
        assert run(workdir, "run", str(path), env=env).code == 0
        server = Served(workdir, env=env)
        assert server.get("/api/runs")[0] == 200
        pg.halt()
        for page in ("/api/runs", "/runs", "/metrics"):
            code, _h, body = server.get(page)
            assert code == 503, (page, body)
            assert b"unreachable" in body and b"Traceback" not in body
        pg.resume()
        code, _h, body = server.get("/api/runs")
        assert code == 200, body
        assert len(json.loads(body)) == 1
        assert server.get("/metrics")[0] == 200
    finally:
        log = server.log() if server else ""
        pg.stop()
    assert "Traceback" not in log, log


@pytest.mark.postgres
def test_a_lock_held_on_the_postgresql_store_is_a_busy_page_not_a_hang(
    workdir: Path, pg_dsn: str
) -> None:
    """A session holding a lock on the evidence database (a migration, a VACUUM FULL, a
    transaction left open) froze the whole dashboard: the first read waited for as long as
    the lock was held, and every other request, /metrics too, waited behind it. A read now
    waits a few seconds, then the page says the database is busy (503); once the lock is
    gone the dashboard serves again. The export (its own connection) said 'internal
    error' after its wait; it is busy too."""
    import psycopg

    from tests.pgserver import _libpq

    env = {"DRILL_DATABASE": pg_dsn}
    path = write(workdir, "ok.yaml", experiment(workdir / "m"))
    assert run(workdir, "run", str(path), env=env).code == 0
    server = Served(workdir, env=env)
    try:
        assert server.get("/api/runs")[0] == 200
        with psycopg.connect(_libpq(pg_dsn)) as locker:
            locker.execute("LOCK TABLE run IN ACCESS EXCLUSIVE MODE")
            for page in ("/api/runs", "/runs", "/metrics", "/evidence/export?period=2026-Q4"):
                code, _h, body = server.get(page)
                assert code == 503, (page, body)
                assert b"is busy: a lock another session holds" in body, body
                assert b"pg_stat_activity" in body and b"Traceback" not in body
            locker.rollback()
        code, _h, body = server.get("/api/runs")
        assert code == 200 and len(json.loads(body)) == 1, body
    finally:
        log = server.log()
    assert "Traceback" not in log and "is busy" in log, log


def test_every_page_loads_in_chromium_without_console_errors(
    served_dir: tuple[Path, dict[str, Any]],
) -> None:
    """Chromium asks every site for an icon; a 404 for it is a console error on every
    page. The page names its icon, and the icon is served."""
    from tests.browser import CHROMIUM, CHROMIUM_ARGS

    if CHROMIUM is None:
        pytest.skip("chromium is not installed (./dev setup installs it)")
    from playwright.sync_api import sync_playwright

    cwd, runs = served_dir
    server = Served(cwd)
    errors: list[str] = []
    icon_js = """async () => {
        const link = document.querySelector('link[rel~="icon"]');
        if (!link) return null;
        const r = await fetch(link.href);
        return [r.status, r.headers.get('content-type')];
    }"""
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page()
                page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
                page.on("pageerror", lambda e: errors.append(str(e)))
                for path in (
                    "/",
                    "/runs",
                    "/runs?status=failed&period=2026-Q4",
                    *(f"/runs/{doc['run_id']}" for doc in runs.values()),
                    "/findings",
                    "/calendar",
                    "/evidence",
                ):
                    response = page.goto(server.base + path)
                    assert response is not None and response.status == 200, path
                    assert page.evaluate(icon_js) == [200, "image/svg+xml"], path
            finally:
                browser.close()
    finally:
        server.log()
    assert errors == []


def test_paging_past_any_store_is_a_usage_error(served_dir: tuple[Path, dict[str, Any]]) -> None:
    """Numbers beyond the database's 64-bit integers were 'internal error: IntegrityError:
    datatype mismatch' (CLI) and 500 (dashboard); '²' passed str.isdigit and broke int()."""
    cwd, _runs = served_dir
    huge = "99999999999999999999"
    res = run(cwd, "runs", "list", "--offset", huge)
    assert res.code == 2 and res.err.startswith("drill: error: --offset"), res.err
    assert "bug" not in res.err
    server = Served(cwd)
    try:
        for query in (f"offset={huge}", f"page={huge}", f"limit={huge}", "limit=%C2%B2"):
            for prefix in ("/runs", "/api/runs"):
                code, _h, body = server.get(f"{prefix}?{query}")
                assert code == 400, (prefix, query, body)
                assert query.split("=")[0] in body.decode(), (prefix, query)
    finally:
        assert "Traceback" not in server.log()


def test_web_errors_name_query_parameters_not_cli_options(
    served_dir: tuple[Path, dict[str, Any]],
) -> None:
    """A web user cannot pass `--status` or `--offset`: the dashboard's 400s said
    "--status 'bogus' is not a run status", "page with --offset", "use --from/--to" and
    a run's 404 "`drill runs list` shows run ids". Each now names what they can change
    in the URL; the CLI keeps its options' names."""
    cwd, _runs = served_dir
    cases = [
        ("/runs?status=bogus", 400, "status='bogus' is not a run status"),
        ("/findings?status=bogus", 400, "status='bogus' is not open or closed"),
        ("/runs?limit=0", 400, "limit=0 is not at least 1"),
        ("/runs?limit=2000000", 400, "page with offset= (or page=)"),
        ("/runs?page=1000000000000000", 400, "page=1000000000000000 is past any store"),
        ("/runs?period=2026-Q9", 400, "period='2026-Q9' is not a quarter"),
        ("/runs?period=2026-12-01..2026-01-01", 400, "TO 2026-01-01 is before FROM"),
        ("/evidence/export?period=2026-Q9", 400, "period='2026-Q9' is not a quarter"),
        ("/evidence/export", 400, "?period=2026-Q4"),
        ("/runs/r-no-such-run", 404, "the runs page (/runs) lists them"),
    ]
    server = Served(cwd)
    try:
        for path, status, said in cases:
            for where in (path, "/api" + path) if path.startswith(("/runs", "/find")) else (path,):
                code, _h, body = server.get(where)
                text = html.unescape(body.decode())
                assert code == status, (where, text)
                assert said in text, (where, text)
                assert not re.search(r"--[a-z]|drill runs", text), (where, text)
        # a period of dates exports as on /runs (the hint offers it)
        code, headers, body = server.get("/evidence/export?period=2026-10-01..2026-12-31")
        assert code == 200 and "drill-evidence-2026-10-01..2026-12-31.zip" in str(headers)
    finally:
        assert "Traceback" not in server.log()
    res = run(cwd, "runs", "list", "--status", "bogus")
    assert res.code == 2 and "--status 'bogus' is not a run status" in res.err, res.err


def test_a_resumed_bundle_download_gets_the_whole_bundle_not_a_splice(
    served_dir: tuple[Path, dict[str, Any]],
) -> None:
    """Each /evidence/export is a new bundle (its own time and signature). It said
    `Accept-Ranges: bytes`, and a broken download resumed with `Range: bytes=N-` (wget
    -c, curl -C -) got a 206 of a *new* bundle: glued to the first N bytes of the old
    one, a same-size file whose checks fail. A Range is now ignored: the whole bundle,
    200, never stored by a browser or proxy (no-store)."""
    import hashlib
    import zipfile

    cwd, _runs = served_dir
    path = "/evidence/export?period=2026-10-01..2030-12-31"
    server = Served(cwd)
    try:
        code, headers, first = server.get(path)
        assert code == 200, first[:300]
        head = {k.lower(): v for k, v in headers.items()}
        assert head.get("accept-ranges") == "none" and head["cache-control"] == "no-store"
        for asked in ({"Range": "bytes=1000-"}, {"Range": "bytes=0-99", "If-Range": "x"}):
            code, headers, again = server.get(path, headers=asked)
            assert code == 200, (asked, code)
            assert "content-range" not in {k.lower() for k in headers}
            bundle = zipfile.ZipFile(io.BytesIO(again))
            sums = bundle.read("SHA256SUMS").decode().splitlines()
            for line in sums:  # the whole bundle, as sha256sum -c checks it
                digest, name = line.split(maxsplit=1)
                assert hashlib.sha256(bundle.read(name.lstrip("*"))).hexdigest() == digest
    finally:
        assert "Traceback" not in server.log()


def test_pages_link_their_assets_by_path_not_by_the_requests_host(
    served_dir: tuple[Path, dict[str, Any]],
) -> None:
    """Every page linked its stylesheet, icon and home as absolute URLs built from the
    request's Host header: `Host: evil.example` gave a page whose stylesheet came from
    http://evil.example (poison for any cache in front), and behind a TLS proxy not on
    127.0.0.1 the links were http:// in an https page (mixed content: the browser
    blocks the stylesheet). They are paths now, as every other link."""
    cwd, runs = served_dir
    server = Served(cwd)
    try:
        for path in ("/", "/runs", f"/runs/{runs['ok']['run_id']}", "/evidence", "/nope"):
            _code, _h, body = server.get(path, headers={"Host": "evil.example"})
            text = body.decode()
            assert "evil.example" not in text, (path, text[:600])
            assert not re.search(r'(href|src)="https?:', text), (path, text[:600])
            assert '<link rel="stylesheet" href="/static/style.css">' in text, path
    finally:
        assert "Traceback" not in server.log()


def test_a_scenario_twice_needs_its_own_id_and_metrics_stay_unique(workdir: Path) -> None:
    """A drill that runs the same experiment twice (fail over, fail back) gave two
    `drill_objective_met` series with the same labels: Prometheus rejects such a scrape
    whole. Now `drill validate` asks for an `id:` (file:line), and with it each scenario
    is its own series."""
    write(workdir, "experiments/flip.yaml", experiment(workdir / "m"))
    twice = "id: twice\ntitle: flip and flip back\nscenarios:\n  - experiment: flip\n"
    path = write(workdir, "drills/twice.yaml", twice + "  - experiment: flip\n")
    res = run(workdir, "validate", str(path))
    assert res.code == 2, res.err
    assert "twice.yaml:5:" in res.err and "'flip'" in res.err and "id:" in res.err
    write(workdir, "drills/twice.yaml", twice + "  - {experiment: flip, id: flip-back}\n")
    res = run(workdir, "run", "twice", "--env", "lab", "--json")
    assert res.code == 0, res.err
    code, body = _scrape(workdir)
    assert code == 200
    got = _samples(body.decode())  # asserts no duplicate series
    met = {dict(k[1])["scenario"] for k in got if k[0] == "drill_objective_met"}
    assert met == {"flip", "flip-back"}


def test_open_findings_without_an_environment_are_one_series(workdir: Path) -> None:
    """A finding filed with no environment (an overdue drill never scheduled on one) and
    one with an empty environment both have the label env="": one series, their sum."""
    from orchestrator.config import load_settings
    from orchestrator.evidence.enums import utcnow
    from orchestrator.evidence.records import Finding
    from orchestrator.evidence.writer import EvidenceDB

    db = EvidenceDB.open(load_settings(None).database_url())
    for env in (None, ""):
        db.write(
            Finding(
                kind="drill_overdue",
                severity="high",
                title=f"qdr: missed ({env!r})",
                detail="",
                corrective_action="run it",
                created_at=utcnow(),
                drill="qdr",
                env=env,
            )
        )
    db.close()
    code, body = _scrape(workdir)
    assert code == 200
    got = _samples(body.decode())  # asserts no duplicate series
    assert got[("drill_open_findings", (("drill", "qdr"), ("env", "")))] == 2.0


def test_api_runs_with_a_large_limit_is_the_cli_list(workdir: Path) -> None:
    """`/api/runs?limit=1001` quietly returned 1,000 runs where `drill runs list --json
    --limit 1001` returns 1,001: the same filters must give the same document."""
    from datetime import UTC, timedelta

    from orchestrator.config import load_settings
    from orchestrator.evidence.records import Run
    from orchestrator.evidence.writer import EvidenceDB

    db = EvidenceDB.open(load_settings(None).database_url())
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    db.write(
        *(
            Run(
                id=f"r-20261101-000000-{i:06x}",
                target="bulk",
                target_kind="experiment",
                env="lab",
                status="succeeded",
                who="tester",
                host="h",
                pid=1,
                started_at=t0 + timedelta(minutes=i),
                ended_at=t0 + timedelta(minutes=i, seconds=1),
                exit_code=0,
            )
            for i in range(1001)
        )
    )
    db.close()
    cli = run(workdir, "runs", "list", "--json", "--limit", "1001")
    assert cli.code == 0, cli.err
    server = Served(workdir)
    try:
        code, _h, body = server.get("/api/runs?limit=1001")
        assert code == 200
        assert json.loads(body) == json.loads(cli.out)
        assert len(json.loads(body)) == 1001
        code, _h, body = server.get("/api/runs?limit=1000001")
        assert code == 400 and b"limit" in body
    finally:
        server.log()
    res = run(workdir, "runs", "list", "--limit", "1000001")
    assert res.code == 2 and "--limit" in res.err


def test_metrics_with_odd_names_are_valid_exposition(workdir: Path) -> None:
    """Quotes, backslashes, spaces, braces and non-ASCII in a target's name are escaped
    (parsed back exactly); `promtool check metrics` accepts the page when installed."""
    import shutil

    names = ['we"ird\\x', "sp ace", "ünï", "a{b}=c,d"]
    for name in names:
        path = write(workdir, f"{name}.yaml", experiment(workdir / "m", deviate=True))
        assert run(workdir, "run", str(path)).code == 1
    code, body = _scrape(workdir)
    assert code == 200
    got = _samples(body.decode())
    for name in names:
        labels = (("drill", name), ("env", "lab"))
        assert ("drill_last_run_timestamp_seconds", labels) in got
        assert got[("drill_open_findings", labels)] == 1.0
    promtool = shutil.which("promtool")
    if promtool:
        import subprocess

        done = subprocess.run(
            [promtool, "check", "metrics"], input=body, capture_output=True, timeout=60
        )
        assert done.returncode == 0, done.stdout + done.stderr


def test_a_store_removed_while_served_is_said_and_a_new_one_is_read(
    served_dir: tuple[Path, dict[str, Any]],
) -> None:
    """The evidence database removed under a running dashboard (a clean-up, a wrong `rm`):
    the server's open connection read the unlinked file for good — the removed runs stayed
    on every page and in /metrics with no word, and the runs recorded in the new database
    the next drill made were never shown (not until a restart)."""
    cwd, runs = served_dir
    store = cwd / ".drill" / "evidence.db"
    server = Served(cwd)
    try:
        code, _h, body = server.get("/api/runs")
        assert code == 200 and len(json.loads(body)) == 2
        for suffix in ("", "-wal", "-shm"):
            Path(f"{store}{suffix}").unlink(missing_ok=True)
        code, _h, body = server.get("/api/runs")
        assert code == 200 and json.loads(body) == [], body
        code, _h, body = server.get("/")
        assert code == 200 and "was removed while this dashboard served it" in body.decode()
        code, _h, body = server.get("/metrics")
        assert code == 200 and runs["ok"]["run_id"] not in body.decode()
        assert b"drill_last_run_timestamp_seconds{" not in body, body
        # the next drill makes a new database: the dashboard reads it, as the CLI does
        path = write(cwd, "again.yaml", experiment(cwd / "m-again", deviate=False))
        res = run(cwd, "run", str(path), "--json")
        assert res.code == 0, res.err
        new = json.loads(res.out)["run_id"]
        code, _h, body = server.get("/api/runs")
        assert code == 200
        assert json.loads(body) == json.loads(run(cwd, "runs", "list", "--json").out)
        assert [r["run_id"] for r in json.loads(body)] == [new]
        code, _h, body = server.get("/")
        assert code == 200 and "was removed" not in body.decode()
        assert server.get(f"/runs/{new}")[0] == 200
    finally:
        log = server.log()
    assert "Traceback" not in log, log
    assert f"the evidence database {store} was removed while served" in log, log


def test_all_runs_of_an_oddly_named_target_link_to_its_runs(workdir: Path) -> None:
    """An experiment run by file is named after it, and a file name may hold `&`, `+` or
    `#`: the overview's "all runs" link put the name in the query unencoded, so it led to
    the runs of "r" (`&` ends the value, `#` starts a fragment, `+` is a space) — none."""
    import html

    name = "r&d+1#x"
    path = write(workdir, f"{name}.yaml", experiment(workdir / "m", deviate=False))
    res = run(workdir, "run", str(path), "--json")
    assert res.code == 0, res.err
    run_id = json.loads(res.out)["run_id"]
    server = Served(workdir)
    try:
        code, _h, body = server.get("/")
        assert code == 200
        found = re.findall(r'<a href="(/runs\?drill=[^"]*)">all runs</a>', body.decode())
        links = [link for link in found if "quarterly-dr" not in link]  # (the bundled drill)
        assert len(links) == 1, found
        code, _h, body = server.get(html.unescape(links[0]))
        assert code == 200 and run_id in body.decode(), links[0]
    finally:
        server.log()


def test_a_token_read_with_its_line_end_is_the_token(
    served_dir: tuple[Path, dict[str, Any]],
) -> None:
    """DRILL_SERVE_TOKEN read from a file (a container secret) ends with a newline that no
    client can send (header values are trimmed): every request was 401, however right the
    token. The line end is not part of it now; a space inside one is refused at start."""
    cwd, _runs = served_dir
    server = Served(cwd, env={"DRILL_SERVE_TOKEN": "tok-from-a-file-4242\n"})
    try:
        good = {"Authorization": "Bearer tok-from-a-file-4242"}
        assert server.get("/api/runs", headers=good)[0] == 200
        assert server.get("/api/runs")[0] == 401
    finally:
        assert "tok-from-a-file-4242" not in server.log()
    res = run(cwd, "serve", "--port", "0", env={"DRILL_SERVE_TOKEN": "tok with-a-space-4242"})
    assert res.code == 2, res.err
    assert "DRILL_SERVE_TOKEN holds a space" in res.err and "with-a-space" not in res.err


def test_a_run_whose_drill_died_says_it_awaits_recovery(workdir: Path) -> None:
    """drill killed mid-run (SIGKILL, host loss) leaves its run 'running' in the evidence:
    `drill runs list` says on stderr that it awaits recovery and its rollbacks may be
    pending, while the dashboard showed it running, for good, with no word of that."""
    from tests.e2e.test_crash_safety import HOOK

    exp = write(workdir, "exp.yaml", experiment(workdir / "marker"))
    res = run(workdir, "run", str(exp), env={HOOK: "step:exp:3:end"})
    assert res.code == -9, res.err
    (orphan,) = json.loads(run(workdir, "runs", "list", "--json").out)
    assert orphan["status"] == "running"
    notice = f"{orphan['run_id']}</a> on lab awaits recovery"
    server = Served(workdir)
    try:
        for page in ("/", "/runs", f"/runs/{orphan['run_id']}", "/findings"):
            code, _h, body = server.get(page)
            assert code == 200 and notice in body.decode(), page
            assert "<code>drill recover --env lab</code>" in body.decode(), page
        assert run(workdir, "recover").code == 0
        code, _h, body = server.get("/")
        assert code == 200 and "awaits recovery" not in body.decode()
    finally:
        log = server.log()
    assert "Traceback" not in log, log


def test_open_findings_of_a_drill_whose_findings_are_closed_is_zero(workdir: Path) -> None:
    """`drill_open_findings` had no series for a drill with no open finding: once its
    findings were closed, an alert or a graph on it saw "no data", not 0. Every drill
    with runs has its series (labels as its other metrics'), 0 when nothing is open."""
    path = write(workdir, "dev.yaml", experiment(workdir / "m", deviate=True))
    assert run(workdir, "run", str(path)).code == 1
    labels = (("drill", "dev"), ("env", "lab"))
    assert _samples(_scrape(workdir)[1].decode())[("drill_open_findings", labels)] == 1.0
    listed = run(workdir, "findings", "list", "--status", "open", "--json")
    assert listed.code == 0, listed.err
    for f in json.loads(listed.out):
        res = run(workdir, "findings", "close", str(f["id"]), "--resolution", "fixed")
        assert res.code == 0, res.err
    code, body = _scrape(workdir)
    assert code == 200
    got = _samples(body.decode())
    assert ("drill_last_run_timestamp_seconds", labels) in got
    assert got[("drill_open_findings", labels)] == 0.0
