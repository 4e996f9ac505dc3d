"""Ed25519 keys and manifest signatures for evidence exports.

The private key lives in a PEM file the operator controls (``signing_key:`` in
drill.yaml or ``--key``); it never enters the evidence database or a bundle. A
bundle carries the public key and its fingerprint, so anyone can check it — and an
auditor who pins the fingerprint (``drill evidence verify FILE --fingerprint …``)
also knows *who* signed it, not merely that somebody did.

What is signed is the manifest's exact bytes minus the signature itself: the
manifest is written in one canonical form (sorted keys, two-space indent), and
verification refuses any other form, so no byte of it can change unnoticed.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.errors import EvidenceTampered, UsageError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

ALGORITHM = "Ed25519"


def canonical_json(doc: Any) -> bytes:
    """The one byte form manifests are written and signed in."""
    return (json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def generate_key(path: Path, force: bool = False) -> tuple[Path, str]:
    """Write a new private key (mode 0600) and ``PATH.pub``; return (pub path, fingerprint)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from orchestrator.outpaths import check_output, write_output

    pub = path.with_name(path.name + ".pub")
    check_output(path, "--out")  # a link or a device: refused, --force or not
    check_output(pub, "public key")  # both checked before either is written
    if path.exists() and not force:
        raise UsageError(f"signing key {path} already exists",
                         "use --force to replace it (bundles signed with it stay verifiable "
                         "with their embedded public key, but fingerprints change)")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    write_output(path, "--out", lambda tmp: tmp.write_bytes(pem), 0o600)
    public = public_pem(key.public_key()).encode()
    write_output(pub, "public key", lambda tmp: tmp.write_bytes(public))
    return pub, fingerprint(key.public_key())


def load_private_key(path: Path) -> Ed25519PrivateKey:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError:
        raise UsageError(f"signing key not found: {path}",
                         f"create one with `drill evidence keygen --out {path}`") from None
    except (ValueError, TypeError) as exc:
        raise UsageError(f"{path} is not an unencrypted PEM private key: {exc}",
                         "create one with `drill evidence keygen`") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise UsageError(f"{path} is not an Ed25519 key", "create one with `drill evidence keygen`")
    return key


def public_pem(pub: Ed25519PublicKey) -> str:
    from cryptography.hazmat.primitives import serialization

    return pub.public_bytes(serialization.Encoding.PEM,
                            serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def fingerprint(pub: Ed25519PublicKey) -> str:
    """``SHA256:<hex>`` of the raw 32-byte public key."""
    from cryptography.hazmat.primitives import serialization

    raw = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "SHA256:" + hashlib.sha256(raw).hexdigest()


def fingerprint_of_pem(pem: str) -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        pub = serialization.load_pem_public_key(pem.encode())
    except ValueError as exc:
        raise EvidenceTampered(f"the public key is unreadable: {exc}") from None
    if not isinstance(pub, Ed25519PublicKey):
        raise EvidenceTampered("the public key is not an Ed25519 key")
    return fingerprint(pub)


def sign_manifest(manifest: dict[str, Any], key: Ed25519PrivateKey) -> bytes:
    """Add ``signer`` and ``signature``; return the manifest's canonical bytes."""
    doc = {k: v for k, v in manifest.items() if k != "signature"}
    pub = key.public_key()
    doc["signer"] = {"algorithm": ALGORITHM, "public_key": public_pem(pub),
                     "fingerprint": fingerprint(pub)}
    doc["signature"] = base64.b64encode(key.sign(canonical_json(doc))).decode()
    return canonical_json(doc)


def verify_manifest(raw: bytes) -> dict[str, Any]:
    """Parse and check a manifest's form and signature; return it. Raises on any doubt."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        doc = json.loads(raw.decode())
    except (UnicodeDecodeError, ValueError) as exc:
        raise EvidenceTampered(f"manifest.json is not valid JSON: {exc}") from None
    if not isinstance(doc, dict) or canonical_json(doc) != raw:
        raise EvidenceTampered("manifest.json was altered (not in its canonical form)")
    signer, signature = doc.get("signer"), doc.get("signature")
    if not isinstance(signer, dict) or not isinstance(signature, str):
        raise EvidenceTampered("manifest.json has no signer or signature")
    if signer.get("algorithm") != ALGORITHM:
        raise EvidenceTampered(f"unsupported signature algorithm {signer.get('algorithm')!r}")
    pem = str(signer.get("public_key", ""))
    if fingerprint_of_pem(pem) != signer.get("fingerprint"):
        raise EvidenceTampered("the signer's fingerprint does not match its public key")
    pub = serialization.load_pem_public_key(pem.encode())
    assert isinstance(pub, Ed25519PublicKey)
    body = {k: v for k, v in doc.items() if k != "signature"}
    try:
        pub.verify(base64.b64decode(signature, validate=True), canonical_json(body))
    except (InvalidSignature, ValueError):
        raise EvidenceTampered("the manifest signature is invalid") from None
    return doc
