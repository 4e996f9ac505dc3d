"""``GET /evidence/export?period=2026-Q4``: a signed evidence bundle, as a download.

The same :func:`export_bundle` as `drill evidence export` (every framework, the key
from drill.yaml's ``signing_key`` or the default key file), written to a temporary
file that is deleted once sent. Exporting only reads the store.
"""

from __future__ import annotations

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
    from orchestrator.evidence.signing import signing_key_path

    if not period:
        raise UsageError("say which period to export, e.g. ?period=2026-Q4")
    when = parse_period(period)
    key = signing_key_path(sources.settings())
    if not key.exists():
        raise UsageError(
            f"no signing key at {key}", "create one with `drill evidence keygen` on the server"
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
