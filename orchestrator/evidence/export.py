"""Build a signed evidence bundle for auditors (``drill evidence export``).

Steps: verify what is exported against the journal (refuse a tampered store) — the
verifier keeps the journal data of the runs in scope, and everything in the bundle is
built from it; the views and the framework mappings; then the files, each handed to the
:class:`~orchestrator.evidence.bundle.BundleWriter` as soon as it is made: the journal
(``journal/events.jsonl``: the period's events as stored, from the head before the
period), one ``journals/RUN_ID.json`` per run, the reports (html, pdf and OSCAL in a
forked child meanwhile), the manifest and the check script; last ``SHA256SUMS`` over
every file, signed (raw Ed25519, ``SHA256SUMS.sig``) with ``signer.pub.pem`` beside it,
so ``sha256sum``, ``openssl`` and ``python3`` check a bundle without drill. Written to a
temporary name first: a failed export never leaves a half bundle behind.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from json.encoder import encode_basestring_ascii as _quote
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator import __version__
from orchestrator.errors import EvidenceTampered, first_line
from orchestrator.evidence.bundle import (
    BUNDLE_FORMAT,
    JOURNAL_PIECE,
    NO_JOURNAL_PIECE,
    PUB,
    SIG,
    SUMS,
    VERIFY_MD,
    BundleWriter,
)
from orchestrator.evidence.export_data import Period
from orchestrator.evidence.gcpause import gc_paused
from orchestrator.evidence.verify import Anchor, Scope
from orchestrator.evidence.writer import schema_changed
from orchestrator.report.model import ReportData, safe_name
from orchestrator.testhooks import crashpoint

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

_HERE = Path(__file__).resolve().parent


@dataclass
class ExportResult:
    path: Path
    runs: int
    findings: int
    files: list[str]
    chain_head: dict[str, Any]
    fingerprint: str
    controls: dict[str, bool]
    #: per control not satisfied, what is missing (``framework:control`` → reasons)
    missing: dict[str, list[str]] = field(default_factory=dict)


def _verified_data(
    conn: Any,
    postgres: bool,
    period: Period | None,
    env: str | None,
    frameworks: list[str],
    who: str,
    run_id: str | None = None,
    fingerprint: str | None = None,
    anchors: Sequence[Anchor] = (),
) -> tuple[ReportData, Scope]:
    """The report data and the journal data behind it, checked by the one verifier."""
    from orchestrator.compliance.mapping import evaluate
    from orchestrator.evidence.export_data import build_views
    from orchestrator.evidence.verify import verify

    scope = _scope(conn, postgres, period, env, run_id)
    report = verify(conn, postgres, anchors, scope=scope)
    if not report.ok and report.first is not None:
        raise EvidenceTampered(
            f"evidence journal broken at {report.first.describe()}"
            + (f" (and {len(report.breaks) - 1} more)" if len(report.breaks) > 1 else ""),
            "nothing was exported; run `drill evidence verify` and investigate the change",
        )
    runs, findings = build_views(scope)
    title = (
        f"DR drill report: run {run_id}"
        if run_id
        else f"DR drill evidence, {period.label if period else ''}" + (f" ({env})" if env else "")
    )
    data = ReportData(
        title=title,
        generated_at=datetime.now(UTC),
        generated_by=who,
        period_label=period.label if period else f"run {run_id}",
        period_start=period.start if period else None,
        period_end=period.end if period else None,
        env=env,
        frameworks=frameworks,
        runs=runs,
        environments=sorted(scope.data.get("environment", []), key=lambda e: e["name"]),
        findings=findings,
        signer_fingerprint=fingerprint,
        chain={
            "head_seq": report.head_seq,
            "head_hash": report.head_hash,
            "verified": True,
            "entries": report.head_seq,
            "records_checked": report.records,
            "scope": "the events from the period's first to the head, and the records "
            "of the exported runs, their environments and findings",
        },
    )
    data = data.model_copy(update={"controls": evaluate(data, frameworks)})
    return data, scope


def _scope(
    conn: Any, postgres: bool, period: Period | None, env: str | None, run_id: str | None
) -> Scope:
    """What to export: the run ``run_id``, or the runs and run-less findings of ``period``
    (and ``env``)."""
    from orchestrator.evidence.export_data import period_ids, run_started

    try:
        if run_id is not None:
            return Scope([run_id], [], run_started(conn, postgres, run_id))
        assert period is not None
        return Scope(*period_ids(conn, postgres, period, env), period.start)
    except Exception as exc:
        if not schema_changed(exc):
            raise
        raise EvidenceTampered(
            f"the evidence tables were changed outside drill ({first_line(exc)}); "
            "nothing was exported",
            "run `drill evidence verify` and investigate the change",
        ) from None


def build_report_data(
    db: Any,
    period: Period | None,
    env: str | None,
    frameworks: list[str],
    who: str,
    run_id: str | None = None,
) -> ReportData:
    """Verify the records in scope, load them, evaluate the controls."""
    with db.snapshot() as conn:  # verify and what is exported read the same state
        return _verified_data(
            conn, db.is_postgres, period, env, frameworks, who, run_id, anchors=_seen(db)
        )[0]


def _seen(db: Any) -> list[Anchor]:
    """The newest event this machine saw of the journal: it must still be there."""
    from orchestrator.evidence.witness import anchor

    seen = anchor(db)
    return [seen] if seen else []


def _mapping_doc(name: str, data: ReportData) -> bytes:
    from orchestrator.compliance.mapping import load_framework
    from orchestrator.report.json_out import RawJSON, dumps_readable

    fw = load_framework(name)
    doc = {
        "framework": fw.model_dump(mode="json"),
        "results": [RawJSON(c.model_dump_json()) for c in data.controls if c.framework == name],
    }  # one control result per line
    return dumps_readable(doc, depth=3, indent=2)


def _line(seq: int, prev: str, digest: str, ev: bytes) -> bytes:
    """One ``{"seq","prev","hash","event"}`` object, ``event`` the stored bytes as a JSON
    string (events are ASCII JSON: the string holds exactly those bytes)."""
    return b'{"seq":%d,"prev":"%s","hash":"%s","event":%s}' % (
        seq,
        prev.encode(),
        digest.encode(),
        _quote(ev.decode()).encode(),
    )


def _summary(data: ReportData, who: str) -> str:
    """VERIFY.md's first paragraph: what the bundle covers, in words."""
    import textwrap
    from collections import Counter

    names = sorted({r.target for r in data.runs})
    dry = sum(r.dry_run for r in data.runs)
    skipped = sum(sc.skipped is not None for r in data.runs for sc in r.scenarios)
    statuses = Counter(r.status for r in data.runs)  # "5 run(s)" said nothing of how they ended
    ended = [", ".join(f"{n} {s}" for s, n in sorted(statuses.items(), key=lambda x: -x[1]))]
    ended += [f"{dry} of them dry run(s): no fault injected"] if dry else []
    ended += [f"{skipped} scenario(s) skipped in isolated mode: not run"] if skipped else []
    text = (
        f"Exported {data.generated_at:%Y-%m-%d %H:%M} UTC by {who} with drill {__version__}"
        + (f", covering {data.period_shown}" if data.period_start else "")
        + f": {len(data.runs)} run(s)"
        + (f" of {', '.join(names[:8])}" + (", …" if len(names) > 8 else "") if names else "")
        + (f" on {', '.join(e.name for e in data.environments)}" if data.environments else "")
        + (f" ({'; '.join(ended)})" if data.runs else "")
        + f", {len(data.findings)} finding(s), mapped to the controls of "
        + ", ".join(data.frameworks)
        + "."
    )
    return textwrap.fill(text, 88)


def _head_before_in_words(head: dict[str, Any]) -> str:
    """VERIFY.md's "head before the period": ``#0 000…000`` told an auditor nothing."""
    if head["seq"] == 0:
        return "none: the journal begins with this period, so that `prev` is 64 zeros"
    return f"#{head['seq']} {head['hash']}"


def _run_journals(data: ReportData, scope: Scope, lines: list[bytes]) -> list[tuple[str, bytes]]:
    """Per run its artifacts and ``journals/RUN_ID.json``: its events (``lines``, those of
    ``journal/events.jsonl``) and Chaos Toolkit's journals as they were stored."""
    files = []
    for run in data.runs:
        chaos = []
        for art in run.artifacts:
            content = scope.contents[art.id]
            if hashlib.sha256(content).hexdigest() != art.sha256:
                raise EvidenceTampered(
                    f"artifact {art.id} ({art.name}) of run {run.id} "
                    "does not match its recorded sha256"
                )
            files.append((art.bundle_path, content))
            if art.media_type == "application/json" and _is_json(content):
                about = json.dumps({"artifact": art.id, "name": art.name, "sha256": art.sha256})
                chaos.append(b'%s,"journal":%s}' % (about[:-1].encode(), content.strip()))
        head = json.dumps({"run_id": run.id, "target": run.target, "status": run.status})
        events = b",\n".join(lines[i] for i in scope.by_run.get(run.id, []))
        doc = b'%s,\n"events":[\n%s\n],\n"chaos_journals":[%s]}\n' % (
            head[:-1].encode(),
            events,
            b",\n".join(chaos),
        )
        files.append((f"journals/{safe_name(run.id)}.json", doc))
    return files


def _is_json(content: bytes) -> bool:
    import orjson

    try:
        orjson.loads(content)
    except orjson.JSONDecodeError:
        return False
    return True


def _reports(
    data: ReportData, formats: tuple[str, ...], frameworks: list[str]
) -> Iterator[tuple[str, bytes]]:
    """The rendered ``formats`` and the control mapping of each framework, one by one."""
    from orchestrator.report.base import renderer

    for name in formats:
        yield renderer(name).filename, renderer(name).render(data)
    for fw in frameworks:
        yield f"controls/{fw}.json", _mapping_doc(fw, data)


def _about(
    data: ReportData,
    scope: Scope,
    period: Period,
    env: str | None,
    who: str,
    key: Ed25519PrivateKey,
    written: list[tuple[str, str]],
) -> list[tuple[str, bytes]]:
    """``manifest.json``, the check script, ``VERIFY.md`` and the signer's public key.
    The manifest lists every file of the bundle with its sha256 (``written``: those
    added before it) but itself, ``SHA256SUMS`` and its signature, which it names."""
    from orchestrator.evidence.signing import public_pem

    fp = data.signer_fingerprint
    first = scope.events[0] if scope.events else None
    head_before = {"seq": first[0] - 1, "hash": first[1]} if first else None
    last = {"seq": scope.events[-1][0], "hash": scope.events[-1][2]} if first else None
    head = {"seq": data.chain["head_seq"], "hash": data.chain["head_hash"]}
    manifest: dict[str, Any] = {
        "format": BUNDLE_FORMAT,
        "drill_version": __version__,
        "generated_at": data.generated_at.isoformat(),
        "generated_by": who,
        "period": {
            "label": period.label,
            "start": period.start.isoformat(),
            "end_exclusive": period.end.isoformat(),
        },
        "env": env,
        "frameworks": data.frameworks,
        "runs": len(data.runs),
        "environments": [e.name for e in data.environments],  # records: runs.json
        "findings": len(data.findings),
        "chain": data.chain,
        "journal": {"head_before": head_before, "last": last, "head": head},
        "signer": {"algorithm": "Ed25519", "fingerprint": fp},
    }
    piece = (
        JOURNAL_PIECE.format(
            head_before=_head_before_in_words(head_before),
            last=f"#{last['seq']}",
            head_seq=head["seq"],
            head_hash=head["hash"],
        )
        if head_before is not None and last is not None
        else NO_JOURNAL_PIECE.format(head_seq=head["seq"], head_hash=head["hash"])
    )
    verify_md = VERIFY_MD.format(
        scope=period.label + (f", environment {env}" if env else ""),
        summary=_summary(data, who),
        fingerprint=fp,
        journal_piece=piece,
    )
    about = [
        ("journal/verify_chain.py", (_HERE / "verify_chain.py").read_bytes()),
        ("VERIFY.md", verify_md.encode()),
        (PUB, public_pem(key.public_key()).encode()),
    ]
    listed = written + [(name, hashlib.sha256(content).hexdigest()) for name, content in about]
    manifest["files"] = [{"path": name, "sha256": digest} for name, digest in sorted(listed)]
    manifest["signature"] = {
        "file": SIG,
        "signs": SUMS,
        "algorithm": "Ed25519 (raw 64-byte signature)",
        "public_key": PUB,
        "fingerprint": fp,
        "covers": f"every file of the bundle: {SUMS} lists all but itself and {SIG}",
    }
    return [("manifest.json", json.dumps(manifest, indent=2, sort_keys=True).encode()), *about]


@gc_paused()
def export_bundle(
    db: Any,
    period: Period | None,
    frameworks: list[str],
    env: str | None,
    out: Path,
    key_path: Path,
    who: str,
    run_id: str | None = None,
) -> ExportResult:
    """The signed bundle of ``period`` (or of the run ``run_id``, period ``None``) at
    ``out``. A quarter makes ~1,000,000 objects without cycles among them: the cyclic
    collector is paused, and they are freed on return, before it is back on (else its
    first pass would walk them all)."""
    from orchestrator.evidence.forked import abandon, in_child
    from orchestrator.evidence.signing import fingerprint, load_private_key
    from orchestrator.outpaths import write_output

    key = load_private_key(key_path)  # fail before any work if the key is unusable
    fp = fingerprint(key.public_key())
    with db.snapshot() as conn:  # verify and what is exported read the same state
        data, scope = _verified_data(
            conn, db.is_postgres, period, env, frameworks, who, run_id, fp, _seen(db)
        )
    if period is None:  # one run: the bundle's period is the run's span
        (run,) = data.runs
        end = (run.ended_at or data.generated_at) + timedelta(microseconds=1)
        period = Period(f"run {run.id}", run.started_at, end)
    names: list[str] = []

    def write(tmp: Path) -> None:
        with BundleWriter(tmp) as zf:  # its thread starts with the first file: after the fork
            # html, pdf and OSCAL in a second process for a large period (a quarter: ~1 s
            # of CPU on each side), the rest here meanwhile; the same bytes either way
            child = in_child(
                lambda: list(_reports(data, ("html", "pdf", "oscal"), [])),
                len(data.runs) >= PARALLEL_MIN_RUNS,
            )
            try:
                lines = [_line(*e) for e in scope.events]  # made once, used twice
                zf.add([("journal/events.jsonl", b"\n".join([*lines, b""]))])
                crashpoint("export:journal")  # a bundle half written, beside --out
                for entry in _reports(data, ("json", "csv"), frameworks):
                    zf.add([entry])  # deflated by the thread while the next is made
                zf.add(_run_journals(data, scope, lines))
            except BaseException:
                abandon(child)  # reaped; the error here is the one to tell
                raise
            zf.add(child())
            zf.add(_about(data, scope, period, env, who, key, zf.digests()))
            names.extend(zf.sign(key))

    write_output(out, "--out", write)
    return ExportResult(
        out,
        len(data.runs),
        len(data.findings),
        sorted(names),
        {"seq": data.chain["head_seq"], "hash": data.chain["head_hash"]},
        fp,
        {f"{c.framework}:{c.control_id}": c.satisfied for c in data.controls},
        {f"{c.framework}:{c.control_id}": c.missing for c in data.controls if c.missing},
    )


#: periods with at least this many runs render half the reports in a forked process
PARALLEL_MIN_RUNS = 500
