"""Ed25519 keys and bundle signatures for evidence exports.

The private key lives in a PEM file the operator controls (``signing_key:`` in
drill.yaml, ``--key``, or the default under ``.drill/keys/``, created on first export);
it never enters the evidence database or a bundle. A bundle carries ``signer.pub.pem``
and a raw Ed25519 signature of its ``SHA256SUMS`` — what ``openssl pkeyutl -verify
-rawin`` checks — so anyone can check it; an auditor who pins the fingerprint
(``drill evidence verify FILE --fingerprint …``) also knows *who* signed it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

from orchestrator.errors import EvidenceTampered, UsageError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

    from orchestrator.config import Settings

DEFAULT_KEY = "keys/evidence-ed25519.pem"  # under the state dir


def signing_key_path(settings: Settings, explicit: str | None = None) -> Path:
    """Where the signing key is: ``--key``/``--out`` if given, else drill.yaml's
    ``signing_key`` (relative to drill.yaml), else the default file under the state dir.
    One rule for `drill evidence` and the dashboard's export."""
    if explicit:
        return Path(explicit)
    if settings.signing_key:
        return settings.resolve(settings.signing_key)
    return settings.state_path() / DEFAULT_KEY


def export_key(settings: Settings, explicit: str | None = None) -> tuple[Path, str | None]:
    """The key an export signs with, and the fingerprint of a key made just now (else None).

    One rule for `drill evidence export` and the dashboard's ``/evidence/export``: the
    default key file (no ``--key``, no ``signing_key:``) is created on first use, so a
    first export just works — the caller says where it is, as it is who signed the
    bundle. A key that ``--key`` or ``signing_key:`` names and that is not there is an
    error (:func:`load_private_key` says so): a secrets mount that went missing, or a
    typo, must not sign bundles with a new key nobody published."""
    path = signing_key_path(settings, explicit)
    if path.exists() or explicit or settings.signing_key:
        return path, None
    _pub, fp = generate_key(path, what="the new signing key")
    return path, fp


def generate_key(path: Path, force: bool = False, what: str = "--out") -> tuple[Path, str]:
    """Write a new private key (mode 0600) and ``PATH.pub``; return (pub path, fingerprint).
    ``what`` names the path in an error: the option it came from, or what it is."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from orchestrator.outpaths import check_output, write_output

    pub = path.with_name(path.name + ".pub")
    check_output(path, what, replace_key=True)  # a link or a device: refused, --force or not
    check_output(pub, "public key")  # both checked before either is written
    if path.exists() and not force:
        raise UsageError(
            f"signing key {path} already exists",
            "use --force to replace it (bundles signed with it stay verifiable "
            "with their embedded public key, but fingerprints change)",
        )
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    write_output(path, what, lambda tmp: tmp.write_bytes(pem), 0o600, replace_key=True)
    public = public_pem(key.public_key()).encode()
    write_output(pub, "public key", lambda tmp: tmp.write_bytes(public))
    return pub, fingerprint(key.public_key())


_KEY_MAX = 64 * 1024  # a PEM private key is a few hundred bytes


def _key_bytes(path: Path) -> bytes:
    """The bytes of the key file, from a regular file of at most :data:`_KEY_MAX`: a key
    naming /dev/zero read until memory ran out ("internal error: MemoryError"), and a
    FIFO hung the export for good."""
    import errno

    from orchestrator.smallfiles import read_small

    try:
        return read_small(path, _KEY_MAX)
    except OSError as exc:
        if exc.errno == errno.EINVAL:  # a device, a FIFO or a socket
            raise UsageError(
                f"signing key {path} is not a regular file (a device, a FIFO or a socket)",
                "name the PEM file of the key (`signing_key:` in drill.yaml or --key)",
            ) from None
        if exc.errno == errno.EFBIG:
            raise UsageError(
                f"{path} is not a PEM private key: it is larger than {_KEY_MAX // 1024} KiB",
                "create one with `drill evidence keygen`",
            ) from None
        raise


def load_private_key(path: Path) -> Ed25519PrivateKey:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        key = serialization.load_pem_private_key(_key_bytes(path), password=None)
    except FileNotFoundError:
        raise UsageError(
            f"signing key not found: {path}",
            f"create one with `drill evidence keygen --out {path}`",
        ) from None
    except OSError as exc:  # a directory, no permission to read it, …
        raise UsageError(
            f"signing key {path} cannot be read: {exc.strerror or exc}",
            "name the PEM file of the key (`signing_key:` in drill.yaml or --key)",
        ) from None
    except (ValueError, TypeError) as exc:
        raise UsageError(
            f"{path} is not an unencrypted PEM private key: {exc}",
            "create one with `drill evidence keygen`",
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise UsageError(f"{path} is not an Ed25519 key", "create one with `drill evidence keygen`")
    return key


def public_pem(pub: Ed25519PublicKey) -> str:
    from cryptography.hazmat.primitives import serialization

    return pub.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def fingerprint(pub: Ed25519PublicKey) -> str:
    """``SHA256:<hex>`` of the raw 32-byte public key."""
    from cryptography.hazmat.primitives import serialization

    raw = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "SHA256:" + hashlib.sha256(raw).hexdigest()


def parse_fingerprint(text: str) -> str:
    """``--fingerprint`` as drill prints it (``SHA256:<hex>``) or as ``sha256sum`` does
    (bare hex, maybe followed by `` -``), any case → ``SHA256:<hex>``."""
    import re

    m = re.fullmatch(r"\s*(?:sha256:)?([0-9a-f]{64})(?:\s+-)?\s*", text, re.I)
    if m is None:
        raise UsageError(
            f"--fingerprint {text!r} is not a key fingerprint",
            "give SHA256: and 64 hex digits, as drill and VERIFY.md print it",
        )
    return "SHA256:" + m.group(1).lower()


def fingerprint_of_pem(pem: str) -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        pub = serialization.load_pem_public_key(pem.encode())
    except ValueError as exc:
        raise EvidenceTampered(f"signer.pub.pem: the public key is unreadable: {exc}") from None
    if not isinstance(pub, Ed25519PublicKey):
        raise EvidenceTampered("signer.pub.pem: the public key is not an Ed25519 key")
    return fingerprint(pub)


def verify_signature(pem: str, data: bytes, signature: bytes) -> str:
    """Check a raw Ed25519 signature of ``data`` by the key in ``pem``; its fingerprint."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    fp = fingerprint_of_pem(pem)
    pub = serialization.load_pem_public_key(pem.encode())
    assert isinstance(pub, Ed25519PublicKey)
    try:
        pub.verify(signature, data)
    except InvalidSignature:
        raise EvidenceTampered(
            "SHA256SUMS.sig is not a signature of SHA256SUMS by signer.pub.pem"
        ) from None
    return fp
