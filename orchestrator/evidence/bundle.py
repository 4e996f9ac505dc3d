"""The evidence bundle: written by :class:`BundleWriter` (for ``drill evidence export``),
checked offline by :func:`verify_bundle` (``drill evidence verify FILE.zip``).

The checks are the three an auditor runs by hand (:data:`VERIFY_MD`, in every bundle):
``SHA256SUMS`` signed by ``signer.pub.pem`` (raw Ed25519), every file present with the
sha256 it lists and nothing else in the zip, and the journal chain recomputed by the
bundle's own ``journal/verify_chain.py`` code. Pinning the signer (``--fingerprint`` or
``--public-key``) additionally proves *who* signed it. The zip itself must also be byte
for byte what :class:`BundleWriter` writes for those files (:func:`_changed_at`): then no
byte of the bundle, inside the files or around them, can change unnoticed.
"""

from __future__ import annotations

import hashlib
import io
import json
import struct
import zipfile
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.errors import EvidenceTampered, UsageError
from orchestrator.evidence import verify_chain

if TYPE_CHECKING:
    from concurrent.futures import Future, ThreadPoolExecutor

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

BUNDLE_FORMAT = "drill-evidence-bundle/2"
SUMS, SIG, PUB = "SHA256SUMS", "SHA256SUMS.sig", "signer.pub.pem"
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # zip entry times: the bundle's bytes depend on content
_DEFLATE_FROM = 64 * 1024  # smaller files are stored (see BundleWriter)

VERIFY_MD = """# DR drill evidence: {scope}

{summary}

Start with `report.html` (or `report.pdf`, the same): what was tested (each run, its
drill and scenarios), when and by whom (trigger, operator, approvals), the RTO and RPO
measured by independent probes against each objective and where that objective was set,
the findings with their corrective actions, and per control of each framework whether
it is satisfied, with the evidence behind it or what is missing. A run marked
`dry run` injected no fault, and a scenario marked `skipped` was not run (isolated mode
leaves live-only scenarios alone; runs.json keeps its recorded status, `succeeded`, with
`skipped` saying why): neither counts for any control. A run in `isolated` mode left
production alone: it promoted or restored a copy (a clone of the replica, a new
instance) and measured RTO and RPO on that copy.

# Verifying this bundle

Nothing of drill is needed: three standard tools (coreutils `sha256sum`, OpenSSL 3.0 or
newer, Python 3). Unpack the bundle into an empty folder and run the three commands in
that folder, e.g.:

    unzip -q BUNDLE.zip -d bundle && cd bundle
    sha256sum -c SHA256SUMS
    openssl pkeyutl -verify -pubin -inkey signer.pub.pem -rawin \\
        -in SHA256SUMS -sigfile SHA256SUMS.sig
    python3 journal/verify_chain.py

The bundle is intact when all three succeed: every line of the first ends in `OK`, the
second prints `Signature Verified Successfully`, the third prints a line starting `OK:`.
Any other result (`FAILED`, `Signature Verification Failure`, an error) means the
bundle is not as it was exported: do not rely on it, and ask for a new export.

What each proves:

1. every file is exactly as exported (SHA256SUMS lists all files but itself and its
   signature; on macOS use `shasum -a 256 -c SHA256SUMS`);
2. SHA256SUMS was signed by the holder of the private key of `signer.pub.pem` (Ed25519);
   compare the key's fingerprint, {fingerprint}, with the one the organisation publishes.
   The fingerprint is the sha256 of the raw 32-byte key; to compute it yourself:
   `openssl pkey -pubin -in signer.pub.pem -outform DER | tail -c 32 | sha256sum`;
3. {journal_piece}

Any changed byte makes one of the three fail. What the files hold: `manifest.json` (what
was exported, the chain head, every file's sha256), `runs.json` / `runs.csv` (every
run, scenario and measurement), `report.html` / `report.pdf` (the same for reading),
`oscal/assessment-results.json` (NIST OSCAL), `controls/FRAMEWORK.json` (each control,
the evidence behind it, and what is missing), `journals/RUN_ID/N-run-log.jsonl` (what
drill printed while the run went on; a run whose drill died has
`N-recovery-log.jsonl` instead: what the drill that recovered it said),
`journals/RUN_ID/N-journal-EXPERIMENT.json` (an experiment's Chaos Toolkit journal).

# Reading runs.json and runs.csv

A run's `status`: `succeeded` (every scenario that ran passed and met its objectives),
`failed` (a step failed or an objective was missed), `aborted` (stopped by a signal or
`drill abort`; its rollbacks ran), `crashed` (drill died; a later drill played its
rollbacks), `rollback_failed` (a rollback failed: the environment may be degraded);
`exit_code` is drill's exit status (0 succeeded, 3 aborted, 1 otherwise). A scenario's
`met` (in runs.csv `objectives_met`) is true when it passed and held `objective_rto_s` /
`objective_rpo_s` (set by what `objectives_from` names; a scenario with neither, such as
an experiment, is judged on passing alone: its steady state held), false when it missed
one or failed (a step failed, an experiment deviated: then false whatever was measured),
true also for a `rollback_failed` scenario whose objectives held (the reports then say
"rollback failed", never "passed": its fault may still be in place), or null when it
was not judged: `met_reason` (in runs.csv `objectives_not_judged_because`) says why:
aborted, skipped, a dry run. `rto_s` runs from the fault to the service restored as the
probes saw it; `rpo_s` is how much acknowledged data was lost, as time, `lost_writes`
how many writes. Times are UTC, durations seconds.

# Reading the journals

The journal is the record everything else is made from. In `journal/events.jsonl` and
each `journals/RUN_ID.json`, an event's `event` member is a JSON document kept as a
string, because those exact bytes are what was hashed. Parsed, it reads
`{{"kind": "step_run.update", "run": RUN_ID, "pk": …, "at": UTC time, "data": {{…}}}}`:
`kind` is the record type and what happened to it (`run.insert`, `scenario_run.update`,
`measurement.insert`, `finding.update`, …), `data` the record's complete state after
that change (a step's name, action, arguments, status, output and error; a scenario's
measured `rto_s`/`rpo_s`, its objectives and `met`). The newest event of a record is its
final state; the events before it show how it got there. Every time in an event is UTC:
`at` is written `2026-12-01T23:52:58.571520Z`, the times inside `data` (`started_at`,
`ended_at`, …) `2026-12-01 23:52:58.542260`, without a zone, as the database stores them.
Durations (`rto_s`, `rpo_s`, objectives) are in seconds.
"""


#: item 3 of VERIFY.md, for a period with events
JOURNAL_PIECE = """\
`journal/events.jsonl` is an unbroken piece of the evidence journal: each event's
   `hash` is `sha256(prev + "\\n" + event)`, each `prev` the hash before it. The first
   `prev` is the journal's head before the period ({head_before}); the piece ends with
   the last event of the exported runs ({last}) and, having no gaps, also holds the
   events of other runs written in between. The journal's head when this bundle was
   made was #{head_seq} {head_hash}. Each `journals/RUN_ID.json` holds that run's
   events (and, for experiments, Chaos Toolkit's journal)."""

#: item 3 of VERIFY.md, for a period nothing was recorded in (a piece, its first `prev`
#: and its last event "none: no events" told an auditor nothing)
NO_JOURNAL_PIECE = (
    "`journal/events.jsonl` is empty: this export holds no run and no finding, so no\n"
    "   piece of the evidence journal either, and `python3 journal/verify_chain.py` prints\n"
    "   `OK: the period holds no events`. The journal's head when this bundle was made was\n"
    "   #{head_seq} {head_hash}."
)


class BundleWriter:
    """A bundle's zip, written by a background thread in the order files are added (so
    the same content gives the same zip), each file's sha256 taken on the way; then
    ``SHA256SUMS`` of them all and its signature. Deflate and sha256 run without the
    GIL: a large file is compressed while the next ones are being made. Files under 64
    kB (a run's journal, ~10 kB: 5,000 a quarter) are stored: a deflate stream for each
    cost more than the whole rest of the zip, for a third of the bundle's size."""

    def __init__(self, path: Path) -> None:
        self.zf = zipfile.ZipFile(path, "w")
        self.pool: ThreadPoolExecutor | None = None  # the first add starts the thread
        self.written: list[Future[list[tuple[str, str]]]] = []
        self.names: list[str] = []

    def __enter__(self) -> BundleWriter:
        return self

    def __exit__(self, failed: type[BaseException] | None, *exc: object) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=failed is not None)
        try:
            if failed is None:
                for done in self.written:
                    done.result()  # a file that could not be written fails the export
        finally:
            self.zf.close()

    def add(self, files: list[tuple[str, bytes]]) -> None:
        """Write ``files`` (name, content) after the ones added before (one hand-over to
        the thread for the lot)."""
        from concurrent.futures import ThreadPoolExecutor

        if self.pool is None:
            self.pool = ThreadPoolExecutor(1, thread_name_prefix="drill-bundle")
        self.names += [name for name, _ in files]
        self.written.append(self.pool.submit(self._write, files))

    def _write(self, files: list[tuple[str, bytes]]) -> list[tuple[str, str]]:
        for name, content in files:
            info = zipfile.ZipInfo(name, _FIXED_TIME)
            info.external_attr = 0o644 << 16
            info.create_system = 3  # Unix, as _changed_at expects on any platform
            if len(content) >= _DEFLATE_FROM:
                info.compress_type = zipfile.ZIP_DEFLATED
            self.zf.writestr(info, content, compresslevel=1)  # speed over a few % of size
        return [(name, hashlib.sha256(content).hexdigest()) for name, content in files]

    def digests(self) -> list[tuple[str, str]]:
        """(name, sha256) of every file added so far, by name (once they are written)."""
        return sorted(d for f in self.written for d in f.result())

    def sign(self, key: Ed25519PrivateKey) -> list[str]:
        """Add ``SHA256SUMS`` of every file added so far and its signature by ``key``;
        the names of all files, in the order they are in the zip."""
        sums = "".join(f"{digest}  {name}\n" for name, digest in self.digests()).encode()
        self.add([(SUMS, sums), (SIG, key.sign(sums))])
        return self.names


@dataclass
class BundleReport:
    path: Path
    files: int
    fingerprint: str
    chain_head: dict[str, Any]
    period: str
    runs: int
    pinned: bool


# The zip records of APPNOTE.TXT (4.3.7, 4.3.12, 4.3.16) as BundleWriter's zipfile writes
# them: version 2.0, no flags, no extra fields, no comments, 1980-01-01 00:00 (DOS date 33).
_LOCAL = struct.Struct("<4s5H3L2H")
_CENTRAL = struct.Struct("<4s6H3L5H2L")
_END = struct.Struct("<4s4H2LH")
# ZIP64 (4.3.14, 4.3.15, 4.5.3), as zipfile writes it past 65,535 files or 2 GiB
_END64 = struct.Struct("<4sQ2H2L4Q")
_LOCATOR64 = struct.Struct("<4sLQL")
_LIMIT64 = (1 << 31) - 1


def _changed_at(raw: bytes, infos: list[zipfile.ZipInfo]) -> int | None:
    """Where the zip ``raw`` first differs from the one :class:`BundleWriter` writes for
    the entries its central directory lists, or None: every header, the central directory
    and the end record are rebuilt and compared; the entries' data (checked by content)
    must sit between them with nothing before, between or after."""
    view = memoryview(raw)
    expected: list[tuple[int, bytes]] = []  # (offset, bytes BundleWriter writes there)
    central: list[bytes] = []
    at = 0
    for info in infos:
        name = info.filename.encode("utf-8")
        flags = 0 if name.isascii() else 0x800
        method = zipfile.ZIP_DEFLATED if info.file_size >= _DEFLATE_FROM else zipfile.ZIP_STORED
        sizes = (info.CRC, info.compress_size, info.file_size, len(name))
        local = _LOCAL.pack(b"PK\x03\x04", 20, flags, method, 0, 33, *sizes, 0) + name
        expected.append((at, local))
        offset, extra, version = at, b"", 20
        if at > _LIMIT64:  # the offset moves into a ZIP64 extra field
            offset, extra, version = 0xFFFFFFFF, struct.pack("<HHQ", 1, 8, at), 45
        head = (b"PK\x01\x02", 0x300 | version, version, flags, method, 0, 33, *sizes)
        central.append(
            _CENTRAL.pack(*head, len(extra), 0, 0, 0, 0o644 << 16, offset) + name + extra
        )
        at += len(local) + info.compress_size
    cd = b"".join(central)
    count, size, start = len(infos), len(cd), at
    end = b""
    if count > 0xFFFF or start > _LIMIT64 or size > _LIMIT64:
        end = _END64.pack(b"PK\x06\x06", 44, 45, 45, 0, 0, count, count, size, start)
        end += _LOCATOR64.pack(b"PK\x06\x07", 0, start + size, 1)
        count, size, start = min(count, 0xFFFF), min(size, 0xFFFFFFFF), min(start, 0xFFFFFFFF)
    end += _END.pack(b"PK\x05\x06", 0, 0, count, count, size, start, 0)
    expected.append((at, cd + end))
    for offset, want in expected:
        got = view[offset : offset + len(want)]
        if got != want:
            return offset + _first_difference(got, want)
    return None if len(raw) == at + len(cd) + len(end) else at + len(cd) + len(end)


def _first_difference(got: memoryview, want: bytes) -> int:
    """The index of the first byte where ``got`` and ``want`` differ (``len(got)`` when
    ``got`` is a shorter prefix): compared a block at a time, then byte by byte in the
    block that differs (the central directory of 70,000 files is ~5 MB)."""
    block = 4096
    for start in range(0, len(got), block):
        a, b = got[start : start + block], want[start : start + block]
        if a != b:
            return start + next(
                (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), len(a)
            )
    return len(got)


def _inflate(data: bytes, size: int) -> bytes:
    """A raw deflate stream's content of ``size`` bytes (what the zip says; never more is
    inflated: a bomb stops there), which must end the stream exactly, with the unused
    bits of its last byte zero as zlib writes them (inflate ignores them, so a flipped
    one would change nothing a content check sees)."""
    d = zlib.decompressobj(-15)
    body = d.decompress(data[:-1], size + 1)
    if d.unconsumed_tail or len(body) > size:
        raise ValueError("it inflates to more than the zip says")
    before_last = d.copy()
    tail = d.decompress(data[-1:]) + d.flush()  # what the last byte adds
    if not d.eof or d.unused_data:
        raise ValueError("its compressed data does not end where the zip says")
    for bit in range(8):
        if data[-1] >> bit & 1:
            alt = before_last.copy()
            try:
                same = alt.decompress(bytes([data[-1] ^ 1 << bit])) + alt.flush() == tail
            except zlib.error:
                continue
            if same and alt.eof:
                raise ValueError("unused bits at the end of its compressed data were changed")
    return body + tail


def _unzip(path: Path, raw: bytes) -> tuple[dict[str, bytes], list[zipfile.ZipInfo]]:
    """Every file of the zip ``raw`` with its CRC checked (names must be unique)."""
    infos = zipfile.ZipFile(io.BytesIO(raw)).infolist()
    _fits_in_memory(path, sum(i.file_size for i in infos))
    dupes = [n for n, c in Counter(i.filename for i in infos).items() if c > 1]
    if dupes:
        raise EvidenceTampered(f"{path.name}: {dupes[0]} appears more than once")
    files: dict[str, bytes] = {}
    for info in infos:
        start = info.header_offset + _LOCAL.size
        start += sum(_LOCAL.unpack_from(raw, info.header_offset)[-2:])  # name, extra
        data = raw[start : start + info.compress_size]
        try:
            if info.compress_type == zipfile.ZIP_STORED:
                content = data
            elif info.compress_type == zipfile.ZIP_DEFLATED:
                content = _inflate(data, info.file_size)
            else:
                raise ValueError(f"compression method {info.compress_type} is not drill's")
            if len(content) != info.file_size or zlib.crc32(content) != info.CRC:
                raise ValueError("its CRC or size does not match")
        except (ValueError, zlib.error) as exc:
            raise EvidenceTampered(f"{path.name}: {info.filename} is damaged: {exc}") from None
        files[info.filename] = content
    return files, infos


def _fits_in_memory(path: Path, inflated: int) -> None:
    """Verify holds the bundle's files in memory: one that says it holds more than half
    the memory free here (a zip bomb: 3 MB declaring 3 GB) is not inflated at all."""
    free = _memory_available()
    if free is not None and inflated > free // 2:
        raise EvidenceTampered(
            f"{path.name} says it holds {inflated / 2**30:.1f} GiB of files, more than half "
            f"the memory free here ({free / 2**30:.1f} GiB): not verified",
            "a drill bundle is far smaller: get it again from whoever exported it, or check "
            "it with the commands of its VERIFY.md on a machine with more memory",
        )


def _memory_available() -> int | None:
    """MemAvailable of /proc/meminfo in bytes (None where there is none)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _sums(raw: bytes) -> dict[str, str]:
    listed: dict[str, str] = {}
    for n, line in enumerate(raw.decode().splitlines(), 1):
        digest, sep, name = line.partition("  ")
        if not sep or len(digest) != 64 or name in listed:
            raise EvidenceTampered(f"{SUMS} line {n} is not `SHA256  FILE`")
        listed[name] = digest
    return listed


#: what to do about a bundle that fails a check (a problem said without a next step
#: left the reader to guess whether the bundle or the checking was at fault)
NOT_AS_EXPORTED = (
    "the bundle is not as it was exported: do not rely on it; ask whoever exported it for "
    "the original (or a new export) and verify that one instead"
)


def _fingerprint_of_file(public_key: Path) -> str:
    """The fingerprint of the signer's key an auditor pins with ``--public-key``: a
    problem with that file is theirs to fix (a usage error), not the bundle's."""
    from orchestrator.evidence.signing import fingerprint_of_pem
    from orchestrator.smallfiles import read_small

    try:
        pem = read_small(public_key, 64 * 1024).decode("utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read public key {public_key}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise UsageError(
            f"--public-key {public_key} is not a PEM public key (binary bytes)",
            "give the signer's signer.pub.pem (or pin it with --fingerprint)",
        ) from None
    try:
        return fingerprint_of_pem(pem)
    except EvidenceTampered as exc:
        raise UsageError(
            f"--public-key {public_key} is not an Ed25519 public key in PEM: "
            + exc.message.removeprefix("signer.pub.pem: "),
            "give the signer's signer.pub.pem (or pin it with --fingerprint)",
        ) from None


def _check_journals(files: dict[str, bytes]) -> None:
    """What ``journal/verify_chain.py`` checks, with the same code: ``journal/events.jsonl``
    chains from and to where ``manifest.json`` says, and every ``journals/RUN_ID.json``
    holds only events of that chain."""
    try:
        seen, ends = verify_chain.check_chain(
            files.get("journal/events.jsonl", b"").decode().splitlines()
        )
        if "manifest.json" in files:
            manifest = verify_chain.loads("manifest.json", files["manifest.json"])
            verify_chain.check_ends(manifest, seen, ends)
        for name, content in files.items():
            if name.startswith("journals/") and name.count("/") == 1 and name.endswith(".json"):
                verify_chain.check_run(name, verify_chain.loads(name, content), seen)
    except (UnicodeError, ValueError) as exc:
        raise EvidenceTampered(str(exc), NOT_AS_EXPORTED) from None


def verify_bundle(
    path: Path, expect_fingerprint: str | None = None, public_key: Path | None = None
) -> BundleReport:
    """Raise :class:`EvidenceTampered` naming the first problem; return a summary."""
    from orchestrator.evidence.signing import verify_signature

    if not path.is_file():
        raise UsageError(f"bundle not found: {path}")
    if public_key is not None:
        expect_fingerprint = _fingerprint_of_file(public_key)
    try:
        raw = path.read_bytes()
        files, infos = _unzip(path, raw)
        for needed in (SUMS, SIG, PUB):
            if needed not in files:
                raise EvidenceTampered(f"{path.name} has no {needed}")
        sums = files.pop(SUMS)
        fp = verify_signature(files[PUB].decode(), sums, files.pop(SIG))
        if expect_fingerprint and fp != expect_fingerprint:  # who signed it comes first
            raise EvidenceTampered(
                f"signed by {fp}, not by the expected key {expect_fingerprint}",
                "the bundle may have been re-signed by someone else",
            )
        listed = _sums(sums)
        for extra in sorted(set(files) - set(listed)):
            raise EvidenceTampered(f"{extra} is in the bundle but not in {SUMS}")
        for name, digest in sorted(listed.items()):
            if name not in files:
                raise EvidenceTampered(f"{name} is listed in {SUMS} but missing")
            if hashlib.sha256(files[name]).hexdigest() != digest:
                raise EvidenceTampered(
                    f"{name} was altered (its sha256 differs from the signed {SUMS})"
                )
        at = _changed_at(raw, infos)
        if at is not None:
            raise EvidenceTampered(
                f"{path.name}: its files are as signed, but the zip around them was changed "
                f"(byte {at} is not what drill writes there)",
                "compare with the copy that was handed over; a re-packed bundle is "
                "checked unpacked with the commands of its VERIFY.md",
            )
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as exc:
        raise EvidenceTampered(
            f"{path.name} is not a readable zip: {exc}", NOT_AS_EXPORTED
        ) from None
    except EvidenceTampered as exc:
        if exc.hint is None:
            exc.hint = NOT_AS_EXPORTED
        raise
    except Exception as exc:  # struct.error, zlib.error, UnicodeError…: a damaged member
        raise EvidenceTampered(
            f"{path.name} is damaged: {exc.__class__.__name__}: {exc}", NOT_AS_EXPORTED
        ) from None
    _check_journals(files)
    try:
        manifest = json.loads(files.get("manifest.json", b"{}"))
        chain, runs = manifest.get("chain", {}), manifest.get("runs", 0)
        label = manifest.get("period", {}).get("label", "")
        if not isinstance(chain, dict) or type(runs) is not int or not isinstance(label, str):
            raise TypeError
    except (UnicodeError, ValueError, AttributeError, TypeError):  # not what drill writes
        raise EvidenceTampered("manifest.json is not the manifest of a drill bundle") from None
    return BundleReport(path, len(listed), fp, chain, label, runs, bool(expect_fingerprint))
