"""``GET /evidence/export?period=2026-Q4``: a signed evidence bundle, as a download.

The same :func:`export_bundle` as `drill evidence export` (every framework), signed by
the same key: drill.yaml's ``signing_key``, else the default key file, which — as for
the CLI — is created on the first export (the server's log says where: keep it secret
and back it up); a ``signing_key`` that is not there is an error (400), never replaced.
The bundle is written to a temporary file that is deleted once sent. Exporting only
reads the evidence store.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from starlette.background import BackgroundTask
from starlette.responses import FileResponse, Response

from orchestrator.errors import UsageError
from orchestrator.web.metrics import Sources


def export_response(sources: Sources, period: str) -> Response:
    from orchestrator.compliance.mapping import framework_names
    from orchestrator.evidence.export import export_bundle
    from orchestrator.evidence.export_data import parse_period
    from orchestrator.evidence.signing import export_key

    if not period:
        raise UsageError("say which period to export, e.g. ?period=2026-Q4")
    when = parse_period(period)
    missing = sources.store_missing()
    if missing is not None:  # as `drill evidence export`: an empty signed bundle misleads
        raise UsageError(f"no evidence database at {missing}: nothing has been recorded there")
    key, created = export_key(sources.settings())
    if created:
        sys.stderr.write(
            f"drill serve: created the signing key {key} ({created}) for /evidence/export; "
            "keep it secret and back it up: it is who signed your bundles\n"
        )
    tmp = Path(tempfile.mkdtemp(prefix="drill-export-"))
    out = tmp / f"drill-evidence-{when.label}.zip"
    try:
        export_bundle(sources.db(), when, framework_names(), None, out, key, "drill serve")
    except BaseException:
        _cleanup(tmp)
        raise
    return FileResponse(
        out,
        media_type="application/zip",
        filename=out.name,
        background=BackgroundTask(_cleanup, tmp),
    )


def _cleanup(folder: Path) -> None:
    import shutil

    shutil.rmtree(folder, ignore_errors=True)
