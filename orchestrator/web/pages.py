"""The dashboard's pages: each one a JSON document plus what only its HTML adds.

A page's document is built by the same function as the matching `--json` command
(:mod:`orchestrator.views`, :mod:`orchestrator.engine.results`), so ``/api/runs``
*is* ``drill runs list --json`` and so on. ``extra`` adds what only people need
(charts, the pager, filter choices) to the template's context.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from orchestrator.errors import UsageError
from orchestrator.web.metrics import Sources

Params = dict[str, str]
PER_PAGE = 50


@dataclass(frozen=True)
class Page:
    name: str  # nav label and template stem
    path: str  # the HTML route (Starlette path syntax)
    api: str  # its JSON twin
    document: Callable[[Sources, Params, dict[str, str]], Any]
    extra: Callable[[Sources, Params, Any], dict[str, Any]] | None = None
    nav: bool = True


def _status(src: Sources, _q: Params, _path: dict[str, str]) -> Any:
    from orchestrator.views import status_document

    return status_document(src.settings(), src.db(), src.now())


def _overview_extra(src: Sources, _q: Params, doc: Any) -> dict[str, Any]:
    from orchestrator.views import TREND_RUNS, open_findings_by_drill
    from orchestrator.web.charts import trend_svg

    trends = _trend_map(src, doc)
    open_by: dict[str, int] = {}
    for (drill, _env), n in open_findings_by_drill(src.db()).items():
        open_by[drill] = open_by.get(drill, 0) + n
    charts: dict[str, list[tuple[str, str, str]]] = {}
    for drill, points in trends.items():
        by_scenario: dict[str, list[dict[str, Any]]] = {}
        for p in points:
            by_scenario.setdefault(p["scenario"], []).append(p)
        charts[drill] = [
            (sc, trend_svg(ps, "rto_s", "RTO"), trend_svg(ps, "rpo_s", "RPO"))
            for sc, ps in by_scenario.items()
        ]
    return {
        "charts": charts,
        "open_findings": open_by,
        "trend_runs": TREND_RUNS,
        "as_of": src.now().strftime("%Y-%m-%d %H:%M"),
    }


def _trend_map(src: Sources, status: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    from orchestrator.views import trend_documents

    return {d["drill"]: trend_documents(src.db(), d["drill"], d["env"]) for d in status["drills"]}


def _trends(src: Sources, q: Params, path: dict[str, str]) -> Any:
    return _trend_map(src, _status(src, q, path))


def _int(q: Params, key: str, default: int) -> int:
    text = q.get(key, "")
    if not text:
        return default
    if not (text.isascii() and text.isdigit()):  # "²" is a digit to str.isdigit
        raise UsageError(f"{key}={text!r} is not a whole number")
    from orchestrator.views import MAX_OFFSET

    if len(text) > len(str(MAX_OFFSET)) or int(text) > MAX_OFFSET:
        raise UsageError(f"{key}={text!r} is too large (at most {MAX_OFFSET})")
    return int(text)


def runs_query(q: Params) -> Any:
    """``/runs?drill=&env=&status=&period=&page=`` (or ``limit``/``offset``) as a query;
    its errors name these parameters, not `drill runs list`'s options."""
    from orchestrator.views import MAX_OFFSET, WEB, RunsQuery

    limit = _int(q, "limit", PER_PAGE)
    page = _int(q, "page", 0)
    offset = (page - 1) * limit if page else _int(q, "offset", 0)
    if page and offset > MAX_OFFSET:  # (not "offset=…", which they did not give)
        raise UsageError(
            f"page={page} is past any store (at limit={limit}, pages end at "
            f"{MAX_OFFSET // max(limit, 1) + 1})"
        )
    return RunsQuery(
        drill=q.get("drill") or None,
        env=q.get("env") or None,
        status=q.get("status") or None,
        period=q.get("period") or None,
        limit=limit,  # as `drill runs list --limit`: checked by RunsQuery
        offset=max(offset, 0),
        spell=WEB,
    )


def _runs(src: Sources, q: Params, _path: dict[str, str]) -> Any:
    return runs_query(q).documents(src.db())


def _runs_extra(src: Sources, q: Params, _doc: Any) -> dict[str, Any]:
    from orchestrator.evidence.enums import RunStatus

    query = runs_query(q)
    total = query.count(src.db())
    page = query.offset // query.limit + 1
    pages = max((total + query.limit - 1) // query.limit, 1)
    keep = {k: v for k, v in q.items() if k in ("drill", "env", "status", "period") and v}
    return {
        "query": query,
        "total": total,
        "page": page,
        "pages": pages,
        "filters": keep,
        "statuses": [s.value for s in RunStatus],
        "envs": sorted(src.settings().environments),
    }


def _run(src: Sources, _q: Params, path: dict[str, str]) -> Any:
    from orchestrator.engine.results import run_document
    from orchestrator.errors import NotFoundError

    try:
        return run_document(src.db(), path["run_id"], detail=True)
    except NotFoundError as exc:  # its hint is the CLI's (`drill runs list`)
        raise NotFoundError(exc.message, "the runs page (/runs) lists them") from None


def _run_extra(_src: Sources, _q: Params, doc: Any) -> dict[str, Any]:
    """The timeline chart; the steps in the order they ran and each measurement's value
    and error bound, as `drill runs show` prints them; the scenarios whose met cell says
    "rollback failed" (no objective, steady state held, a rollback failed: no green
    "met", as `runs show` says), with why."""
    from orchestrator.engine.objectives import ROLLBACK_FAILED_HELD
    from orchestrator.evidence.enums import RunStatus
    from orchestrator.views import measurement_shown, steps_as_ran
    from orchestrator.web.charts import timeline_svg

    return {
        "timeline": timeline_svg(doc),
        "rollback_failed_held": {
            sc["id"]: ROLLBACK_FAILED_HELD
            for sc in doc["scenarios"]
            if sc["met"]
            and sc["status"] == RunStatus.ROLLBACK_FAILED.value
            and sc["objectives"]["rto_s"] is None
            and sc["objectives"]["rpo_s"] is None
        },
        "steps_ran": steps_as_ran(doc["steps"]),
        "measured": [(m, *measurement_shown(m)) for m in doc["measurements"]],
    }


def _findings(src: Sources, q: Params, _path: dict[str, str]) -> Any:
    from orchestrator.views import WEB, findings_documents

    return findings_documents(src.db(), q.get("status") or None, q.get("run") or None, WEB)


def _calendar(src: Sources, _q: Params, _path: dict[str, str]) -> Any:
    from orchestrator.views import calendar_document

    return calendar_document(src.settings(), src.db(), src.now())


def _evidence(src: Sources, _q: Params, _path: dict[str, str]) -> Any:
    from orchestrator.views import evidence_document

    return evidence_document(src.settings(), src.db(), src.now())


PAGES = [
    Page("overview", "/", "/api/status", _status, _overview_extra),
    Page("runs", "/runs", "/api/runs", _runs, _runs_extra),
    Page("run", "/runs/{run_id}", "/api/runs/{run_id}", _run, _run_extra, nav=False),
    Page("findings", "/findings", "/api/findings", _findings),
    Page("calendar", "/calendar", "/api/calendar", _calendar),
    Page("evidence", "/evidence", "/api/evidence", _evidence),
]
#: JSON-only documents (the overview's chart data).
API_ONLY = {"/api/trends": _trends}
