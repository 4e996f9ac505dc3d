"""The dashboard's JSON twins, metrics, errors and safety, over a real evidence store.

Runs are made by the real engine (in-process `drill run`, clock moved with
time-machine); the app is driven through Starlette's test client, and every `/api/`
document is compared with the `--json` output of the matching command.
"""

from __future__ import annotations

import html
import io
import json
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from orchestrator.cli import main
from orchestrator.web.app import create_app
from orchestrator.web.metrics import Sources
from tests.clihelp import clear_drill_env
from tests.integration.test_evidence_chain import run_drill, write_definitions

CADENCED = """
id: webdrill
title: a quarterly drill of one no-op experiment
schedule: quarterly
scenarios:
  - experiment: noop
"""
NOW = datetime(2027, 2, 1, 12, 0, tzinfo=UTC)  # 2026-Q4 passed without a success


def cli(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    with redirect_stdout(out):
        code = main(list(args))
    return code, out.getvalue()


def cli_json(*args: str) -> Any:
    code, out = cli(*args, "--json")
    assert code == 0, out
    return json.loads(out)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    import time_machine

    root = tmp_path_factory.mktemp("web")
    with pytest.MonkeyPatch.context() as mp:
        clear_drill_env(mp)
        mp.chdir(root)
        write_definitions(root)
        (root / "drills" / "webdrill.yaml").write_text(CADENCED)
        with time_machine.travel(datetime(2026, 8, 14, 9, 30, tzinfo=UTC), tick=True):
            code, out = cli("run", "webdrill", "--env", "lab", "--json")
            assert code == 0, out
            ok = json.loads(out)
        with time_machine.travel(datetime(2026, 8, 20, 10, 0, tzinfo=UTC), tick=True):
            code, out = cli("run", "mini", "--env", "lab", "--json")
            assert code == 1  # the deviating scenario fails: a finding is raised
            failed = json.loads(out)
        with time_machine.travel(NOW, tick=False):
            cli("status", "--json")  # records the missed quarter as a finding
        yield {"root": root, "ok": ok, "failed": failed}


@pytest.fixture()
def client(project: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    clear_drill_env(monkeypatch)
    monkeypatch.chdir(project["root"])
    sources = Sources.open(None)
    sources.now = lambda: NOW
    with TestClient(create_app(sources), raise_server_exceptions=False) as c:
        yield c


def test_api_status_is_drill_status_json(client: TestClient) -> None:
    import time_machine

    with time_machine.travel(NOW, tick=False):
        expected = cli_json("status")
    doc = client.get("/api/status").json()
    assert doc == expected
    web = next(d for d in doc["drills"] if d["drill"] == "webdrill")
    assert web["overdue"] is True
    assert web["missed_periods"] == ["2026-Q4"]


def test_api_runs_is_drill_runs_list_json_with_the_same_filters(
    client: TestClient, project: dict[str, Any]
) -> None:
    assert client.get("/api/runs").json() == cli_json("runs", "list")
    for query, args in (
        ((("drill", "mini"),), ("--drill", "mini")),
        ((("status", "succeeded"),), ("--status", "succeeded")),
        ((("period", "2026-Q3"), ("limit", "1")), ("--period", "2026-Q3", "--limit", "1")),
        ((("period", "2026-Q4"),), ("--period", "2026-Q4")),
        ((("period", "2026-08-01..2026-08-15"),), ("--period", "2026-08-01..2026-08-15")),
        ((("limit", "1"), ("offset", "1")), ("--limit", "1", "--offset", "1")),
    ):
        web = client.get("/api/runs", params=dict(query)).json()
        assert web == cli_json("runs", "list", *args), query
    assert [r["run_id"] for r in client.get("/api/runs?status=succeeded").json()] == [
        project["ok"]["run_id"]
    ]
    assert client.get("/api/runs?period=2026-Q4").json() == []
    page2 = client.get("/api/runs?limit=1&page=2").json()
    assert [r["run_id"] for r in page2] == [project["ok"]["run_id"]]


def test_api_run_is_drill_runs_show_json(client: TestClient, project: dict[str, Any]) -> None:
    for run in (project["ok"], project["failed"]):
        doc = client.get(f"/api/runs/{run['run_id']}").json()
        assert doc == cli_json("runs", "show", run["run_id"])
        assert doc["steps"] and "approvals" in doc


def test_api_findings_and_calendar_are_the_commands_documents(client: TestClient) -> None:
    assert client.get("/api/findings").json() == cli_json("findings", "list")
    assert client.get("/api/findings?status=open").json() == cli_json(
        "findings", "list", "--status", "open"
    )
    cal = client.get("/api/calendar").json()
    assert cal["schedules"] == cli_json("schedule", "list")
    assert cal["gamedays"] == cli_json("gameday", "list")
    assert cal["blackout_windows"] == []


def test_pages_render_the_documents(client: TestClient, project: dict[str, Any]) -> None:
    overview = client.get("/")
    assert overview.status_code == 200
    assert "webdrill" in overview.text and "OVERDUE" in overview.text
    assert project["ok"]["run_id"] in overview.text
    assert 'class="chart trend"' in overview.text
    runs = client.get("/runs?drill=mini")
    assert project["failed"]["run_id"] in runs.text
    assert project["ok"]["run_id"] not in runs.text
    page = client.get(f"/runs/{project['failed']['run_id']}")
    assert page.status_code == 200
    assert 'class="chart timeline"' in page.text
    doc = client.get(f"/api/runs/{project['failed']['run_id']}").json()
    assert page.text.count('class="step"') == len([s for s in doc["steps"] if s["started_at"]])
    for f in doc["findings"]:
        assert f["title"] in page.text
    findings = client.get("/findings?status=open")
    assert "webdrill: no successful run in 2026-Q4" in findings.text
    assert client.get("/calendar").status_code == 200
    evidence = client.get("/evidence")
    head = client.get("/api/evidence").json()["chain_head"]
    assert head["seq"] > 0 and head["hash"] in evidence.text
    assert "/evidence/export?period=2027-Q1" in evidence.text


def test_last_verify_shows_on_the_evidence_page(client: TestClient) -> None:
    code, _out = cli("evidence", "verify")
    assert code == 0
    doc = client.get("/api/evidence").json()
    assert doc["last_verify"]["ok"] is True
    assert doc["last_verify"]["head"] == doc["chain_head"]
    assert f"#{doc['chain_head']['seq']}" in client.get("/evidence").text


def test_a_failed_verify_says_its_first_break_on_the_evidence_page(client: TestClient) -> None:
    """The evidence page said of a failed verify 'failed · 1 break(s)' and nothing of what
    broke; it now gives the first break (as `drill evidence verify` does), also in
    /api/evidence. (A head the journal does not hold fails a verify of an intact store.)"""
    head = client.get("/api/evidence").json()["chain_head"]
    code, _out = cli("evidence", "verify", "--head", f"{head['seq']}:{'0' * 64}")
    assert code == 1
    try:
        last = client.get("/api/evidence").json()["last_verify"]
        assert last["ok"] is False and last["first_break"]["record"] == f"event #{head['seq']}"
        page = " ".join(html.unescape(client.get("/evidence").text).split())
        assert (
            f"first: event #{head['seq']}: the head of that export is missing or different now"
        ) in page, page
    finally:
        assert cli("evidence", "verify")[0] == 0


def test_metrics_parse_and_match_the_store(client: TestClient, project: dict[str, Any]) -> None:
    response = client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for fam in text_string_to_metric_families(response.text)
        for s in fam.samples
    }
    ok = project["ok"]
    start = datetime.fromisoformat(ok["started_at"].replace("Z", "+00:00")).timestamp()
    web = (("drill", "webdrill"), ("env", "lab"))
    assert samples[("drill_last_run_timestamp_seconds", web)] == pytest.approx(start)
    assert samples[("drill_last_success_timestamp_seconds", web)] == pytest.approx(start)
    assert samples[("drill_overdue", web)] == 1.0
    mini = (("drill", "mini"), ("env", "lab"))
    assert ("drill_last_success_timestamp_seconds", mini) not in samples
    failed_start = datetime.fromisoformat(
        project["failed"]["started_at"].replace("Z", "+00:00")
    ).timestamp()
    assert samples[("drill_last_run_timestamp_seconds", mini)] == pytest.approx(failed_start)
    # a drill with runs and nothing open on its env has a 0, not "no data"
    want: dict[tuple[str, str], int] = {("webdrill", "lab"): 0, ("mini", "lab"): 0}
    for f in cli_json("findings", "list", "--status", "open"):
        key = (f["drill"] or "", f["env"] or "")  # a missed period is not tied to an env
        want[key] = want.get(key, 0) + 1
    got = {
        (dict(labels)["drill"], dict(labels)["env"]): v
        for (name, labels), v in samples.items()
        if name == "drill_open_findings"
    }
    assert got == want and {d for d, _e in want} == {"webdrill", "mini"}
    for sc in project["failed"]["scenarios"]:
        labels = tuple(sorted((*mini, ("scenario", sc["id"]))))
        if sc["met"] is not None:
            assert samples[("drill_objective_met", labels)] == (1.0 if sc["met"] else 0.0)
    # what 1 and 0 mean, also for mini's experiments, which have no RTO/RPO objective: its
    # HELP said 'met its RTO/RPO objectives … 0 when it missed them', of a scenario that
    # had none (1: it passed) or that deviated (0: it failed)
    (meaning,) = [
        f.documentation
        for f in text_string_to_metric_families(response.text)
        if f.name == "drill_objective_met"
    ]
    assert "one without objectives, such as an experiment: passed" in meaning, meaning
    assert "0 when it missed one or failed" in meaning, meaning


def test_fire_lag_histogram_counts_recorded_fires(client: TestClient) -> None:
    from orchestrator.config import load_settings
    from orchestrator.evidence.writer import EvidenceDB
    from orchestrator.schedule.records import ScheduleFire

    db = EvidenceDB.open(load_settings(None).database_url())
    at = datetime(2026, 8, 1, tzinfo=UTC)
    db.write(
        *[
            ScheduleFire(
                schedule_id="s-lag",
                target="webdrill",
                env="lab",
                scheduled_at=at.replace(hour=i),
                claimed_at=at.replace(hour=i),
                claimed_by="test",
                status="succeeded",
                lag_s=lag,
            )
            for i, lag in enumerate((0.05, 0.3, 0.3, 7.0))
        ]
    )
    db.close()
    fam = next(
        f
        for f in text_string_to_metric_families(client.get("/metrics").text)
        if f.name == "drill_scheduler_fire_lag_seconds"
    )
    got = {
        (s.name, s.labels.get("le")): s.value
        for s in fam.samples
        if s.labels.get("drill") == "webdrill"
    }
    assert got[("drill_scheduler_fire_lag_seconds_bucket", "0.1")] == 1
    assert got[("drill_scheduler_fire_lag_seconds_bucket", "0.5")] == 3
    assert got[("drill_scheduler_fire_lag_seconds_bucket", "5.0")] == 3
    assert got[("drill_scheduler_fire_lag_seconds_bucket", "10.0")] == 4
    assert got[("drill_scheduler_fire_lag_seconds_bucket", "+Inf")] == 4
    assert got[("drill_scheduler_fire_lag_seconds_count", None)] == 4
    assert got[("drill_scheduler_fire_lag_seconds_sum", None)] == pytest.approx(7.65)


@pytest.mark.parametrize(
    "path",
    [
        "/nope",
        "/runs/r-no-such-run",
        "/runs/../etc/passwd",
        "/api/nope",
        "/api/runs/r-no-such-run",
        "/static/nope.css",
        # a trailing slash is another path, not a redirect (whose Location would be
        # built from the request's Host header): the same plain 404
        "/runs/",
        "/api/runs/",
        "/findings/",
        "/api/status/",
        "/metrics/",
        "/static",
        "/runs/r-no-such-run/",
    ],
)
def test_unknown_paths_and_ids_are_404_without_traceback(client: TestClient, path: str) -> None:
    response = client.get(path, headers={"Host": "elsewhere.invalid"}, follow_redirects=False)
    assert response.status_code == 404
    assert "location" not in response.headers
    assert "Traceback" not in response.text and 'File "' not in response.text
    if path.startswith("/api/"):
        assert response.json()["status"] == 404


@pytest.mark.parametrize("query", ["status=bogus", "page=abc", "period=2026-Q9", "limit=-1"])
def test_bad_filters_are_400_naming_the_parameter(client: TestClient, query: str) -> None:
    for prefix in ("/runs", "/api/runs"):
        response = client.get(f"{prefix}?{query}")
        assert response.status_code == 400, (prefix, query)
        assert query.split("=")[1] in response.text
        assert "Traceback" not in response.text


def test_only_get_requests(client: TestClient) -> None:
    for path in ("/", "/api/runs", "/metrics"):
        assert client.post(path).status_code == 405
        assert client.delete(path).status_code == 405


def test_a_bug_is_a_500_page_without_traceback(project: dict[str, Any]) -> None:
    def broken() -> Any:
        raise RuntimeError("boom at postgresql://drill:hunter2@127.0.0.1/x")

    sources = Sources(settings=broken, db=broken, now=lambda: NOW)
    with TestClient(create_app(sources), raise_server_exceptions=False) as c:
        for path in ("/", "/api/runs", "/metrics"):
            response = c.get(path)
            assert response.status_code == 500
            assert "Traceback" not in response.text and "hunter2" not in response.text


def test_bearer_token_is_required_when_configured(
    project: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    clear_drill_env(monkeypatch)
    monkeypatch.chdir(project["root"])
    token = "t0ken-never-shown-9f2c"
    with TestClient(create_app(Sources.open(None), token)) as c:
        for path in ("/", "/api/runs", "/metrics", "/static/style.css", "/nope"):
            assert c.get(path).status_code == 401
            assert c.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 401
            assert c.get(path, headers={"Authorization": token}).status_code == 401
        good = {"Authorization": f"Bearer {token}"}
        for path in (
            "/",
            "/runs",
            "/findings",
            "/calendar",
            "/evidence",
            "/api/status",
            "/api/runs",
            "/api/findings",
            "/api/calendar",
            "/api/evidence",
            "/metrics",
        ):
            response = c.get(path, headers=good)
            assert response.status_code == 200, path
            assert token not in response.text


def test_secrets_in_evidence_never_reach_pages_or_api(workdir: Path) -> None:
    from orchestrator.config import load_settings
    from orchestrator.evidence.writer import EvidenceDB

    secret = "postgresql://drill:hunter2@127.0.0.1:5432/app"
    db = EvidenceDB.open(load_settings(None).database_url())
    # as if written by something that bypassed the writer (which redacts)
    db.conn.execute(
        "INSERT INTO finding (kind, severity, title, detail, corrective_action, status, "
        "created_at, drill, env) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            "step_failed",
            "high",
            f"cannot reach {secret}",
            f"password=hunter2 {secret}",
            "rotate",
            "open",
            db.param(NOW),
            "webdrill",
            "lab",
        ),
    )
    db.close()
    with TestClient(create_app(Sources.open(None))) as c:
        for path in ("/findings", "/api/findings", "/", "/metrics"):
            response = c.get(path)
            assert response.status_code == 200
            assert "hunter2" not in response.text, path
        assert "cannot reach postgresql://drill:***@" in c.get("/findings").text


def test_secrets_bypassing_the_writer_never_reach_a_run_page(workdir: Path) -> None:
    """The run page masked its document, but built its timeline (and, since, its steps
    and measurements) from the unmasked one: a step name or error written behind the
    writer's back showed its password in the timeline's labels."""
    from orchestrator.config import load_settings
    from orchestrator.evidence.writer import EvidenceDB

    write_definitions(workdir)
    run_id = run_drill(workdir)["run_id"]
    secret = "postgresql://drill:hunter2@127.0.0.1:5432/app"
    db = EvidenceDB.open(load_settings(None).database_url())
    db.conn.execute(  # as if written by something that bypassed the writer (which redacts)
        "UPDATE step_run SET name = ?, error = ? WHERE run_id = ?",
        (f"reach {secret}", f"cannot reach {secret}", run_id),
    )
    db.close()
    with TestClient(create_app(Sources.open(None))) as c:
        page = c.get(f"/runs/{run_id}")
        assert page.status_code == 200
        assert "hunter2" not in page.text
        assert "reach postgresql://drill:***@" in html.unescape(page.text)


def test_serve_refuses_a_non_loopback_host_without_token(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.clihelp import drill

    for host in ("0.0.0.0", "192.0.2.10", "dashboard.example", ""):
        res = drill(capsys, "serve", "--host", host, "--port", "0")
        assert res.code == 2
        assert res.err.startswith("drill: error: --host")
        assert "DRILL_SERVE_TOKEN" in res.err
        assert "Traceback" not in res.err
    # an empty --host binds every interface: said so, and shown ('--host  is not …')
    assert res.err.startswith("drill: error: --host '' (every interface) is not a loopback")
    res = drill(capsys, "serve", "--port", "70000")
    assert res.code == 2 and "--port" in res.err and "65535" in res.err


def test_loopback_hosts() -> None:
    from orchestrator.netguard import is_loopback_host as is_loopback

    assert all(is_loopback(h) for h in ("127.0.0.1", "127.8.9.10", "localhost", "::1"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "10.0.0.1", "::", "example.com", ""))


def test_scheduler_health_port_serves_the_same_metrics(client: TestClient) -> None:
    import urllib.error
    import urllib.request

    from orchestrator.schedule.health import HealthServer
    from orchestrator.web import metrics

    sources = Sources.open(None)
    sources.now = lambda: NOW
    health = HealthServer(
        lambda: {"status": "ok"}, 0, metrics=lambda: metrics.render(sources)
    ).start()
    try:
        base = health.url.rsplit("/", 1)[0]
        assert base.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(f"{base}/metrics", timeout=30) as r:
            assert r.headers["Content-Type"].startswith("text/plain")
            text = r.read().decode()

        def samples(body: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
            return {
                (s.name, tuple(sorted(s.labels.items()))): s.value
                for f in text_string_to_metric_families(body)
                for s in f.samples
            }

        assert samples(text) == samples(client.get("/metrics").text)
        with urllib.request.urlopen(f"{base}/health", timeout=30) as r:
            assert json.loads(r.read()) == {"status": "ok"}
    finally:
        health.stop()

    def broken() -> bytes:
        raise RuntimeError("db down at postgresql://u:hunter2@127.0.0.1/x")

    health = HealthServer(lambda: {"status": "ok"}, 0, metrics=broken).start()
    try:
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(health.url.replace("/health", "/metrics"), timeout=30)
        assert err.value.code == 503
        body = err.value.read().decode()
        assert "hunter2" not in body and "Traceback" not in body
    finally:
        health.stop()


def test_export_link_downloads_a_signed_bundle(
    client: TestClient, project: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """Without a key the first export creates the default one, as the CLI does (it
    answered 400 "run keygen"), says where on the server's log, and the CLI then signs
    with that same key."""
    import zipfile

    from orchestrator.evidence.signing import DEFAULT_KEY, fingerprint_of_pem

    key = project["root"] / ".drill" / DEFAULT_KEY
    assert not key.exists()
    response = client.get("/evidence/export?period=2026-Q3")
    assert response.status_code == 200, response.text
    assert key.exists()
    assert f"drill serve: created the signing key {key}" in capsys.readouterr().err
    assert response.headers["content-type"] == "application/zip"
    assert "drill-evidence-2026-Q3.zip" in response.headers["content-disposition"]
    bundle = zipfile.ZipFile(io.BytesIO(response.content))
    assert "manifest.json" in bundle.namelist() and "runs.json" in bundle.namelist()
    signer = fingerprint_of_pem(bundle.read("signer.pub.pem").decode())
    assert fingerprint_of_pem((key.parent / (key.name + ".pub")).read_text()) == signer
    code, out = cli("evidence", "export", "--period", "2026-Q3", "--out", "q3.zip", "--json")
    assert code == 0 and json.loads(out)["signer"] == signer  # the same key, not a new one
    again = client.get("/evidence/export?period=2026-Q3")
    assert again.status_code == 200 and "created" not in capsys.readouterr().err
    assert client.get("/evidence/export?period=2026-Q9").status_code == 400
    assert client.get("/evidence/export").status_code == 400


def test_head_of_an_export_link_builds_no_bundle_and_makes_no_key(
    client: TestClient, project: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A link checker's HEAD of the evidence page's quarter links got each a whole
    export (seconds of CPU apiece) and the first one created the signing key: HEAD now
    answers with a GET's headers and builds nothing; a bad period is still a 400."""
    from orchestrator.evidence import export as evidence_export
    from orchestrator.evidence.signing import DEFAULT_KEY

    built: list[object] = []
    real = evidence_export.export_bundle
    monkeypatch.setattr(
        evidence_export, "export_bundle", lambda *a, **k: built.append(a) or real(*a, **k)
    )
    key = project["root"] / ".drill" / DEFAULT_KEY
    kept = {p: p.read_bytes() for p in key.parent.glob(key.name + "*")}  # (the module's)
    for p in kept:
        p.unlink()
    try:
        _head_builds_nothing(client, key, built)
    finally:
        for p, data in kept.items():
            p.write_bytes(data)


def _head_builds_nothing(client: TestClient, key: Path, built: list[object]) -> None:
    response = client.head("/evidence/export?period=2026-Q3")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    assert 'filename="drill-evidence-2026-Q3.zip"' in response.headers["content-disposition"]
    assert response.headers["cache-control"] == "no-store"
    assert "content-length" not in response.headers  # not 0: the bundle is not built
    assert built == [] and not key.exists()
    assert client.head("/evidence/export?period=2026-Q9").status_code == 400
    got = client.get("/evidence/export?period=2026-Q3")  # a GET still builds it
    assert got.status_code == 200 and len(built) == 1 and key.exists()
    assert got.headers["content-disposition"] == response.headers["content-disposition"]
    key.unlink()
    Path(str(key) + ".pub").unlink(missing_ok=True)


def test_export_link_never_replaces_a_configured_key_that_is_missing(
    project: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`signing_key:` naming no file is an error on the web as on the CLI (exit 2): a
    missing secrets mount must not sign with a new key nobody published."""
    clear_drill_env(monkeypatch)
    monkeypatch.chdir(project["root"])
    missing = project["root"] / "secrets" / "signing.pem"
    monkeypatch.setenv("DRILL_SIGNING_KEY", str(missing))
    sources = Sources.open(None)
    with TestClient(create_app(sources), raise_server_exceptions=False) as c:
        response = c.get("/evidence/export?period=2026-Q3")
    assert response.status_code == 400
    assert f"signing key not found: {missing}" in response.text
    assert not missing.exists()
    code, _ = cli("evidence", "export", "--period", "2026-Q3", "--out", "q3.zip")
    assert code == 2 and not missing.exists()


@contextmanager
def _serving(app: Any) -> Iterator[str]:
    """``app`` under a real uvicorn server on 127.0.0.1 (a thread of this process)."""
    import threading
    import time

    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)  # waits for start-up; nothing is measured
    assert server.started
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def _get(url: str, timeout: float = 60) -> tuple[int, bytes]:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_metrics_and_pages_answer_while_an_export_is_built(
    project: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A quarter's export takes seconds: built on the event loop it held up every page
    and /metrics (a scrape timed out) until done. It is held here, mid-export, until
    the test lets it go: meanwhile the other requests must answer. The export reads
    through a connection of its own, not the dashboard's shared one."""
    import threading
    import zipfile

    import orchestrator.evidence.export as export_mod

    clear_drill_env(monkeypatch)
    monkeypatch.chdir(project["root"])
    sources = Sources.open(None)
    sources.now = lambda: NOW
    real = export_mod.export_bundle
    started, release = threading.Event(), threading.Event()
    used: list[Any] = []

    def held(db: Any, *args: Any, **kw: Any) -> Any:
        used.append(db)
        started.set()
        assert release.wait(120), "the test never let the export go"
        return real(db, *args, **kw)

    monkeypatch.setattr(export_mod, "export_bundle", held)
    with _serving(create_app(sources)) as base:
        download: list[tuple[int, bytes]] = []
        fetch = threading.Thread(
            target=lambda: download.append(_get(base + "/evidence/export?period=2026-Q3"))
        )
        fetch.start()
        try:
            assert started.wait(60), "the export never started"
            # (a bound on a hang, not a timing assertion: the export is held for good)
            code, body = _get(base + "/metrics", timeout=30)
            assert code == 200 and b"drill_last_run_timestamp_seconds" in body
            assert _get(base + "/runs", timeout=30)[0] == 200
        finally:
            release.set()
            fetch.join(timeout=120)
    assert used and used[0] is not sources.db()  # not the event loop's shared connection
    ((code, body),) = download
    assert code == 200, body[:500]
    bundle = zipfile.ZipFile(io.BytesIO(body))
    assert "manifest.json" in bundle.namelist() and bundle.testzip() is None


def test_a_served_export_forks_no_process(
    project: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The export renders half its reports in a forked process when the period is large.
    Under ``drill serve`` it runs in a worker thread beside the event loop's: a fork there
    copies whatever lock another thread holds at that moment (an import under way, a
    stream write) into a child where nobody ever releases it, and the export hangs for
    good. Served, it renders in-process; the bundle is the same and verifies."""
    import os
    import threading
    import zipfile

    import orchestrator.evidence.export as export_mod

    clear_drill_env(monkeypatch)
    monkeypatch.chdir(project["root"])
    monkeypatch.setattr(export_mod, "PARALLEL_MIN_RUNS", 0)  # every period "large"
    real_fork = os.fork
    forks: list[int] = []

    def fork() -> int:
        forks.append(threading.active_count())
        return real_fork()

    monkeypatch.setattr(os, "fork", fork)
    sources = Sources.open(None)
    sources.now = lambda: NOW
    with _serving(create_app(sources)) as base:
        code, body = _get(base + "/evidence/export?period=2026-Q3")
    assert code == 200, body[:500]
    assert forks == [], f"forked with {forks} threads alive"
    (tmp_path / "served.zip").write_bytes(body)
    bundle = zipfile.ZipFile(tmp_path / "served.zip")
    assert {"report.html", "report.pdf"} <= set(bundle.namelist())
    assert main(["evidence", "verify", str(tmp_path / "served.zip")]) == 0


@pytest.mark.postgres
def test_the_same_documents_on_postgresql(
    workdir: Path, pg_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Filters (timestamps as PostgreSQL compares them), paging, status, metrics, export."""
    import zipfile

    import time_machine

    monkeypatch.setenv("DRILL_DATABASE", pg_dsn)
    write_definitions(workdir)
    (workdir / "drills" / "webdrill.yaml").write_text(CADENCED)
    with time_machine.travel(datetime(2026, 8, 14, 9, 30, tzinfo=UTC), tick=True):
        assert cli("run", "webdrill", "--env", "lab", "--json")[0] == 0
    with time_machine.travel(datetime(2026, 11, 3, 9, 30, tzinfo=UTC), tick=True):
        assert cli("run", "mini", "--env", "lab", "--json")[0] == 1
    sources = Sources.open(None)
    sources.now = lambda: NOW
    with TestClient(create_app(sources)) as c:
        for query, args in (
            ({}, ()),
            ({"period": "2026-Q3"}, ("--period", "2026-Q3")),
            ({"status": "failed"}, ("--status", "failed")),
            ({"limit": "1", "offset": "1"}, ("--limit", "1", "--offset", "1")),
        ):
            assert c.get("/api/runs", params=query).json() == cli_json("runs", "list", *args)
        assert [r["drill"] for r in c.get("/api/runs?period=2026-Q4").json()] == ["mini"]
        assert "page 1 of 1" in c.get("/runs").text
        with time_machine.travel(NOW, tick=False):
            cli("status", "--json")
            assert c.get("/api/status").json() == cli_json("status")
        text = c.get("/metrics").text
        overdue = {
            s.labels["drill"]: s.value
            for f in text_string_to_metric_families(text)
            for s in f.samples
            if s.name == "drill_overdue"
        }
        assert overdue["webdrill"] == 1.0
        assert c.get("/api/evidence").json()["chain_head"]["seq"] > 0
        # the export reads through a connection of its own (a worker thread's)
        bundle = c.get("/evidence/export?period=2026-Q4")
        assert bundle.status_code == 200, bundle.text
        runs = json.loads(zipfile.ZipFile(io.BytesIO(bundle.content)).read("runs.json"))
        assert [r["target"] for r in runs["runs"]] == ["mini"]


def test_calendar_shows_schedules_game_days_and_blackout_windows(workdir: Path) -> None:
    write_definitions(workdir)
    (workdir / "drills" / "webdrill.yaml").write_text(CADENCED)
    (workdir / "drill.yaml").write_text(
        "blackout_windows:\n"
        "  - {name: year-end freeze, start: 2026-12-20, end: 2027-01-04}\n"
        "  - {name: weekends, start: '0 0 * * 6', duration: 2d}\n"
    )
    sched = cli_json("schedule", "add", "webdrill", "--env", "lab", "--cron", "quarterly")
    day = cli_json(
        "gameday",
        "create",
        "--date",
        "2030-03-01T10:00",
        "--drills",
        "webdrill",
        "--participants",
        "alice,bob",
        "--env",
        "lab",
        "--title",
        "spring game day",
    )
    sources = Sources.open(None)
    sources.now = lambda: datetime(2026, 12, 24, 12, 0, tzinfo=UTC)  # a Thursday, frozen
    with TestClient(create_app(sources)) as c:
        doc = c.get("/api/calendar").json()
        assert doc["schedules"] == cli_json("schedule", "list") and doc["schedules"]
        assert doc["gamedays"] == cli_json("gameday", "list")
        windows = {w["name"]: w for w in doc["blackout_windows"]}
        assert windows["year-end freeze"]["active_now"] is True
        assert windows["weekends"]["active_now"] is False
        page = c.get("/calendar").text
        for text in (
            sched["id"],
            "spring game day",
            "alice, bob",
            "year-end freeze",
            "weekends",
            "in force",
        ):
            assert text in page
        assert day["id"] in {g["id"] for g in doc["gamedays"]}


def test_calendar_shows_each_schedules_last_fire(workdir: Path) -> None:
    """A fire held by a freeze files no finding; the calendar is where it shows."""
    from orchestrator.config import load_settings
    from orchestrator.evidence.store import EvidenceStore
    from orchestrator.notify.webhook import WebhookNotifier
    from orchestrator.schedule.blackout import load_windows
    from orchestrator.schedule.fire import FireContext, fire
    from orchestrator.schedule.launcher import ChildLauncher

    write_definitions(workdir)
    (workdir / "drill.yaml").write_text(
        "blackout_windows:\n  - {name: year-end freeze, start: 2026-12-20, end: 2027-01-04}\n"
    )
    sched = cli_json("schedule", "add", "noop", "--env", "lab", "--cron", "daily")
    settings = load_settings()
    store = EvidenceStore(settings.database_url())
    ctx = FireContext(
        settings,
        store,
        "web-test",
        ChildLauncher(settings),
        WebhookNotifier([]),
        load_windows(settings),
    )
    assert fire(ctx, sched["id"], datetime(2026, 12, 24, 0, 0, tzinfo=UTC)) == "skipped"
    sources = Sources.open(None)
    sources.now = lambda: datetime(2026, 12, 24, 12, 0, tzinfo=UTC)
    with TestClient(create_app(sources)) as c:
        (doc,) = c.get("/api/calendar").json()["schedules"]
        assert doc["last_fire"] == {
            "scheduled_at": "2026-12-24T00:00:00Z",
            "status": "skipped",
            "reason": "blackout window 'year-end freeze'",
            "run_id": None,
        }
        page = c.get("/calendar").text
    assert "2026-12-24 00:00" in page and "year-end freeze&#39;" in page


def test_metrics_say_whether_a_scheduler_fires(workdir: Path) -> None:
    """A dead scheduler was invisible to Prometheus until a quarter had passed without
    its drill (drill_overdue): now drill_scheduler_running says how many fire, and
    drill_schedules_pending whether any should."""
    from datetime import timedelta

    from orchestrator.config import load_settings
    from orchestrator.evidence.store import EvidenceStore
    from orchestrator.schedule.service import SchedulerService
    from orchestrator.web.metrics import render as metrics_render
    from tests.unit.test_schedule_support import RecordingLauncher, make_project

    def scrape(now: datetime) -> dict[str, float]:
        sources = Sources.open(None)
        sources.now = lambda: now
        text = metrics_render(sources).decode()
        return {
            s.name: s.value
            for fam in text_string_to_metric_families(text)
            for s in fam.samples
            if s.name in ("drill_scheduler_running", "drill_schedules_pending")
        }

    make_project(workdir)
    now = datetime.now(UTC)
    assert scrape(now) == {"drill_scheduler_running": 0.0, "drill_schedules_pending": 0.0}
    cli_json("schedule", "add", "tiny", "--env", "lab", "--every", "1h")
    settings = load_settings()
    svc = SchedulerService(
        settings, EvidenceStore(settings.database_url()), launcher=RecordingLauncher(datetime.now)
    )
    svc.start()
    try:
        now = datetime.now(UTC)
        assert scrape(now) == {"drill_scheduler_running": 1.0, "drill_schedules_pending": 1.0}
        # silent for more than a minute: gone, as `drill scheduler status` says
        assert scrape(now + timedelta(minutes=2))["drill_scheduler_running"] == 0.0
    finally:
        svc.stop()
    assert scrape(datetime.now(UTC))["drill_scheduler_running"] == 0.0


def test_an_unknown_run_id_is_echoed_shortened_not_whole(client: TestClient) -> None:
    """The 404 for an unknown run id echoed the id back whole: a 20 KB id in the URL
    made a 20 KB message (page and JSON). An id past 80 characters is shown cut, with an
    ellipsis and its length; a normal id is shown as it is."""
    long_id = "r-" + "x" * 20_000
    for prefix in ("/runs/", "/api/runs/"):
        response = client.get(prefix + long_id)
        assert response.status_code == 404
        text = response.json()["error"] if prefix.startswith("/api/") else response.text
        assert "x" * 100 not in text, (prefix, len(text))
        assert f"no run {long_id[:79] + '…'!r} (20002 characters)" in html.unescape(text)
        assert len(response.content) < 5000, (prefix, len(response.content))
        normal = client.get(prefix + "r-no-such-run")
        shown = normal.json()["error"] if prefix.startswith("/api/") else normal.text
        assert "no run 'r-no-such-run'" in html.unescape(shown)


def test_a_schedule_this_drill_cannot_build_shows_why_on_the_calendar(workdir: Path) -> None:
    """A schedule row another scheduler of the group wrote — a time zone this host's
    tzdata lacks — with no job row stored made /calendar, / and /metrics fail ('unknown
    time zone', naming no schedule). It is now shown with why its next fire cannot be
    computed; the pages answer."""
    from orchestrator.config import load_settings
    from orchestrator.evidence.store import EvidenceStore
    from orchestrator.schedule.records import Schedule

    write_definitions(workdir)
    (workdir / "drills" / "webdrill.yaml").write_text(CADENCED)
    cli_json("schedule", "add", "webdrill", "--env", "lab", "--cron", "quarterly")
    now = datetime(2026, 12, 24, 12, 0, tzinfo=UTC)
    EvidenceStore(load_settings().database_url()).db.write(
        Schedule(
            id="s-elsewhere",
            target="webdrill",
            env="lab",
            kind="cron",
            expr="0 9 * * *",
            timezone="Mars/Olympus_Mons",
            start_at=now,
            created_by="a newer host",
            created_at=now,
        )
    )
    sources = Sources.open(None)
    sources.now = lambda: now
    why = "cannot compute: unknown time zone 'Mars/Olympus_Mons'"
    with TestClient(create_app(sources), raise_server_exceptions=False) as c:
        docs = {d["id"]: d for d in c.get("/api/calendar").json()["schedules"]}
        assert docs["s-elsewhere"]["next_fire_at"] is None
        assert docs["s-elsewhere"]["next_fire_error"] == why
        page = c.get("/calendar")
        assert page.status_code == 200 and why in html.unescape(page.text)
        overview = c.get("/")
        assert overview.status_code == 200
        assert f"schedule s-elsewhere: {why}" in html.unescape(overview.text)
        assert c.get("/metrics").status_code == 200
