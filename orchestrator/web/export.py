"""``GET /evidence/export?period=2026-Q4``: a signed evidence bundle, as a download.

The period is a quarter or ``FROM..TO`` dates, both inclusive, as on ``/runs``.

The same :func:`export_bundle` as `drill evidence export` (every framework), signed by
the same key: drill.yaml's ``signing_key``, else the default key file, which — as for
the CLI — is created on the first export (the server's log says where: keep it secret
and back it up); a ``signing_key`` that is not there is an error (400), never replaced.
The bundle is written to a temporary file that is deleted once sent. Exporting only
reads the evidence store, and verifies what it exports first, as the CLI does.

A quarter's export takes seconds of CPU: it runs in a worker thread, so every other
page and ``/metrics`` answer meanwhile (on the event loop it held up all of them, and a
Prometheus scrape timed out). The thread reads through a connection of its own — the
dashboard's shared one belongs to the event loop — and one export runs at a time (two
at once would only share the same cores); another waits for it.
"""

from __future__ import annotations

import sys
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.responses import FileResponse, Response
from starlette.types import Receive, Scope, Send

from orchestrator.errors import UsageError
from orchestrator.web.metrics import Sources

if TYPE_CHECKING:
    from orchestrator.evidence.export_data import Period
    from orchestrator.evidence.writer import EvidenceDB

_ONE_AT_A_TIME = threading.Lock()
#: no part of a bundle is reused: see :class:`WholeBundle`
_NOT_REUSABLE = {"Accept-Ranges": "none", "Cache-Control": "no-store"}


async def export_response(sources: Sources, period: str, head_only: bool = False) -> Response:
    """The bundle of ``period`` (a quarter, or FROM..TO dates). A HEAD request (a link
    checker walking the evidence page's quarter links) gets the headers a GET would,
    with the period and the store checked, but builds no bundle and creates no key:
    each bundle is seconds of CPU, and the first one would make the signing key."""
    from orchestrator.views import WEB, period_of

    if not period:
        raise UsageError(
            "say which period to export: ?period=2026-Q4",
            "a quarter, or FROM..TO dates, both inclusive (2026-10-01..2026-12-31)",
        )
    when = period_of(period, WEB)  # as /runs?period= (`drill evidence export --period`)
    missing = sources.store_missing()
    if missing is not None:  # as `drill evidence export`: an empty signed bundle misleads
        raise UsageError(f"no evidence database at {missing}: nothing has been recorded there")
    name = f"drill-evidence-{when.label}.zip"
    if head_only:
        head = Response(
            media_type="application/zip",
            headers={**_NOT_REUSABLE, "Content-Disposition": f'attachment; filename="{name}"'},
        )
        del head.headers["content-length"]  # unknown until built, and not 0
        return head
    shared = sources.db()
    out = await run_in_threadpool(_export, sources, when, shared)
    return WholeBundle(
        out,
        headers=_NOT_REUSABLE,
        media_type="application/zip",
        filename=name,
        background=BackgroundTask(_cleanup, out.parent),
    )


class WholeBundle(FileResponse):
    """A bundle made for this request, whole, and for this request only.

    Each export is a new bundle (its own time, signature and head): a ``Range`` request
    — ``wget -c`` or ``curl -C -`` resuming a broken download — got a 206 of the new
    one, appended to the first part of another, a same-size file no check accepts. So
    the range headers are ignored (``Accept-Ranges: none``: the whole bundle, 200), and
    ``Cache-Control: no-store`` keeps a browser or proxy from handing out a stored copy
    as if the store said so now."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        drop = (b"range", b"if-range")
        headers = [(k, v) for k, v in scope.get("headers", []) if k.lower() not in drop]
        await super().__call__({**scope, "headers": headers}, receive, send)


def _export(sources: Sources, when: Period, shared: EvidenceDB) -> Path:
    """The bundle of ``when`` in a new temporary folder (worker thread)."""
    from orchestrator.compliance.mapping import framework_names
    from orchestrator.evidence.export import export_bundle
    from orchestrator.evidence.signing import export_key
    from orchestrator.evidence.writer import EvidenceDB

    with _ONE_AT_A_TIME:  # (and two first exports never both make the default key)
        key, created = export_key(sources.settings())
        if created:
            sys.stderr.write(
                f"drill serve: created the signing key {key} ({created}) for /evidence/export; "
                "keep it secret and back it up: it is who signed your bundles\n"
            )
        db = EvidenceDB(shared.url, shared.witness)  # its own connection, for this thread
        if shared.lock_wait_s is not None:
            db.limit_lock_waits(shared.lock_wait_s)
        tmp = Path(tempfile.mkdtemp(prefix="drill-export-"))
        out = tmp / f"drill-evidence-{when.label}.zip"
        try:
            export_bundle(db, when, framework_names(), None, out, key, "drill serve")
        except BaseException:
            _cleanup(tmp)
            raise
        finally:
            db.close()
        return out


def _cleanup(folder: Path) -> None:
    import shutil

    shutil.rmtree(folder, ignore_errors=True)
