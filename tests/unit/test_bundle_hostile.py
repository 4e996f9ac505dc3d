"""`drill evidence verify FILE.zip` on a bundle someone else made and signed with their
own key (the zip exactly as drill writes one, every sha256 right): files of the right
names holding the wrong JSON shapes. Each is refused naming the file (exit 1), never an
internal error; a pinned signer that differs is said first; and the bundle's own
`journal/verify_chain.py` fails on the same files with its one FAILED line."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from orchestrator.evidence import verify_chain
from orchestrator.evidence.bundle import PUB, BundleWriter
from orchestrator.evidence.journal import GENESIS, link
from orchestrator.evidence.signing import fingerprint, public_pem
from tests.clihelp import drill

EVENT = '{"kind":"run.insert","run":"r-1","pk":"r-1","at":"2026-11-02T09:00:00.000000Z"}'
LINE = {"seq": 1, "prev": GENESIS, "hash": link(GENESIS, EVENT.encode()), "event": EVENT}
GOOD = {
    "journal/events.jsonl": json.dumps(LINE) + "\n",
    "journals/r-1.json": json.dumps({"events": [LINE]}),
    "manifest.json": json.dumps({"chain": {}, "period": {"label": "2026-Q4"}, "runs": 1}),
}
KEY = Ed25519PrivateKey.generate()


def _bundle(path: Path, files: dict[str, str] | None = None) -> Path:
    """A bundle as drill writes one, of ``files`` (default: a well-formed one), signed by
    someone's key."""
    with BundleWriter(path) as zf:
        zf.add([(name, text.encode()) for name, text in sorted((files or GOOD).items())])
        zf.add([(PUB, public_pem(KEY.public_key()).encode())])
        zf.sign(KEY)
    return path


def test_the_well_formed_bundle_verifies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    res = drill(capsys, "evidence", "verify", str(_bundle(tmp_path / "b.zip")), "--json")
    assert res.code == 0 and json.loads(res.out)["runs"] == 1, res.err


@pytest.mark.parametrize(
    ("name", "content", "says"),
    [
        ("journals/r-1.json", "[]", "journals/r-1.json"),
        ("journals/r-1.json", '{"events": [1]}', "journals/r-1.json"),
        ("journals/r-1.json", '{"events": "abc"}', "journals/r-1.json"),
        ("journals/r-1.json", '{"events": [{"seq": []}]}', "journals/r-1.json"),
        ("journal/events.jsonl", "[]\n", "journal/events.jsonl"),
        ("manifest.json", "[]", "manifest.json"),
        ("manifest.json", '{"period": "2026-Q4"}', "manifest.json"),
        ("manifest.json", '{"runs": "many"}', "manifest.json"),
        ("manifest.json", '{"chain": 7}', "manifest.json"),
    ],
)
def test_a_file_of_the_wrong_shape_is_refused_by_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, content: str, says: str
) -> None:
    bundle = _bundle(tmp_path / "b.zip", {**GOOD, name: content})
    res = drill(capsys, "evidence", "verify", str(bundle), "--json")
    assert res.code == 1, (res.out, res.err)
    assert "internal error" not in res.err and says in json.loads(res.out)["error"], res.err
    if name.startswith("journal"):  # the auditor's own check: one FAILED line, exit 1
        with zipfile.ZipFile(bundle) as zf:
            zf.extractall(tmp_path / "x")
        script = tmp_path / "x" / "journal" / "verify_chain.py"
        script.write_text(Path(verify_chain.__file__).read_text())
        done = subprocess.run(
            [sys.executable, "-I", "-S", "journal/verify_chain.py"],
            cwd=tmp_path / "x",
            capture_output=True,
            text=True,
        )
        assert done.returncode == 1 and done.stdout.startswith("FAILED: "), done
        assert "Traceback" not in done.stderr, done.stderr


def test_a_pinned_signer_that_differs_is_said_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Someone else's bundle with broken files: what matters first is who signed it."""
    bundle = _bundle(tmp_path / "b.zip", {**GOOD, "manifest.json": "[]"})
    ours = "SHA256:" + "ab" * 32
    res = drill(capsys, "evidence", "verify", str(bundle), "--fingerprint", ours)
    assert res.code == 1 and f"not by the expected key {ours}" in res.err, res.err


@pytest.mark.parametrize("given", ["bare", "upper", "spaced"])
def test_a_fingerprint_as_sha256sum_prints_it_pins_the_signer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], given: str
) -> None:
    """VERIFY.md tells how to compute the fingerprint with `sha256sum`, which prints bare
    hex: that, upper case, or with spaces around it, is the same key."""
    hexdigits = fingerprint(KEY.public_key()).removeprefix("SHA256:")
    text = {"bare": hexdigits, "upper": "sha256:" + hexdigits.upper(), "spaced": f" {hexdigits}  -"}
    bundle = _bundle(tmp_path / "b.zip")
    res = drill(capsys, "evidence", "verify", str(bundle), "--fingerprint", text[given], "--json")
    assert res.code == 0 and json.loads(res.out)["signer_pinned"] is True, res.err


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--fingerprint", "nonsense"], "--fingerprint 'nonsense' is not a key fingerprint"),
        (["--head", "1:" + "0" * 64], "--head"),
    ],
)
def test_options_that_cannot_apply_are_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], says: str
) -> None:
    bundle = _bundle(tmp_path / "b.zip")
    res = drill(capsys, "evidence", "verify", str(bundle), *args)
    assert res.code == 2 and res.err.startswith("drill: error: ") and says in res.err, res.err


@pytest.mark.parametrize("option", ["--fingerprint", "--public-key"])
def test_bundle_options_without_a_bundle_are_usage_errors(
    workdir: Path, capsys: pytest.CaptureFixture[str], option: str
) -> None:
    value = "SHA256:" + "ab" * 32 if option == "--fingerprint" else "key.pub"
    res = drill(capsys, "evidence", "verify", option, value)
    assert res.code == 2 and option in res.err and "FILE.zip" in res.err, res.err


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (None, "cannot read public key /dev/zero: not a regular file"),  # read to MemoryError
        (b"\xff\xfe\x00", "is not a PEM public key (binary bytes)"),  # internal error
        (b"hello\n", "is not an Ed25519 public key in PEM"),  # blamed the bundle, exit 1
    ],
    ids=["a-device", "binary", "not-a-key"],
)
def test_a_public_key_that_is_not_one_is_a_usage_error_not_the_bundles_fault(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes | None, says: str
) -> None:
    """`--public-key` names the auditor's own file: one that is not a key is their usage
    error (exit 2), never the bundle's tampering (exit 1, 'signer.pub.pem: …'), never an
    internal error, and /dev/zero is not read until memory runs out."""
    bundle = _bundle(tmp_path / "b.zip")
    key = Path("/dev/zero")
    if content is not None:
        key = tmp_path / "key.pub"
        key.write_bytes(content)
    res = drill(capsys, "evidence", "verify", str(bundle), "--public-key", str(key), "--json")
    assert res.code == 2, res.err
    assert res.err.startswith("drill: error: ") and says in res.err, res.err
    assert "signer.pub.pem:" not in res.err and "internal error" not in res.err, res.err


def _declare_size(path: Path, name: str, size: int) -> None:
    """Make the zip say ``name`` holds ``size`` bytes (local header and central directory)
    while its compressed data stays what it was: what a zip bomb does."""
    import struct

    raw = bytearray(path.read_bytes())
    info = zipfile.ZipFile(path).getinfo(name)
    struct.pack_into("<I", raw, info.header_offset + 22, size)
    eocd = raw.rfind(b"PK\x05\x06")
    at = struct.unpack_from("<I", raw, eocd + 16)[0]
    while raw[at : at + 4] == b"PK\x01\x02":
        n, extra, comment = struct.unpack_from("<HHH", raw, at + 28)
        if raw[at + 46 : at + 46 + n].decode() == name:
            struct.pack_into("<I", raw, at + 24, size)
        at += 46 + n + extra + comment
    path.write_bytes(bytes(raw))


def test_a_member_is_never_inflated_past_what_the_zip_says(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each file is inflated up to the size the zip gives it, no further: a member saying
    10 bytes whose data inflates to 1 MB (a bomb: gigabytes) stops at 11."""
    files = {**GOOD, "runs.csv": "run_id\n" + "r-1\n" * 250_000}
    bundle = _bundle(tmp_path / "b.zip", files)
    _declare_size(bundle, "runs.csv", 10)
    res = drill(capsys, "evidence", "verify", str(bundle))
    assert res.code == 1
    assert "runs.csv is damaged: it inflates to more than the zip says" in res.err, res.err


def test_a_bundle_saying_it_holds_more_than_memory_is_not_inflated(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """verify holds a bundle's files in memory: a 3 MB zip declaring 3 GB ended in
    "damaged: MemoryError" after taking the machine's memory; now it is refused first."""
    from orchestrator.evidence import bundle as bundle_module

    monkeypatch.setattr(bundle_module, "_memory_available", lambda: 2 * 2**30)
    bundle = _bundle(tmp_path / "b.zip")
    _declare_size(bundle, "journal/events.jsonl", 3 * 2**30)
    res = drill(capsys, "evidence", "verify", str(bundle))
    assert res.code == 1
    said = " ".join(res.err.split())
    assert "b.zip says it holds 3.0 GiB of files, more than half the memory free here" in said
    assert "(2.0 GiB): not verified" in said
