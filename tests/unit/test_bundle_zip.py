"""`drill evidence verify FILE.zip` refuses a bundle whose zip differs from what drill
wrote in any byte — not only the files' contents (signed through SHA256SUMS) but the
zip around them: headers, the central directory, bytes added before, between or after
the entries, and the unused bits at the end of a deflate stream, which inflate ignores."""

from __future__ import annotations

import random
import zipfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from orchestrator.cli import main
from orchestrator.errors import EvidenceTampered
from orchestrator.evidence.bundle import PUB, BundleWriter, verify_bundle
from orchestrator.evidence.signing import public_pem


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A small bundle with stored and deflated (≥ 64 kB) files."""
    rng = random.Random(7)
    key = Ed25519PrivateKey.generate()
    path = tmp_path_factory.mktemp("zip") / "b.zip"
    with BundleWriter(path) as zf:
        zf.add(
            [
                ("runs.json", b'{"runs": []}\n'),
                ("report.pdf", bytes(rng.getrandbits(8) for _ in range(70_000))),
                ("runs.csv", b"id,status\n" * 9_000),  # deflated, compresses well
                ("journals/r-1.json", b'{"events": []}\n'),
                (PUB, public_pem(key.public_key()).encode()),
            ]
        )
        zf.sign(key)
    return path.read_bytes()


def _refused(tmp_path: Path, raw: bytes) -> bool:
    bad = tmp_path / "bad.zip"
    # a new file each time: rewriting one in place (O_TRUNC) makes ext4 flush it to disk
    # first (auto_da_alloc), ~5 ms a write, thousands of times here
    bad.unlink(missing_ok=True)
    bad.write_bytes(raw)
    try:
        verify_bundle(bad)
    except EvidenceTampered:
        return True
    return False


def _regions(raw: bytes) -> tuple[list[int], list[tuple[int, int]]]:
    """Offsets outside the files' data (every header byte), and each deflated file's
    data span."""
    import io

    infos = zipfile.ZipFile(io.BytesIO(raw)).infolist()
    data: list[tuple[int, int]] = []
    deflated: list[tuple[int, int]] = []
    for info in infos:
        start = info.header_offset + 30 + len(info.filename)
        data.append((start, start + info.compress_size))
        if info.compress_type == zipfile.ZIP_DEFLATED:
            deflated.append(data[-1])
    inside = {i for a, b in data for i in range(a, b)}
    return [i for i in range(len(raw)) if i not in inside], deflated


def test_a_fresh_bundle_verifies(tmp_path: Path, bundle: bytes) -> None:
    assert not _refused(tmp_path, bundle)
    assert _regions(bundle)[1], "the fixture must hold deflated files"


def test_every_bit_of_every_byte_outside_the_files_data_is_checked(
    tmp_path: Path, bundle: bytes
) -> None:
    outside, _ = _regions(bundle)
    missed = [
        (i, bit)
        for i in outside
        for bit in range(8)
        if not _refused(tmp_path, bundle[:i] + bytes([bundle[i] ^ 1 << bit]) + bundle[i + 1 :])
    ]
    assert not missed


def test_every_bit_of_a_deflate_streams_last_byte_is_checked(tmp_path: Path, bundle: bytes) -> None:
    for _start, end in _regions(bundle)[1]:
        for bit in range(8):
            changed = bundle[: end - 1] + bytes([bundle[end - 1] ^ 1 << bit]) + bundle[end:]
            assert _refused(tmp_path, changed), (end, bit)


def test_changed_data_bytes_are_caught(tmp_path: Path, bundle: bytes) -> None:
    rng = random.Random(11)
    for _ in range(200):
        i = rng.randrange(len(bundle))
        changed = bundle[:i] + bytes([bundle[i] ^ 1 << rng.randrange(8)]) + bundle[i + 1 :]
        assert _refused(tmp_path, changed), i


@pytest.mark.parametrize("edit", ["prepend", "append", "insert", "remove"])
def test_bytes_added_or_removed_anywhere_are_caught(
    tmp_path: Path, bundle: bytes, edit: str
) -> None:
    rng = random.Random(edit)
    for _ in range(40):
        i = rng.randrange(len(bundle))
        changed = {
            "prepend": b"\0" + bundle,
            "append": bundle + b"\0",
            "insert": bundle[:i] + b"\0" + bundle[i:],
            "remove": bundle[:i] + bundle[i + 1 :],
        }[edit]
        assert _refused(tmp_path, changed), (edit, i)


def test_a_repacked_bundle_is_named_as_such(
    tmp_path: Path, bundle: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    """Same files, re-zipped by another tool: the contents pass, the zip does not, and the
    message says so (and how to check the files themselves)."""
    import io

    src = zipfile.ZipFile(io.BytesIO(bundle))
    repacked = tmp_path / "repacked.zip"
    with zipfile.ZipFile(repacked, "w", zipfile.ZIP_DEFLATED) as zf:
        for info in src.infolist():
            zf.writestr(info.filename, src.read(info))
    capsys.readouterr()
    assert main(["evidence", "verify", str(repacked)]) == 1
    err = capsys.readouterr().err
    assert "files are as signed, but the zip around them was changed" in " ".join(err.split())
    assert "Traceback" not in err


def test_a_bundle_of_more_than_65535_files_verifies_and_its_zip64_records_are_checked(
    tmp_path: Path,
) -> None:
    """Past 65,535 files (an export of a few years) zipfile writes ZIP64 end records:
    65,536 entries, the first count that needs them (each check reads them all)."""
    key = Ed25519PrivateKey.generate()
    path = tmp_path / "many.zip"
    with BundleWriter(path) as zf:
        zf.add([(f"journals/r-{i}.json", b"{}") for i in range(65_536 - 3)])
        zf.add([(PUB, public_pem(key.public_key()).encode())])
        zf.sign(key)  # + SHA256SUMS and its signature
    assert len(zipfile.ZipFile(path).infolist()) == 65_536
    assert verify_bundle(path).files == 65_536 - 2  # as listed: all but SHA256SUMS{,.sig}
    raw = path.read_bytes()
    end64 = raw.rindex(b"PK\x06\x06")
    for i in range(end64, len(raw), 9):  # the ZIP64 record, its locator, the end record
        assert _refused(tmp_path, raw[:i] + bytes([raw[i] ^ 0x01]) + raw[i + 1 :]), i
