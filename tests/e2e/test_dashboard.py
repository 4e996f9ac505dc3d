"""The dashboard in real headless Chromium after a real `drill run quarterly-dr` on the lab.

`drill serve --port 0` runs as its own process (the console entry point), Chromium is
Debian's (Playwright drives it; Playwright never downloads a browser here). A second,
in-process server over the same store gets a clock two quarters later: the missed
quarter must show as overdue. Screenshots at desktop and phone widths must not be blank.
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.browser import CHROMIUM, CHROMIUM_ARGS
from tests.clihelp import run, spawn

pytestmark = [pytest.mark.lab, pytest.mark.slow]

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def drilled(labdir: Path) -> dict[str, Any]:
    res = run(labdir, "run", "quarterly-dr", "--env", "lab", "--json", timeout=300)
    assert res.code == 0, res.err
    doc: dict[str, Any] = json.loads(res.out)
    return doc


@pytest.fixture(scope="module")
def served(labdir: Path, drilled: dict[str, Any]) -> Iterator[str]:
    """`drill serve --port 0` in its own process; yields its base URL."""
    proc = spawn(labdir, "serve", "--port", "0")
    assert proc.stderr is not None
    seen = ""
    for _ in range(5):  # "drill dashboard on http://127.0.0.1:PORT/ …" (after any notice)
        seen += proc.stderr.readline()
        if match := re.search(r"http://127\.0\.0\.1:(\d+)/", seen):
            break
    assert match, seen
    url = f"http://127.0.0.1:{match.group(1)}"
    try:
        yield url
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except Exception:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def later(labdir: Path, drilled: dict[str, Any]) -> Iterator[str]:
    """The same store served in-process with a clock 200 days after the run."""
    import uvicorn

    from orchestrator.web.app import create_app
    from orchestrator.web.metrics import Sources

    with pytest.MonkeyPatch.context() as mp:
        for key in list(os.environ):
            if key.startswith("DRILL_") and key != "DRILL_PG_BINDIR":
                mp.delenv(key)
        mp.chdir(labdir)
        sources = Sources.open(None)
        started = datetime.fromisoformat(drilled["started_at"].replace("Z", "+00:00"))
        sources.now = lambda: started + timedelta(days=200)
        server = uvicorn.Server(
            uvicorn.Config(create_app(sources), host="127.0.0.1", port=0, log_level="warning")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)  # waits for start-up; nothing is measured
        assert server.started
        port = server.servers[0].sockets[0].getsockname()[1]
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
            thread.join(timeout=30)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (./dev setup installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def _not_blank(png: bytes, width: int) -> None:
    """A real page: the right width, many colours, and ink in the lower half too."""
    from PIL import Image

    img = Image.open(io.BytesIO(png)).convert("RGB")
    assert img.width == width
    colours = img.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 50
    lower = img.crop((0, img.height // 2, img.width, img.height))
    extrema = lower.getextrema()
    assert any(hi - lo > 100 for lo, hi in extrema)


def test_overview_shows_the_drill_and_its_run(
    browser: Any, served: str, drilled: dict[str, Any]
) -> None:
    for viewport in (DESKTOP, PHONE):
        page = browser.new_page(viewport=viewport)
        page.goto(served + "/")
        card = page.locator('section[data-drill="quarterly-dr"]')
        assert card.count() == 1
        text = card.inner_text()
        assert drilled["run_id"] in text and "succeeded" in text
        assert "OVERDUE" not in text
        # one RTO and one RPO chart per scenario, drawn by the browser (not empty boxes)
        charts = card.locator("svg.trend")
        assert charts.count() == 2 * len(drilled["scenarios"])
        assert card.locator("svg.trend circle.dot.met").count() >= len(drilled["scenarios"])
        assert charts.first.bounding_box()["width"] > 100
        # usable at phone width: nothing wider than the screen
        assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
        _not_blank(page.screenshot(full_page=True), viewport["width"])
        page.close()


def test_run_page_shows_the_timeline_chart(
    browser: Any, served: str, drilled: dict[str, Any]
) -> None:
    doc = json.loads(
        urllib.request.urlopen(f"{served}/api/runs/{drilled['run_id']}", timeout=30).read()
    )
    for viewport in (DESKTOP, PHONE):
        page = browser.new_page(viewport=viewport)
        page.goto(served + "/")
        page.click(f"text={drilled['run_id']}")
        page.wait_for_url(f"**/runs/{drilled['run_id']}")
        timeline = page.locator("#timeline svg.timeline")
        assert timeline.count() == 1
        bars = timeline.locator("rect.step")
        assert bars.count() == len([s for s in doc["steps"] if s["started_at"]])
        assert bars.first.bounding_box()["width"] >= 1
        marks = timeline.locator("line.mark.fault")
        assert marks.count() == len(drilled["scenarios"])  # every scenario injected a fault
        body = page.inner_text("main")
        for sc in drilled["scenarios"]:
            assert sc["id"] in body
        for m in doc["measurements"]:
            assert m["method"] in body
        _not_blank(page.screenshot(full_page=True), viewport["width"])
        page.close()


def test_a_missed_quarter_shows_overdue(browser: Any, later: str) -> None:
    for viewport in (DESKTOP, PHONE):
        page = browser.new_page(viewport=viewport)
        page.goto(later + "/")
        card = page.locator('section[data-drill="quarterly-dr"]')
        assert "OVERDUE" in card.inner_text()
        assert "overdue" in (card.get_attribute("class") or "")
        _not_blank(page.screenshot(full_page=True), viewport["width"])
        page.close()
    status = json.loads(urllib.request.urlopen(f"{later}/api/status", timeout=30).read())
    qdr = next(d for d in status["drills"] if d["drill"] == "quarterly-dr")
    assert qdr["overdue"] is True and qdr["missed_periods"]


def test_metrics_after_the_run(served: str, later: str, drilled: dict[str, Any]) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    def scrape(base: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        text = urllib.request.urlopen(f"{base}/metrics", timeout=30).read().decode()
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text)
            for s in fam.samples
        }

    now, then = scrape(served), scrape(later)
    qdr = (("drill", "quarterly-dr"), ("env", "lab"))
    start = datetime.fromisoformat(drilled["started_at"].replace("Z", "+00:00")).timestamp()
    assert now[("drill_last_run_timestamp_seconds", qdr)] == pytest.approx(start)
    assert now[("drill_last_success_timestamp_seconds", qdr)] == pytest.approx(start)
    assert now[("drill_overdue", qdr)] == 0.0
    assert then[("drill_overdue", qdr)] == 1.0
    for sc in drilled["scenarios"]:
        labels = tuple(sorted((*qdr, ("scenario", sc["id"]))))
        assert now[("drill_rto_seconds", labels)] == pytest.approx(sc["rto_s"])
        assert now[("drill_rpo_seconds", labels)] == pytest.approx(sc["rpo_s"])
        assert now[("drill_objective_met", labels)] == 1.0


def test_served_api_is_the_cli_json(labdir: Path, served: str, drilled: dict[str, Any]) -> None:
    def api(path: str) -> Any:
        return json.loads(urllib.request.urlopen(served + path, timeout=30).read())

    res = run(labdir, "runs", "list", "--json")
    assert res.code == 0 and api("/api/runs") == json.loads(res.out)
    res = run(labdir, "runs", "show", drilled["run_id"], "--json")
    assert res.code == 0 and api(f"/api/runs/{drilled['run_id']}") == json.loads(res.out)
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(served + "/runs/r-not-a-run", timeout=30)
    assert err.value.code == 404
    assert "Traceback" not in err.value.read().decode()


def test_run_page_reads_as_runs_show(labdir: Path, served: str, drilled: dict[str, Any]) -> None:
    """The run page gave each measurement raw ('2.468129 s', 'lost_writes 0.0 rows'
    '±0.0 s', an objective '300.0' without its unit) where `drill runs show` gives
    '2.468 s ±0.1s' and '0 rows', and listed the steps by number, so a runbook's rollback
    ('rebuild the Multi-AZ standby', recorded when the fault step starts) came before the
    fault it undoes; `runs show` lists them in the order they ran."""
    import html

    run_id = drilled["run_id"]
    page = urllib.request.urlopen(f"{served}/runs/{run_id}", timeout=30).read().decode()
    doc = json.loads(urllib.request.urlopen(f"{served}/api/runs/{run_id}", timeout=30).read())
    cells = [
        [
            html.unescape(re.sub(r"<[^>]+>", "", c)).strip()
            for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        ]
        for row in re.findall(
            r"<tr>(.*?)</tr>", page.split("<h2>Measurements</h2>")[1].split("<h2>")[0], re.S
        )
    ]
    rows = {(r[0], r[1]): r for r in cells if r}
    shown = run(labdir, "runs", "show", run_id).out
    for sc in drilled["scenarios"]:
        rto = rows[(sc["id"], "rto")]
        assert rto[2:4] == [f"{sc['rto_s']:.3f} s", "±0.1s"], rto
        assert rto[5].startswith(f"{sc['objectives']['rto_s']:g} s"), rto
        lost = rows[(sc["id"], "lost_writes")]
        assert lost[2:4] == [f"{sc['lost_writes']} rows", "—"], lost
        assert f"rto {sc['rto_s']:.3f} s ±0.1s" in " ".join(shown.split())
    steps = page.split("<h2>Steps</h2>")[1]
    numbers = [int(n) for n in re.findall(r"<tr><td>(\d+)</td>", steps)]
    ran = sorted(doc["steps"], key=lambda st: (st["started_at"] is None, st["started_at"] or ""))
    assert numbers == [st["seq"] for st in ran] != sorted(numbers)


def test_run_page_timeline_labels_name_each_step(served: str, drilled: dict[str, Any]) -> None:
    """The timeline's row labels were "scenario name" cut at 34 characters with nothing to
    say so or to read the rest ('az-loss synchronous standby in syn'); the reports' own
    timeline writes "scenario: name" and cuts with "…". Now the page does the same, with
    the whole label on hover."""
    import html

    run_id = drilled["run_id"]
    page = urllib.request.urlopen(f"{served}/runs/{run_id}", timeout=30).read().decode()
    doc = json.loads(urllib.request.urlopen(f"{served}/api/runs/{run_id}", timeout=30).read())
    svg = page.split('id="timeline"')[1].split("</svg>")[0]
    labels = [
        (html.unescape(whole), html.unescape(shown))
        for whole, shown in re.findall(r'class="label"><title>(.*?)</title>(.*?)</text>', svg)
    ]
    # (one row a step; their order, as they ran, is tests/e2e/test_timelines_as_ran.py's)
    wanted = [f"{st['scenario']}: {st['name']}" for st in doc["steps"]]
    assert sorted(w for w, _ in labels) == sorted(wanted)
    for whole, shown in labels:
        assert shown == whole or (shown.endswith("…") and whole.startswith(shown[:-1])), shown
    assert any(shown != whole for whole, shown in labels)  # some were cut, and said so


def test_every_page_fits_a_phone(browser: Any, served: str, drilled: dict[str, Any]) -> None:
    page = browser.new_page(viewport=PHONE)
    for path in (
        "/runs",
        f"/runs/{drilled['run_id']}",
        "/findings",
        "/calendar",
        "/evidence",
        "/runs/r-not-a-run",
    ):
        page.goto(served + path)
        assert page.locator("header nav a").count() == 5, path
        # wide tables and the timeline scroll inside their own box, the page does not
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], path
    page.close()
