"""Canonical form, link hashes and manifest signatures: the pure parts of integrity."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from orchestrator.errors import EvidenceTampered
from orchestrator.evidence.chain import GENESIS, canonical_row, link_hash, row_digest
from orchestrator.evidence.signing import (
    generate_key,
    load_private_key,
    sign_manifest,
    verify_manifest,
)


def test_canonical_row_is_stable_and_leaves_out_nulls() -> None:
    at = datetime(2026, 11, 2, 14, 0, 0, 123456, tzinfo=UTC)
    same_instant = at.astimezone(timezone(timedelta(hours=2)))
    a = canonical_row(["id", "at", "data", "note"], [1, at, {"b": 1, "a": [1, 2]}, None])
    b = canonical_row(["note", "data", "at", "id"], [None, {"a": [1, 2], "b": 1}, same_instant, 1])
    assert a == b == b'{"at":"2026-11-02T14:00:00.123456Z","data":{"a":[1,2],"b":1},"id":1}'
    assert row_digest(["x"], [b"\x00"]) != row_digest(["x"], [b"\x01"])
    assert row_digest(["x"], ["a"]) != row_digest(["x"], [None])


def test_link_hash_covers_every_field() -> None:
    base = (1, "run", "r-1", "insert", "r-1", "d" * 64, "2026-11-02T14:00:00.000000Z", GENESIS)
    h = link_hash(*base)
    for i in range(len(base)):
        changed = list(base)
        changed[i] = changed[i] + 1 if isinstance(changed[i], int) else str(changed[i]) + "x"
        assert link_hash(*changed) != h  # type: ignore[arg-type]


def test_manifest_signature_round_trip_and_tamper(tmp_path: Path) -> None:
    key_path = tmp_path / "k.pem"
    generate_key(key_path)
    assert oct(key_path.stat().st_mode & 0o777) == "0o600"
    raw = sign_manifest({"files": [{"path": "a", "sha256": "0" * 64, "size": 1}]},
                        load_private_key(key_path))
    assert verify_manifest(raw)["files"][0]["path"] == "a"
    with pytest.raises(EvidenceTampered, match="canonical"):
        verify_manifest(raw.replace(b"\n", b"\n ", 1))
    with pytest.raises(EvidenceTampered, match="signature is invalid"):
        verify_manifest(raw.replace(b'"size": 1', b'"size": 2'))
