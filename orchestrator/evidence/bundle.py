"""Check an evidence bundle offline (``drill evidence verify FILE.zip``).

A bundle is good when: it is a readable zip with no duplicate names; its manifest is
in canonical form and carries a valid Ed25519 signature by the public key it embeds;
every file the manifest lists is present with that size and sha256; and nothing is
in the zip that the manifest does not list. Pinning the signer
(``--fingerprint`` or ``--public-key``) additionally proves *who* signed it.
"""

from __future__ import annotations

import hashlib
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.errors import EvidenceTampered, UsageError
from orchestrator.evidence.export import BUNDLE_FORMAT, MANIFEST


@dataclass
class BundleReport:
    path: Path
    files: int
    fingerprint: str
    chain_head: dict[str, Any]
    period: str
    runs: int
    pinned: bool


def verify_bundle(path: Path, expect_fingerprint: str | None = None,
                  public_key: Path | None = None) -> BundleReport:
    """Raise :class:`EvidenceTampered` naming the first problem; return a summary."""
    from orchestrator.evidence.signing import fingerprint_of_pem, verify_manifest

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
            if MANIFEST not in names:
                raise EvidenceTampered(f"{path.name} has no {MANIFEST}")
            manifest = verify_manifest(zf.read(MANIFEST))
            if manifest.get("format") != BUNDLE_FORMAT:
                raise EvidenceTampered(f"unknown bundle format {manifest.get('format')!r}")
            listed = {f["path"]: f for f in manifest.get("files", [])}
            for extra in sorted(set(names) - set(listed) - {MANIFEST}):
                raise EvidenceTampered(f"{extra} is in the bundle but not in the manifest")
            for name, entry in sorted(listed.items()):
                if name not in names:
                    raise EvidenceTampered(f"{name} is listed in the manifest but missing")
                content = zf.read(name)
                if len(content) != entry["size"] or (
                        hashlib.sha256(content).hexdigest() != entry["sha256"]):
                    raise EvidenceTampered(f"{name} was altered (sha256 differs from the "
                                           "signed manifest)")
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as exc:
        raise EvidenceTampered(f"{path.name} is not a readable zip: {exc}") from None
    except (KeyError, TypeError) as exc:
        raise EvidenceTampered(f"{MANIFEST} is malformed: {exc}") from None
    except Exception as exc:  # zlib.error and friends: a damaged member
        if isinstance(exc, EvidenceTampered | UsageError):
            raise
        raise EvidenceTampered(f"{path.name} is damaged: {exc.__class__.__name__}: {exc}"
                               ) from None
    fp = manifest["signer"]["fingerprint"]
    if expect_fingerprint and fp != expect_fingerprint:
        raise EvidenceTampered(f"signed by {fp}, not by the expected key {expect_fingerprint}",
                               "the bundle may have been re-signed by someone else")
    return BundleReport(path, len(listed), fp, manifest.get("chain", {}),
                        manifest.get("period", {}).get("label", ""), int(manifest.get("runs", 0)),
                        bool(expect_fingerprint))
