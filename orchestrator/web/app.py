"""The Starlette application behind `drill serve`.

Read-only by construction: only GET routes, and every page is built by a read
function (the status page files no finding, unlike `drill status`). Handlers are
``async`` and call the blocking builders directly: one request at a time on the event
loop's thread, which is what a single SQLite connection wants, and plenty for a
team's dashboard. The evidence export alone, seconds of work, runs in a worker thread
with a connection of its own (:mod:`.export`), so the pages and /metrics answer
meanwhile.

With a token (``DRILL_SERVE_TOKEN``), every request — pages, API, metrics, static
files — needs ``Authorization: Bearer TOKEN``. Errors become pages (or JSON under
``/api/``) with a status code and a one-line reason; never a traceback. There are no
redirects: ``/runs/`` is an unknown path like any other, 404.
"""

from __future__ import annotations

import hmac
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Receive, Scope, Send

from orchestrator.errors import DrillError, NotFoundError, StoreUnavailable, UsageError
from orchestrator.secrets import redact, redact_text
from orchestrator.web import metrics
from orchestrator.web.metrics import Sources
from orchestrator.web.pages import API_ONLY, PAGES, Page

HERE = Path(__file__).parent


class BearerAuth:
    """Refuse any request without ``Authorization: Bearer TOKEN`` (constant-time check)."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app, self.token = app, token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            given = dict(scope["headers"]).get(b"authorization", b"")
            scheme, _, value = given.partition(b" ")
            if scheme.lower() != b"bearer" or not hmac.compare_digest(value.strip(), self.token):
                # (worded so that the redaction of /api/ documents leaves it whole: it
                # made "(Authorization: Bearer TOKEN)" into "(Authorization: Bearer ***")
                message = (
                    "a bearer token is required: send it in the Authorization header, scheme Bearer"
                )
                headers = {"WWW-Authenticate": "Bearer"}
                response = (
                    _json_error(401, message, None, headers)
                    if str(scope.get("path", "")).startswith("/api/")
                    else Response(f"drill: {message}\n", 401, headers, "text/plain")
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class CatchBugs:
    """Turn an unexpected exception into drill's error page, here, so that it stops here.

    Starlette's own last-resort handler answers too but then re-raises, and the server
    logs a traceback for every such request; drill's log gets one line (``on_bug``)."""

    def __init__(self, app: ASGIApp, on_bug: Any) -> None:
        self.app, self.on_bug = app, on_bug

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched(message: Any) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except Exception as exc:
            if started:  # too late for a page: the client sees a cut response
                raise
            response = await self.on_bug(Request(scope, receive), exc)
            await response(scope, receive, send)


def _json(doc: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(redact(doc), indent=2, default=str) + "\n"
    return Response(body, status, headers, media_type="application/json")


def _json_error(
    status: int, message: str, hint: str | None, headers: dict[str, str] | None = None
) -> Response:
    """The JSON twin of an error page: the one shape every /api/ error has."""
    return _json({"error": message, "hint": hint, "status": status}, status, headers)


def create_app(sources: Sources, token: str | None = None) -> ASGIApp:
    """The dashboard over ``sources``; with ``token``, wrapped in :class:`BearerAuth`."""
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    nav = [(p.name, p.path) for p in PAGES if p.nav]

    def html(request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
        store: dict[str, Any] = {}
        try:  # a notice when there is no evidence database there (yet, or any more)
            store = {"no_store": sources.store_missing(), "store_gone": sources.store_gone()}
            # and one per run whose drill died mid-run: it reads 'running' for good, while
            # its rollbacks may be pending (`drill runs list` says so on stderr)
            store["orphans"] = [] if status >= 500 else sources.orphans()
        except Exception:  # never in the way of a page, an error page least of all
            pass
        return templates.TemplateResponse(
            request,
            f"{name}.html",
            {"nav": nav, "page": name, **store, **context},
            status_code=status,
        )

    def page_endpoint(page: Page, api: bool) -> Any:
        async def endpoint(request: Request) -> Response:
            q = dict(request.query_params)
            doc = page.document(sources, q, dict(request.path_params))
            if api:
                return _json(doc)
            shown = redact(doc)  # what a page shows, its extras too (steps, measurements)
            extra = page.extra(sources, q, shown) if page.extra else {}
            return html(request, page.name, {"doc": shown, **extra})

        return endpoint

    def api_endpoint(build: Any) -> Any:
        async def endpoint(request: Request) -> Response:
            return _json(build(sources, dict(request.query_params), dict(request.path_params)))

        return endpoint

    async def metrics_endpoint(_request: Request) -> Response:
        return Response(metrics.render(sources), media_type=metrics.CONTENT_TYPE)

    async def export_endpoint(request: Request) -> Response:
        from orchestrator.web.export import export_response

        period = request.query_params.get("period") or ""
        return await export_response(sources, period, head_only=request.method == "HEAD")

    def error(
        request: Request,
        status: int,
        message: str,
        hint: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        if request.url.path.startswith("/api/"):
            response = _json_error(status, message, hint)
        else:
            context = {"status": status, "message": message, "hint": hint}
            response = html(request, "error", context, status)
        response.headers.update(headers or {})
        return response

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        code = exc.status_code
        message = "no such page" if code == 404 else f"{code}: {exc.detail}"
        return error(request, code, message, headers=exc.headers)  # 405 says Allow

    async def on_drill_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, DrillError)
        code = (
            404
            if isinstance(exc, NotFoundError)
            else 503
            if isinstance(exc, StoreUnavailable)
            else 400
            if isinstance(exc, UsageError)
            else 500
        )
        message = redact_text(exc.message)
        if code >= 500:  # the server's fault, not the request's: its log says so too
            sys.stderr.write(f"drill serve: {request.url.path}: {message}\n")
        return error(request, code, message, redact_text(exc.hint) if exc.hint else None)

    async def on_bug(request: Request, exc: Exception) -> Response:
        explained = sources.explain(exc)
        if explained is not None:  # (an export reads on a connection of its own)
            return await on_drill_error(request, explained)
        sys.stderr.write(
            f"drill serve: internal error on {request.url.path}: "
            f"{redact_text(f'{exc.__class__.__name__}: {exc}')}\n"
        )
        return error(request, 500, "internal error (see the server's log)")

    routes: list[Any] = []
    for page in PAGES:
        routes.append(Route(page.path, page_endpoint(page, api=False), name=page.name))
        routes.append(Route(page.api, page_endpoint(page, api=True), name=f"api-{page.name}"))
    routes += [Route(path, api_endpoint(build)) for path, build in API_ONLY.items()]
    routes += [
        Route("/metrics", metrics_endpoint, name="metrics"),
        Route("/evidence/export", export_endpoint, name="export"),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(CatchBugs, on_bug=on_bug)],
        exception_handlers={HTTPException: on_http, DrillError: on_drill_error},
    )
    # Unknown paths are 404 (DESIGN 15), a trailing-slash variant too: Starlette's
    # default 307 to the other spelling builds its Location from the request's Host
    # header, an open redirect on a dashboard reached through a proxy.
    app.router.redirect_slashes = False
    return BearerAuth(app, token) if token else app
