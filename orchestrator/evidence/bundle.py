"""Check an evidence bundle offline (``drill evidence verify FILE.zip``).

The same three checks an auditor runs by hand (VERIFY.md in every bundle): ``SHA256SUMS``
signed by ``signer.pub.pem`` (raw Ed25519), every file present with the sha256 it lists
and nothing else in the zip, and the journal chain recomputed by the bundle's own
``journal/verify_chain.py`` code. Pinning the signer (``--fingerprint`` or
``--public-key``) additionally proves *who* signed it.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.errors import EvidenceTampered, UsageError
from orchestrator.evidence import verify_chain
from orchestrator.evidence.export import PUB, SIG, SUMS


@dataclass
class BundleReport:
    path: Path
    files: int
    fingerprint: str
    chain_head: dict[str, Any]
    period: str
    runs: int
    pinned: bool


def _sums(raw: bytes) -> dict[str, str]:
    listed: dict[str, str] = {}
    for n, line in enumerate(raw.decode().splitlines(), 1):
        digest, sep, name = line.partition("  ")
        if not sep or len(digest) != 64 or name in listed:
            raise EvidenceTampered(f"{SUMS} line {n} is not `SHA256  FILE`")
        listed[name] = digest
    return listed


def verify_bundle(path: Path, expect_fingerprint: str | None = None,
                  public_key: Path | None = None) -> BundleReport:
    """Raise :class:`EvidenceTampered` naming the first problem; return a summary."""
    from orchestrator.evidence.signing import fingerprint_of_pem, verify_signature

    if not path.is_file():
        raise UsageError(f"bundle not found: {path}")
    if public_key is not None:
        try:
            expect_fingerprint = fingerprint_of_pem(public_key.read_text())
        except OSError as exc:
            raise UsageError(f"cannot read public key {public_key}: {exc}") from None
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            dupes = [n for n, c in Counter(names).items() if c > 1]
            if dupes:
                raise EvidenceTampered(f"{path.name}: {dupes[0]} appears more than once")
            for needed in (SUMS, SIG, PUB):
                if needed not in names:
                    raise EvidenceTampered(f"{path.name} has no {needed}")
            sums = zf.read(SUMS)
            pem = zf.read(PUB).decode()
            fp = verify_signature(pem, sums, zf.read(SIG))
            listed = _sums(sums)
            for extra in sorted(set(names) - set(listed) - {SUMS, SIG}):
                raise EvidenceTampered(f"{extra} is in the bundle but not in {SUMS}")
            files: dict[str, bytes] = {}
            for name, digest in sorted(listed.items()):
                if name not in names:
                    raise EvidenceTampered(f"{name} is listed in {SUMS} but missing")
                files[name] = zf.read(name)
                if hashlib.sha256(files[name]).hexdigest() != digest:
                    raise EvidenceTampered(f"{name} was altered (its sha256 differs from "
                                           f"the signed {SUMS})")
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as exc:
        raise EvidenceTampered(f"{path.name} is not a readable zip: {exc}") from None
    except (UnicodeError, ValueError) as exc:
        raise EvidenceTampered(f"{path.name} is damaged: {exc}") from None
    except Exception as exc:  # zlib.error and friends: a damaged member
        if isinstance(exc, EvidenceTampered | UsageError):
            raise
        raise EvidenceTampered(f"{path.name} is damaged: {exc.__class__.__name__}: {exc}"
                               ) from None
    try:
        seen, _ends = verify_chain.check_chain(
            files.get("journal/events.jsonl", b"").decode().splitlines())
        for name, content in files.items():
            if name.startswith("journals/") and name.count("/") == 1 and name.endswith(".json"):
                verify_chain.check_run(name, json.loads(content), seen)
        manifest = json.loads(files.get("manifest.json", b"{}"))
    except (UnicodeError, ValueError) as exc:
        raise EvidenceTampered(str(exc)) from None
    if expect_fingerprint and fp != expect_fingerprint:
        raise EvidenceTampered(f"signed by {fp}, not by the expected key {expect_fingerprint}",
                               "the bundle may have been re-signed by someone else")
    return BundleReport(path, len(listed), fp, manifest.get("chain", {}),
                        manifest.get("period", {}).get("label", ""),
                        int(manifest.get("runs", 0)), bool(expect_fingerprint))
