"""`drill evidence export` end to end: real runs in two quarters (the clock of the second
is moved with time-machine), a signed bundle per quarter, then the bundle is checked
the way an auditor would: with sha256sum, openssl and a bare python3 (no drill), every
byte, OSCAL with compliance-trestle, the HTML in headless Chromium and the PDF with
poppler's pdftoppm."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import zipfile
from collections.abc import Iterator
from contextlib import redirect_stdout
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from orchestrator.cli import main
from tests.browser import CHROMIUM, CHROMIUM_ARGS
from tests.clihelp import clear_drill_env
from tests.integration.test_evidence_chain import run_drill, write_definitions

PDFTOPPM = shutil.which("pdftoppm")


def _cli(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    with redirect_stdout(out):
        code = main(list(args))
    return code, out.getvalue()


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:

    import time_machine

    root = tmp_path_factory.mktemp("export")
    with pytest.MonkeyPatch.context() as mp:
        clear_drill_env(mp)
        mp.chdir(root)
        write_definitions(root)
        with time_machine.travel(datetime(2026, 8, 14, 9, 30, tzinfo=UTC), tick=True):
            q3 = [run_drill(root)["run_id"]]
        with time_machine.travel(datetime(2026, 11, 2, 14, 0, tzinfo=UTC), tick=True):
            q4 = [run_drill(root)["run_id"], run_drill(root)["run_id"]]
        assert _cli("evidence", "keygen")[0] == 0
        code, out = _cli(
            "evidence",
            "export",
            "--period",
            "2026-Q4",
            "--framework",
            "soc2",
            "--framework",
            "nist",
            "--out",
            "q4.zip",
            "--json",
        )
        assert code == 0
        summary = json.loads(out)
        assert (
            _cli(
                "evidence",
                "export",
                "--from",
                "2026-07-01",
                "--to",
                "2026-09-30",
                "--out",
                "q3.zip",
            )[0]
            == 0
        )
        yield {
            "root": root,
            "q3": q3,
            "q4": q4,
            "summary": summary,
            "q4zip": root / "q4.zip",
            "q3zip": root / "q3.zip",
        }


def _member(bundle: Path, name: str) -> bytes:
    with zipfile.ZipFile(bundle) as zf:
        return zf.read(name)


def test_a_quarter_contains_exactly_its_runs(exported: dict[str, Any]) -> None:
    q4 = json.loads(_member(exported["q4zip"], "runs.json"))
    q3 = json.loads(_member(exported["q3zip"], "runs.json"))
    assert sorted(r["id"] for r in q4["runs"]) == sorted(exported["q4"])
    assert [r["id"] for r in q3["runs"]] == exported["q3"]
    csv_ids = {
        line.split(",")[0]
        for line in _member(exported["q4zip"], "runs.csv").decode().splitlines()[1:]
    }
    assert csv_ids == set(exported["q4"])
    with zipfile.ZipFile(exported["q4zip"]) as zf:
        journals = [n for n in zf.namelist() if n.startswith("journals/")]
    assert sorted(n for n in journals if n.count("/") == 1) == sorted(
        f"journals/{r}.json" for r in exported["q4"]
    )
    for run_id in exported["q4"]:  # the run's events and both experiments' chaos journals
        doc = json.loads(_member(exported["q4zip"], f"journals/{run_id}.json"))
        assert doc["run_id"] == run_id and len(doc["chaos_journals"]) == 2
        kinds = [json.loads(e["event"])["kind"] for e in doc["events"]]
        assert kinds[0] == "run.insert" and "step_run.update" in kinds
        assert all(json.loads(e["event"])["run"] == run_id for e in doc["events"])
        assert sorted(j["journal"]["deviated"] for j in doc["chaos_journals"]) == [False, True]
    assert exported["summary"]["runs"] == 2 and exported["summary"]["period"] == "2026-Q4"


def test_manifest_lists_files_hashes_chain_head_and_signature(exported: dict[str, Any]) -> None:
    """DESIGN 8: manifest.json holds the files, their hashes, the chain head and the
    signature (it had the head and the signer only)."""
    import hashlib

    manifest = json.loads(_member(exported["q4zip"], "manifest.json"))
    with zipfile.ZipFile(exported["q4zip"]) as zf:
        names = set(zf.namelist())
        listed = {f["path"]: f["sha256"] for f in manifest["files"]}
        assert set(listed) == names - {"manifest.json", "SHA256SUMS", "SHA256SUMS.sig"}
        for name, digest in listed.items():
            assert hashlib.sha256(zf.read(name)).hexdigest() == digest, name
    assert manifest["journal"]["head"]["seq"] == exported["summary"]["chain_head"]["seq"]
    signature = manifest["signature"]
    assert (signature["file"], signature["signs"], signature["public_key"]) == (
        "SHA256SUMS.sig",
        "SHA256SUMS",
        "signer.pub.pem",
    )
    assert signature["fingerprint"] == exported["summary"]["signer"]


def test_bundle_verifies_and_names_its_signer(
    exported: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    fp = exported["summary"]["signer"]
    code, out = _cli("evidence", "verify", str(exported["q4zip"]), "--fingerprint", fp, "--json")
    assert code == 0 and json.loads(out)["signer_pinned"] is True
    key_dir = exported["root"] / ".drill" / "keys"
    assert (
        _member(exported["q4zip"], "signer.pub.pem").decode()
        == (key_dir / "evidence-ed25519.pem.pub").read_text()
    )
    private = (key_dir / "evidence-ed25519.pem").read_bytes()
    with zipfile.ZipFile(exported["q4zip"]) as zf:
        assert all(private not in zf.read(n) for n in zf.namelist())
    capsys.readouterr()
    assert (
        _cli("evidence", "verify", str(exported["q4zip"]), "--fingerprint", "SHA256:" + "0" * 64)[0]
        == 1
    )
    assert "not by the expected key" in capsys.readouterr().err


def test_verify_json_of_a_tampered_bundle_is_one_document(
    exported: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """DESIGN 5: --json prints one JSON document, also when the bundle fails (stdout was
    empty; the database's verify already printed {"ok": false, …})."""
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(exported["q4zip"]) as src, zipfile.ZipFile(bad, "w") as dst:
        for info in src.infolist():
            content = src.read(info)
            dst.writestr(info, content.replace(b"succeeded", b"succeedeX", 1))
    capsys.readouterr()
    code, out = _cli("evidence", "verify", str(bad), "--json")
    doc = json.loads(out)
    assert code == 1 and doc["ok"] is False and doc["bundle"] == str(bad)
    assert "runs" in doc["error"] or "altered" in doc["error"]
    assert capsys.readouterr().err.startswith("drill: error: ")
    # and what to do about it (a failed check gave no next step)
    assert _cli("evidence", "verify", str(bad))[0] == 1
    err = capsys.readouterr().err
    assert "  hint: the bundle is not as it was exported: do not rely on it" in err, err
    # a whole sentence: it ended 'ask whoever exported it for the original (or a new
    # export) and check that', a reader waiting for what to check
    assert err.rstrip().endswith("(or a new export) and verify that one instead"), err
    # the keys of a bundle that verifies are there too (null: not known), plus "error"
    good = json.loads(_cli("evidence", "verify", str(exported["q4zip"]), "--json")[1])
    assert set(good) | {"error"} == set(doc), (set(good), set(doc))


def test_verify_counts_the_files_export_wrote(exported: dict[str, Any]) -> None:
    """export said "22 files", verify said "20 files" of the same bundle (it counted
    those SHA256SUMS lists): now both name the whole bundle."""
    code, out = _cli("evidence", "verify", str(exported["q4zip"]))
    assert code == 0
    flat = " ".join(out.split())
    assert f"bundle OK: {len(exported['summary']['files'])} files " in flat, flat


def test_changing_any_byte_of_any_file_fails_verification(
    exported: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with zipfile.ZipFile(exported["q4zip"]) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    for name, content in members.items():
        for pos in sorted({0, len(content) // 2, len(content) - 1}):
            changed = bytearray(content)
            changed[pos] = (changed[pos] + 1) % 256
            bad = tmp_path / "bad.zip"
            with zipfile.ZipFile(bad, "w", zipfile.ZIP_DEFLATED) as zf:
                for n, c in members.items():
                    zf.writestr(n, bytes(changed) if n == name else c)
            capsys.readouterr()
            code = main(["evidence", "verify", str(bad)])
            err = capsys.readouterr().err
            assert code == 1, (name, pos)
            assert err.startswith("drill: error: ") and "Traceback" not in err
            assert name in err, err
    # a file added or removed is caught too
    bad = tmp_path / "extra.zip"
    shutil.copy(exported["q4zip"], bad)
    with zipfile.ZipFile(bad, "a") as zf:
        zf.writestr("notes.txt", b"added later")
    assert main(["evidence", "verify", str(bad)]) == 1


def _unpack(bundle: Path, into: Path) -> Path:
    with zipfile.ZipFile(bundle) as zf:
        zf.extractall(into)
    return into


def _replace(path: Path, content: bytes) -> None:
    """A new file (written over in place, ext4 would flush each one to disk first)."""
    path.unlink()
    path.write_bytes(content)


def _one_check_fails(root: Path) -> bool:
    """One of the three commands of VERIFY.md fails (the next are not run)."""
    return any(code != 0 for code in _auditor_checks(root))


def _auditor_checks(root: Path) -> Iterator[int]:
    """The exit codes of the three commands of VERIFY.md, with nothing of drill:
    python3 -I -S; each is run when its code is asked for."""
    python3 = shutil.which("python3")
    assert python3 is not None
    commands = [
        ["sha256sum", "--quiet", "-c", "SHA256SUMS"],
        [
            "openssl",
            "pkeyutl",
            "-verify",
            "-pubin",
            "-inkey",
            "signer.pub.pem",
            "-rawin",
            "-in",
            "SHA256SUMS",
            "-sigfile",
            "SHA256SUMS.sig",
        ],
        [python3, "-I", "-S", "journal/verify_chain.py"],
    ]
    return (
        subprocess.run(c, cwd=root, capture_output=True, timeout=60, check=False).returncode
        for c in commands
    )


@pytest.mark.skipif(
    not (shutil.which("sha256sum") and shutil.which("openssl")),
    reason="needs sha256sum and openssl",
)
def test_bundle_verifies_with_standard_tools_and_any_changed_byte_fails_one(
    exported: dict[str, Any], tmp_path: Path
) -> None:
    root = _unpack(exported["q4zip"], tmp_path / "fresh")
    assert list(_auditor_checks(root)) == [0, 0, 0]
    assert "sha256sum -c SHA256SUMS" in (root / "VERIFY.md").read_text()
    files = sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file())
    bad = _unpack(exported["q4zip"], tmp_path / "bad")
    for rel in files:
        content = (root / rel).read_bytes()
        for pos in sorted({0, len(content) // 2, len(content) - 1}):
            changed = bytearray(content)
            changed[pos] ^= 0x01
            _replace(bad / rel, bytes(changed))  # the bundle with this one byte changed
            assert _one_check_fails(bad), (rel, pos)
        _replace(bad / rel, content)


@pytest.mark.skipif(
    not all(shutil.which(t) for t in ("bash", "unzip", "sha256sum", "openssl", "tail")),
    reason="needs bash, unzip, sha256sum, openssl",
)
def test_verify_md_commands_work_as_written(exported: dict[str, Any], tmp_path: Path) -> None:
    """An auditor copies VERIFY.md's commands as they are: they unpack, check, and print
    what VERIFY.md says success looks like; its fingerprint command gives the signer's."""
    text = _member(exported["q4zip"], "VERIFY.md").decode()
    block = [line[4:] for line in text.splitlines() if line.startswith("    ")]
    script = "\n".join(block).replace("BUNDLE.zip", str(exported["q4zip"]))
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout.splitlines()
    assert "Signature Verified Successfully" in out and out[-1].startswith("OK:")
    assert all(
        line.endswith(": OK") for line in out[: out.index("Signature Verified Successfully")]
    )
    (command,) = re.findall(r"`(openssl pkey [^`]+)`", text)
    digest = subprocess.run(
        ["bash", "-c", command], cwd=tmp_path / "bundle", capture_output=True, text=True
    ).stdout.split()[0]
    assert f"SHA256:{digest}" == exported["summary"]["signer"]


def test_verify_md_says_first_what_the_bundle_covers(exported: dict[str, Any]) -> None:
    """An auditor opening VERIFY.md first read only how to check the bundle: not which
    period, runs, environments or frameworks it covers, nor where to start reading, nor
    how to read the journals' events (JSON kept as strings)."""
    text = _member(exported["q4zip"], "VERIFY.md").decode()
    first, _, rest = text.partition("# Verifying this bundle")
    words = " ".join(first.split())
    assert first.startswith("# DR drill evidence: 2026-Q4\n")
    # and how they ended: "2 run(s)" alone left that to report.html
    assert "2 run(s) of mini on lab (2 failed), 2 finding(s)" in words, words
    assert "mapped to the controls of soc2, nist" in words and "report.html" in words
    assert "# Reading the journals" in rest and '"kind": "step_run.update"' in rest
    # the times inside an event's data carry no zone: VERIFY.md says which one
    assert "Every time in an event is UTC" in " ".join(rest.split())
    # and what a status, met null, exit_code or rto_s/rpo_s in runs.json/.csv mean
    words = " ".join(rest.split("# Reading runs.json and runs.csv")[1].split())
    for said in ("`aborted` (stopped by a signal", "`rollback_failed` (a rollback failed"):
        assert said in words, words
    assert "or null when it was not judged: `met_reason`" in words
    # every kind of file under journals/RUN_ID/ is said (a crashed run's
    # 7-recovery-log.jsonl and an experiment's 2-journal-….json were not)
    about = " ".join(first.split()) + " ".join(rest.split())
    for kind in ("N-run-log.jsonl", "N-recovery-log.jsonl", "N-journal-EXPERIMENT.json"):
        assert f"`journals/RUN_ID/{kind}`" in about or f"`{kind}`" in about, kind
    # what true means without objectives (an experiment: 'objectives_met True' with every
    # objective empty), and false for a failed scenario whose measurements held
    assert "a scenario with neither, such as an experiment, is judged on passing alone" in words
    assert "false when it missed one or failed (a step failed, an experiment deviated" in words
    assert "`exit_code` is drill's exit status (0 succeeded, 3 aborted, 1 otherwise)" in words


def test_verify_md_says_where_the_journal_piece_starts_and_ends(exported: dict[str, Any]) -> None:
    """`journal/events.jsonl` was said to start after "the head before the period (#0
    000…000)" — for a journal that begins in the period — and not where it ends (the last
    event of the exported runs, not the head), nor why other runs' events are in it."""
    for bundle in ("q4zip", "q3zip"):
        text = " ".join(_member(exported[bundle], "VERIFY.md").decode().split())
        journal = json.loads(_member(exported[bundle], "manifest.json"))["journal"]
        before, last = journal["head_before"], journal["last"]
        assert f"ends with the last event of the exported runs (#{last['seq']})" in text
        assert "also holds the events of other runs written in between" in text
        if before["seq"] == 0:
            assert "(none: the journal begins with this period, so that `prev` is 64 zeros)" in text
            assert "#0 " not in text
        else:
            assert f"head before the period (#{before['seq']} {before['hash']})" in text
    seqs = {
        json.loads(_member(exported[b], "manifest.json"))["journal"]["head_before"]["seq"]
        for b in ("q4zip", "q3zip")
    }
    assert 0 in seqs and len(seqs) == 2, seqs  # both cases were seen


def test_verify_md_of_a_period_with_nothing_recorded_says_its_journal_is_empty(
    exported: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A quarter without a run (an auditor asking for one: a finding of its own) said its
    events.jsonl was 'an unbroken piece of the evidence journal' starting after 'the
    journal's head before the period (none: no events)', ending with 'the last event of
    the exported runs (none: no events)' and 'also holding the events of other runs'."""
    monkeypatch.chdir(exported["root"])
    assert _cli("evidence", "export", "--period", "2026-Q1", "--out", "q1.zip")[0] == 0
    bundle = exported["root"] / "q1.zip"
    assert _member(bundle, "journal/events.jsonl") == b""
    text = " ".join(_member(bundle, "VERIFY.md").decode().split())
    head = json.loads(_member(bundle, "manifest.json"))["journal"]["head"]
    assert (
        "3. `journal/events.jsonl` is empty: this export holds no run and no finding, so no "
        "piece of the evidence journal either, and `python3 journal/verify_chain.py` prints "
        "`OK: the period holds no events`. The journal's head when this bundle was made was "
        f"#{head['seq']} {head['hash']}."
    ) in text, text
    assert "none: no events" not in text and "unbroken piece" not in text
    assert _cli("evidence", "verify", str(bundle))[0] == 0


@pytest.mark.parametrize(
    ("cut", "said"),
    [
        (
            slice(1, None),
            "journal/events.jsonl begins with event #{first_plus}, but manifest.json "
            "says it begins after event #{before} (journal.head_before)",
        ),
        (
            slice(None, -1),
            "journal/events.jsonl ends with event #{last_minus}, but manifest.json "
            "says with event #{last} (journal.last)",
        ),
    ],
)
def test_verify_chain_names_lines_cut_from_either_end_of_the_piece(
    exported: dict[str, Any], tmp_path: Path, cut: slice, said: str
) -> None:
    """The first (or last) lines of events.jsonl removed still chain: verify_chain.py
    blamed a run journal ('journals/r-….json: event #N is not in the verified chain') or,
    when no run's event was cut, said OK. It now holds the piece to the ends manifest.json
    gives, and says which end was cut."""
    root = _unpack(exported["q4zip"], tmp_path / "b")
    events = root / "journal" / "events.jsonl"
    lines = events.read_text().splitlines(keepends=True)
    journal = json.loads((root / "manifest.json").read_text())["journal"]
    _replace(events, "".join(lines[cut]).encode())
    python3 = shutil.which("python3")
    assert python3 is not None
    done = subprocess.run(
        [python3, "-I", "-S", "journal/verify_chain.py"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    expected = said.format(
        first_plus=journal["head_before"]["seq"] + 2,
        before=journal["head_before"]["seq"],
        last_minus=journal["last"]["seq"] - 1,
        last=journal["last"]["seq"],
    )
    assert done.returncode == 1 and done.stdout.startswith(f"FAILED: {expected}"), done.stdout


def test_events_jsonl_is_the_stored_journal(exported: dict[str, Any]) -> None:
    import hashlib

    lines = [
        json.loads(line)
        for line in _member(exported["q4zip"], "journal/events.jsonl").decode().splitlines()
    ]
    assert lines and all(set(e) == {"seq", "prev", "hash", "event"} for e in lines)
    for e in lines:
        assert e["hash"] == hashlib.sha256(f"{e['prev']}\n{e['event']}".encode()).hexdigest()
    runs = {json.loads(e["event"])["run"] for e in lines}
    assert set(exported["q4"]) <= runs and not set(exported["q3"]) & runs
    manifest = json.loads(_member(exported["q4zip"], "manifest.json"))
    assert manifest["journal"]["head_before"]["hash"] == lines[0]["prev"]
    assert manifest["journal"]["head_before"]["seq"] == lines[0]["seq"] - 1 > 0


def test_oscal_validates_with_compliance_trestle(exported: dict[str, Any]) -> None:
    from trestle.oscal.assessment_results import AssessmentResults

    doc = json.loads(_member(exported["q4zip"], "oscal/assessment-results.json"))
    ar = AssessmentResults.model_validate(doc["assessment-results"])
    result = ar.results[0]
    controls = {
        c.control_id
        for sel in result.reviewed_controls.control_selections
        for c in sel.include_controls or []
    }
    assert controls == {"a1.3", "cc7.5", "cp-4", "cp-9", "cp-10"}
    assert len([o for o in result.observations or [] if "Drill run" in o.title]) == 2
    states = {f.title.split(":")[0]: f.target.status.state.value for f in result.findings or []}
    assert set(states.values()) <= {"satisfied", "not-satisfied"} and len(states) == 5


def test_control_mapping_files_name_the_controls(exported: dict[str, Any]) -> None:
    soc2 = json.loads(_member(exported["q4zip"], "controls/soc2.json"))
    nist = json.loads(_member(exported["q4zip"], "controls/nist.json"))
    assert [c["control_id"] for c in soc2["results"]] == ["A1.3", "CC7.5"]
    assert [c["control_id"] for c in nist["results"]] == ["CP-4", "CP-9", "CP-10"]
    # the deviating scenario raised open findings without an owner: CC7.5 lacks evidence
    cc75 = soc2["results"][1]
    assert cc75["satisfied"] is False and any("findings_tracked" in m for m in cc75["missing"])
    # evidence that is not there at all is named with what was looked for
    cp9 = nist["results"][1]
    assert (
        cp9["satisfied"] is False
        and (
            "backup_restore_tested: nothing in this export shows that a backup or "
            "point-in-time restore was exercised"
        )
        in cp9["missing"]
    )


def test_html_is_self_contained(exported: dict[str, Any]) -> None:
    html = _member(exported["q4zip"], "report.html").decode()
    assert "<script" not in html and "<link" not in html and "@import" not in html
    assert "src=" not in html and "url(" not in html
    assert html.count("<svg") >= 3  # objectives chart + one timeline per run
    for run_id in exported["q4"]:
        assert f'id="run-{run_id}"' in html
    assert "deviates" in html and "Findings and corrective actions" in html
    # the whole signer fingerprint, to compare with the published one (it was cut at 16
    # hex digits, and ran into "verified"), and every control's evidence listed
    signer = exported["summary"]["signer"]
    assert f"verified · signed by <code>{signer}</code>" in " ".join(html.split())
    assert html.count("<details>") >= 5
    assert "(<code>dr_test_executed</code>)</span>: <b>2</b> item(s)" in html


PDFTOTEXT = shutil.which("pdftotext")


@pytest.mark.skipif(
    PDFTOTEXT is None,
    reason="pdftotext not installed (CI installs it: apt-get install -y poppler-utils)",
)
def test_every_report_says_in_words_what_backs_each_control(
    exported: dict[str, Any], tmp_path: Path
) -> None:
    """The controls listed bare evidence-kind names (`dr_test_executed: 2 item(s)`), and
    the PDF only "satisfied" with no evidence at all: an auditor without drill's glossary
    could not tell what a control was satisfied by. Each report now says it in words, and
    that all times are UTC."""
    meaning = (
        "a drill, runbook or experiment was executed and judged in the period, passed or "
        "failed (an aborted, crashed, skipped or dry run is not counted)"
    )
    soc2 = json.loads(_member(exported["q4zip"], "controls/soc2.json"))
    assert soc2["results"][0]["evidence_meaning"]["dr_test_executed"] == meaning
    html = " ".join(_member(exported["q4zip"], "report.html").decode().split())
    assert f'{meaning} <span class="meta">(<code>dr_test_executed</code>)' in html
    assert "All times are UTC" in html
    made = datetime.fromisoformat(
        json.loads(_member(exported["q4zip"], "manifest.json"))["generated_at"]
    )  # exported at the wall clock's time: in 2026-Q4 itself, or after it
    q4 = "2026-Q4 (2026-10-01 to 2026-12-31, UTC" + (
        "; not over when this was exported)" if made < datetime(2027, 1, 1, tzinfo=UTC) else ")"
    )
    assert f"Period <b>{q4}</b>" in html
    verify_md = " ".join(_member(exported["q4zip"], "VERIFY.md").decode().split())
    assert f"covering {q4}: 2 run(s)" in verify_md
    q3 = " ".join(_member(exported["q3zip"], "VERIFY.md").decode().split())
    assert "covering 2026-07-01 to 2026-09-30 (UTC): 1 run(s)" in q3, q3[:400]
    oscal = _member(exported["q4zip"], "oscal/assessment-results.json").decode()
    assert f"Evidence required: {meaning} (dr_test_executed)" in oscal
    # mini's experiments have no RTO/RPO objective: nothing to meet, they passed or failed
    assert "met their objectives" not in oscal
    assert "1 of 2 without an RTO/RPO objective passed" in oscal
    assert "no RTO/RPO objective; passed" in html and "no RTO/RPO objective; failed" in html
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(_member(exported["q4zip"], "report.pdf"))
    assert PDFTOTEXT is not None
    text = subprocess.run(
        [PDFTOTEXT, str(pdf), "-"], check=True, capture_output=True, text=True, timeout=60
    ).stdout
    words = " ".join(text.split())
    assert "All times are UTC" in words and "Evidence (items in this export)" in words
    assert "Period 2026-Q4 (2026-10-01 to 2026-12-31, UTC" in words
    assert f"{meaning}: 2" in words, words[:3000]
    assert "MISSING: backup_restore_tested: nothing in this export shows that" in words
    assert "passed (no objective)" in words and "failed (no objective)" in words


def _nonblank_png(path: Path) -> None:
    from PIL import Image

    with Image.open(path) as img:
        colours = img.convert("RGB").getcolors(maxcolors=1 << 16)
    assert colours is None or len(colours) > 20, "the rendering is blank"


@pytest.mark.skipif(
    CHROMIUM is None, reason="chromium not installed (CI installs it: apt-get install -y chromium)"
)
def test_html_report_renders_in_headless_chromium(exported: dict[str, Any], tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_bytes(_member(exported["q4zip"], "report.html"))
    shot = tmp_path / "shot.png"
    assert CHROMIUM is not None
    proc = subprocess.run(
        [
            CHROMIUM,
            *CHROMIUM_ARGS,
            f"--user-data-dir={tmp_path / 'profile'}",
            "--window-size=1280,2000",
            f"--screenshot={shot}",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert shot.is_file(), proc.stderr[-2000:]
    _nonblank_png(shot)


@pytest.mark.skipif(
    PDFTOPPM is None,
    reason="pdftoppm not installed (CI installs it: apt-get install -y poppler-utils)",
)
def test_pdf_report_opens_with_pdftoppm(exported: dict[str, Any], tmp_path: Path) -> None:
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(_member(exported["q4zip"], "report.pdf"))
    assert PDFTOPPM is not None
    subprocess.run(
        [PDFTOPPM, "-png", "-r", "50", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "page")],
        check=True,
        capture_output=True,
        timeout=60,
    )
    pages = list(tmp_path.glob("page*.png"))
    assert pages
    _nonblank_png(pages[0])


def test_single_run_report(
    exported: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(exported["root"])
    run_id = exported["q4"][0]
    assert main(["report", run_id, "--html", "--out", str(tmp_path / "r.html")]) == 0
    assert main(["report", run_id, "--pdf", "--out", str(tmp_path / "r.pdf")]) == 0
    assert run_id in (tmp_path / "r.html").read_text()
    assert (tmp_path / "r.pdf").read_bytes().startswith(b"%PDF")
    # what it covers: one run (it read "Period run r-…")
    assert f'<p class="meta"><b>Run {run_id}</b>' in (tmp_path / "r.html").read_text()
    if PDFTOTEXT:
        pdf = subprocess.run(
            [PDFTOTEXT, str(tmp_path / "r.pdf"), "-"], capture_output=True, text=True, check=True
        ).stdout
        assert f"Run {run_id}. Generated" in " ".join(pdf.split())


def test_a_configured_signing_key_that_is_missing_is_not_made_anew(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """signing_key in drill.yaml names a file that is not there: exit 2 naming it (a new
    key was made there silently, and the bundle signed by a key nobody publishes)."""
    (workdir / "drill.yaml").write_text("signing_key: secrets/prod-signing.pem\n")
    capsys.readouterr()
    assert _cli("evidence", "export", "--period", "2026-Q4", "--out", "q.zip")[0] == 2
    err = capsys.readouterr().err
    assert "signing key not found" in err and "prod-signing.pem" in err
    assert not (workdir / "secrets").exists() and not (workdir / "q.zip").exists()


def test_one_run_exports_alone(exported: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """`--run RUN_ID`: a bundle of that run only, checked like a period's."""
    monkeypatch.chdir(exported["root"])
    run_id = exported["q4"][1]
    code, out = _cli("evidence", "export", "--run", run_id, "--out", "one.zip", "--json")
    assert code == 0 and json.loads(out)["period"] == f"run {run_id}"
    bundle = exported["root"] / "one.zip"
    runs = json.loads(_member(bundle, "runs.json"))["runs"]
    assert [r["id"] for r in runs] == [run_id]
    with zipfile.ZipFile(bundle) as zf:
        assert [n for n in zf.namelist() if n.count("/") == 1 and n.startswith("journals/")] == [
            f"journals/{run_id}.json"
        ]
    manifest = json.loads(_member(bundle, "manifest.json"))
    assert manifest["period"]["label"] == f"run {run_id}" and manifest["runs"] == 1
    assert _cli("evidence", "verify", str(bundle))[0] == 0


@pytest.mark.parametrize(
    "args",
    [
        ["--run", "r-nope"],
        ["--run", "r-nope", "--period", "2026-Q4"],
        ["--run", "r-nope", "--env", "lab"],
    ],
)
def test_bad_run_export_is_a_clear_error(
    exported: dict[str, Any],
    args: list[str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(exported["root"])
    capsys.readouterr()
    assert _cli("evidence", "export", *args, "--out", "bad.zip")[0] == 2
    err = capsys.readouterr().err
    assert err.startswith("drill: error: ") and ("--run" in err or "no run 'r-nope'" in err)
    assert not (exported["root"] / "bad.zip").exists()


def test_a_framework_given_twice_is_exported_once(
    exported: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--framework soc2 --framework SOC2`: one controls/soc2.json, and the bundle verifies
    (the zip held the file twice, which its own verify refused, with a Python warning)."""
    monkeypatch.chdir(exported["root"])
    args = ["--framework", "soc2", "--framework", "SOC2", "--out", "twice.zip", "--json"]
    code, out = _cli("evidence", "export", "--period", "2026-Q4", *args)
    assert code == 0 and json.loads(out)["files"].count("controls/soc2.json") == 1
    assert "Duplicate name" not in capsys.readouterr().err
    assert _cli("evidence", "verify", str(exported["root"] / "twice.zip"))[0] == 0
    oscal = json.loads(_member(exported["root"] / "twice.zip", "oscal/assessment-results.json"))
    (result,) = oscal["assessment-results"]["results"]
    ids = [
        c["control-id"]
        for c in result["reviewed-controls"]["control-selections"][0]["include-controls"]
    ]
    assert sorted(ids) == ["a1.3", "cc7.5"]


def test_frameworks_separated_by_commas_are_each_exported(
    exported: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--framework soc2,iso27001` was refused as one unknown framework 'soc2,iso27001';
    commas and repeats mix, each framework once."""
    monkeypatch.chdir(exported["root"])
    args = ["--framework", "soc2, ISO27001", "--framework", "soc2", "--out", "two.zip", "--json"]
    code, out = _cli("evidence", "export", "--period", "2026-Q4", *args)
    assert code == 0, out
    controls = [f for f in json.loads(out)["files"] if f.startswith("controls/")]
    assert controls == ["controls/iso27001.json", "controls/soc2.json"]
    assert _cli("evidence", "verify", str(exported["root"] / "two.zip"))[0] == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--period", "2026-Q4", "--framework", "soc2,"], "an empty framework name"),
        (["--period", "2026-Q4", "--framework", "soc2,sox"], "unknown framework 'sox'"),
        (["--period", "2026-Q5"], "is not a quarter"),
        (["--period", "2026-Q4", "--from", "2026-01-01"], "not both"),
        (["--from", "2026-02-30", "--to", "2026-03-01"], "is not a date"),
        (["--period", "2026-Q4", "--framework", "sox"], "unknown framework"),
        (["--period", "2026-Q4", "--key", "missing.pem"], "signing key not found"),
        (["--period", "2026-Q4", "--key", "."], "signing key . cannot be read: Is a directory"),
        # read until memory ran out: "internal error: MemoryError" (a FIFO hung for good)
        (["--period", "2026-Q4", "--key", "/dev/zero"], "/dev/zero is not a regular file"),
        (["--period", "2026-Q4", "--env", "prdo"], "--env 'prdo': no such environment"),
    ],
)
def test_bad_export_input_is_a_clear_error(
    exported: dict[str, Any],
    args: list[str],
    message: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(exported["root"])
    capsys.readouterr()
    assert main(["evidence", "export", *args, "--out", "x.zip"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("drill: error: ") and message in err, err
    assert not (exported["root"] / "x.zip").exists()
