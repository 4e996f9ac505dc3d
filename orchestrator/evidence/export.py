"""Build a signed evidence bundle for auditors (``drill evidence export``).

Steps: verify what is exported against the hash chain (refuse a tampered store),
load the period's runs, evaluate the framework mappings, render every format,
add the Chaos Toolkit journals and the control mappings, then write
``manifest.json`` (file hashes, chain head, Ed25519 signature) and the zip —
to a temporary name first, so a failed export never leaves a half bundle behind.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from orchestrator import __version__
from orchestrator.errors import EvidenceTampered
from orchestrator.evidence.export_data import Period, artifact_content
from orchestrator.evidence.forked import in_child
from orchestrator.report.model import ReportData

BUNDLE_FORMAT = "drill-evidence-bundle/1"
MANIFEST = "manifest.json"
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # zip entry times: the bundle's bytes depend on content


@dataclass
class ExportResult:
    path: Path
    runs: int
    findings: int
    files: list[str]
    chain_head: dict[str, Any]
    fingerprint: str
    controls: dict[str, bool]


def build_report_data(conn: Any, period: Period | None, env: str | None,
                      frameworks: list[str], who: str, run_id: str | None = None,
                      fingerprint: str | None = None) -> ReportData:
    """Verify the records in scope, load them, evaluate the controls."""
    from orchestrator.evidence.gcpause import gc_paused

    with gc_paused():
        return _verified_data(conn, period, env, frameworks, who, run_id, fingerprint)[0]


def _verified_data(conn: Any, period: Period | None, env: str | None, frameworks: list[str],
                   who: str, run_id: str | None = None, fingerprint: str | None = None
                   ) -> tuple[ReportData, dict[int, bytes]]:
    """The report data and the artifact contents, from rows checked against the chain."""
    from orchestrator.compliance.mapping import evaluate, load_framework
    from orchestrator.evidence.chain import head
    from orchestrator.evidence.chain_verify import start_verify_runs
    from orchestrator.evidence.export_data import Loaded, build_views, period_ids, run_exists

    if run_id is not None:
        run_exists(conn, run_id)
        run_ids, loose = [run_id], list[int]()
    else:
        assert period is not None
        run_ids, loose = period_ids(conn, period, env)
    kept: dict[str, Any] = {}
    # the rows are read now; for a large period the chain check runs in a forked worker
    # while the views are built from the same rows here — used only once it passed
    pending = start_verify_runs(conn, run_ids, loose, keep=kept,
                                parallel=len(run_ids) >= PARALLEL_MIN_RUNS)
    loaded: Loaded | None = None
    try:
        try:
            loaded = build_views(conn.dialect, kept, run_ids)
        except Exception:  # tampered rows may not even make views: the check says why
            loaded = None
        for name in frameworks:
            load_framework(name)  # (cached for evaluate below)
    finally:
        report = pending()  # always reaped
    if not report.ok and report.first is not None:
        raise EvidenceTampered(
            f"evidence chain broken at {report.first.describe()}"
            + (f" (and {len(report.breaks) - 1} more)" if len(report.breaks) > 1 else ""),
            "nothing was exported; run `drill evidence verify` and investigate the change")
    if loaded is None:
        loaded = build_views(conn.dialect, kept, run_ids)  # raises its error again
    runs, findings = loaded.runs, loaded.findings
    seq, digest = head(conn)
    title = (f"DR drill report: run {run_id}" if run_id else
             f"DR drill evidence, {period.label if period else ''}"
             + (f" ({env})" if env else ""))
    data = ReportData(
        title=title, generated_at=datetime.now(UTC), generated_by=who,
        period_label=period.label if period else f"run {run_id}",
        period_start=period.start if period else None,
        period_end=period.end if period else None, env=env, frameworks=frameworks,
        runs=runs, findings=findings, signer_fingerprint=fingerprint,
        chain={"head_seq": seq, "head_hash": digest, "verified": True,
               "entries": seq, "records_checked": report.records,
               "scope": "records of the exported runs and findings"})
    data = data.model_copy(update={"controls": evaluate(data, frameworks)})
    return data, loaded.contents


def _mapping_doc(name: str, data: ReportData) -> bytes:
    from orchestrator.compliance.mapping import load_framework
    from orchestrator.report.json_out import RawJSON, dumps_readable

    fw = load_framework(name)
    doc = {"framework": fw.model_dump(mode="json"),
           "results": [RawJSON(c.model_dump_json()) for c in data.controls
                       if c.framework == name]}  # one control result per line
    return dumps_readable(doc, depth=3, indent=2)


def export_bundle(store: Any, period: Period, frameworks: list[str], env: str | None,
                  out: Path, key_path: Path, who: str) -> ExportResult:
    from orchestrator.evidence.gcpause import gc_paused

    with gc_paused():  # ~75,000 short-lived objects per quarter, no cycles among them
        return _export_bundle(store, period, frameworks, env, out, key_path, who)


def _export_bundle(store: Any, period: Period, frameworks: list[str], env: str | None,
                   out: Path, key_path: Path, who: str) -> ExportResult:
    import hashlib

    from orchestrator.evidence.signing import fingerprint, load_private_key, sign_manifest
    from orchestrator.report.base import renderer

    key = load_private_key(key_path)  # fail before any work if the key is unusable
    fp = fingerprint(key.public_key())
    files: dict[str, bytes] = {}
    with _snapshot(store) as conn:
        data, contents = _verified_data(conn, period, env, frameworks, who, fingerprint=fp)
        for run in data.runs:
            for art in run.artifacts:
                content = contents.get(art.id)
                if content is None:
                    content = artifact_content(conn, art.id)
                if hashlib.sha256(content).hexdigest() != art.sha256:
                    raise EvidenceTampered(f"artifact {art.id} ({art.name}) of run {run.id} "
                                           "does not match its recorded sha256")
                files[art.bundle_path] = content

    def render(names: tuple[str, ...], mappings: list[str]) -> dict[str, bytes]:
        out = {renderer(n).filename: renderer(n).render(data) for n in names}
        out.update({f"controls/{fw}.json": _mapping_doc(fw, data) for fw in mappings})
        return out

    # the human-readable reports (reportlab, Jinja) in a second process for a large
    # period, the machine-readable files here meanwhile; the same bytes either way
    reports = in_child(lambda: render(("html", "pdf"), []),
                        len(data.runs) >= PARALLEL_MIN_RUNS)
    try:
        files.update(render(("json", "csv", "oscal"), frameworks))
    finally:
        files.update(reports())  # always reaped, also when rendering here failed
    manifest = {
        "format": BUNDLE_FORMAT, "drill_version": __version__,
        "generated_at": data.generated_at.isoformat(), "generated_by": who,
        "period": {"label": period.label, "start": period.start.isoformat(),
                   "end_exclusive": period.end.isoformat()},
        "env": env, "frameworks": frameworks,
        "runs": len(data.runs), "findings": len(data.findings),
        "chain": data.chain,
        "files": [{"path": p, "sha256": hashlib.sha256(b).hexdigest(), "size": len(b)}
                  for p, b in sorted(files.items())],
    }
    raw = sign_manifest(manifest, key)
    from orchestrator.outpaths import write_output

    def write_zip(tmp: Path) -> None:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
            zf.writestr(zipfile.ZipInfo(MANIFEST, _FIXED_TIME), raw)
            for path, content in sorted(files.items()):
                info = zipfile.ZipInfo(path, _FIXED_TIME)
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, content, compresslevel=1)  # speed over a few % of size

    write_output(out, "--out", write_zip)  # a regular file only, never half written
    return ExportResult(out, len(data.runs), len(data.findings), [MANIFEST, *sorted(files)],
                        {"seq": data.chain["head_seq"], "hash": data.chain["head_hash"]}, fp,
                        {f"{c.framework}:{c.control_id}": c.satisfied for c in data.controls})


#: periods with at least this many runs render report.html/.pdf in a forked process
PARALLEL_MIN_RUNS = 500


class _snapshot:
    """One connection for verify + load; REPEATABLE READ on PostgreSQL so both see the
    same snapshot (SQLite: records committed meanwhile are chained, just not exported)."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def __enter__(self) -> Any:
        self.conn = self.store.engine.connect()
        if self.store.is_postgres:
            self.conn = self.conn.execution_options(isolation_level="REPEATABLE READ")
        self.conn.begin()
        return self.conn

    def __exit__(self, *exc: object) -> None:
        self.conn.rollback()
        self.conn.close()
