"""Output paths (issue 18 item 8) and bundle member names (item 9's zip-slip).

``--out`` only ever creates or replaces a regular file: a symlink (``/dev/stdout`` is
one), a device, a FIFO or a directory there is refused with exit 2 and left exactly as
it was. Devices are made with mknod inside the test's own directory (root only), so
a regression could never touch a real device.
"""

from __future__ import annotations

import gc
import os
import stat
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from orchestrator.report.model import ArtifactView
from tests.clihelp import drill
from tests.e2e.defs import write

TODAY = datetime.now(UTC).date().isoformat()


def _export(capsys: pytest.CaptureFixture[str], out: Path | str):
    return drill(capsys, "evidence", "export", "--from", TODAY, "--to", TODAY, "--out", str(out))


def _hostile_targets(root: Path) -> dict[str, Path]:
    target = root / "precious.txt"
    target.write_text("keep me")
    targets = {
        "a symbolic link": root / "link.zip",
        "a FIFO": root / "fifo",
        "a directory": root / "dir",
    }
    targets["a symbolic link"].symlink_to(target)
    os.mkfifo(targets["a FIFO"])
    targets["a directory"].mkdir()
    if os.geteuid() == 0:
        targets["a character device"] = root / "null"
        os.mknod(targets["a character device"], stat.S_IFCHR | 0o666, os.makedev(1, 3))
        os.chmod(targets["a character device"], 0o666)  # (mknod applies the umask)
    return targets


def _unchanged(root: Path, targets: dict[str, Path]) -> None:
    assert (root / "precious.txt").read_text() == "keep me"
    assert targets["a symbolic link"].is_symlink()
    assert stat.S_ISFIFO(os.lstat(targets["a FIFO"]).st_mode)
    assert targets["a directory"].is_dir()
    if "a character device" in targets:
        st = os.lstat(targets["a character device"])
        assert stat.S_ISCHR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o666
    assert not list(root.glob(".drill-*.tmp")), "no temporary file is left behind"


def test_export_out_refuses_what_is_not_a_regular_file(workdir: Path, capsys) -> None:
    assert drill(capsys, "evidence", "keygen").code == 0
    targets = _hostile_targets(workdir)
    for what, path in targets.items():
        res = _export(capsys, path)
        assert res.code == 2, (what, res.err)
        assert f"drill: error: --out {path} is {what}" in res.err
    _unchanged(workdir, targets)


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("precious.txt/x.zip", "not a directory"),
        ("a" * 300 + ".zip", "file name too long"),
    ],
)
def test_export_out_bad_paths_are_usage_errors(workdir: Path, capsys, name: str, says: str) -> None:
    (workdir / "precious.txt").write_text("keep me")
    assert drill(capsys, "evidence", "keygen").code == 0
    res = _export(capsys, workdir / name)
    assert res.code == 2 and "drill: error: --out " in res.err and says in res.err, res.err
    assert "internal error" not in res.err
    assert (workdir / "precious.txt").read_text() == "keep me"


def test_export_out_creates_directories_and_replaces_a_regular_file(workdir: Path, capsys) -> None:
    assert drill(capsys, "evidence", "keygen").code == 0
    assert drill(capsys, "recover").code == 0  # a writer makes the store (a read makes none)
    nested = workdir / "new" / "dirs" / "b.zip"
    assert _export(capsys, nested).code == 0
    old = workdir / "old.zip"
    old.write_text("an earlier bundle")
    assert _export(capsys, old).code == 0
    assert zipfile.is_zipfile(old) and zipfile.is_zipfile(nested)


def test_out_never_replaces_an_evidence_database_or_a_private_key(workdir: Path, capsys) -> None:
    """`--out .drill/evidence.db` replaced the evidence database with the bundle (every
    record lost); `--out` onto the signing key, the key. Any SQLite database or private
    key at the path is refused (exit 2) and left as it was; `keygen --force` still
    replaces a key on purpose."""
    import sqlite3

    assert drill(capsys, "evidence", "keygen").code == 0
    assert drill(capsys, "recover").code == 0  # a writer makes the store (a read makes none)
    assert drill(capsys, "evidence", "verify").code == 0  # the store exists
    db = workdir / ".drill" / "evidence.db"
    key = workdir / ".drill" / "keys" / "evidence-ed25519.pem"
    other = workdir / "another.sqlite"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    # the in-process commands above leave a connection to the store in a reference cycle:
    # when the collector frees it, SQLite checkpoints the WAL into evidence.db, which
    # changed the file's bytes in the middle of the checks below (mostly under pytest -n)
    gc.collect()
    kept = {p: p.read_bytes() for p in (db, key, other)}
    for path, what in (
        (db, "a SQLite database"),
        (key, "a private key"),
        (other, "a SQLite database"),
    ):
        res = _export(capsys, path)
        assert res.code == 2 and f"drill: error: --out {path} is {what}" in res.err, res.err
    assert {p: p.read_bytes() for p in kept} == kept
    assert drill(capsys, "evidence", "verify").code == 0
    assert drill(capsys, "evidence", "keygen", "--out", str(key), "--force").code == 0
    assert key.read_bytes() != kept[key]


def test_keygen_out_never_writes_through_a_link_or_onto_a_device(workdir: Path, capsys) -> None:
    targets = _hostile_targets(workdir)
    for what, path in targets.items():
        res = drill(capsys, "evidence", "keygen", "--out", str(path), "--force")
        assert res.code == 2, (what, res.err)
        assert f"is {what}" in res.err
    _unchanged(workdir, targets)
    assert not list(workdir.glob("*.pub"))
    # the public key's path is checked too, before anything is written
    (workdir / "k.pem.pub").symlink_to(workdir / "precious.txt")
    res = drill(capsys, "evidence", "keygen", "--out", str(workdir / "k.pem"))
    assert res.code == 2 and "public key" in res.err and "symbolic link" in res.err
    assert not (workdir / "k.pem").exists()
    _unchanged(workdir, targets)


def test_keygen_key_is_private_from_its_creation(workdir: Path, capsys) -> None:
    res = drill(capsys, "evidence", "keygen", "--out", str(workdir / "keys" / "k.pem"))
    assert res.code == 0, res.err
    assert stat.S_IMODE(os.stat(workdir / "keys" / "k.pem").st_mode) == 0o600
    again = drill(capsys, "evidence", "keygen", "--out", str(workdir / "keys" / "k.pem"))
    assert again.code == 2 and "already exists" in again.err


@pytest.mark.parametrize("ident", ["../../../tmp/x", "a/b", "..", "Upper Case"])
def test_unsafe_experiment_id_is_refused_by_validate_and_run(
    workdir: Path, capsys, ident: str
) -> None:
    exp = write(
        workdir,
        "exp.yaml",
        f"""title: hostile id
description: its id would be a path inside the bundle
id: "{ident}"
method:
  - type: probe
    name: root-exists
    provider: {{type: python, module: os.path, func: exists, arguments: {{path: /}}}}
""",
    )
    res = drill(capsys, "validate", str(exp))
    assert res.code == 2 and f"{exp}:3" in res.err and "must be lowercase" in res.err, res.err
    run = drill(capsys, "run", str(exp), "--json")
    assert run.code == 2 and run.out == ""


def test_bundle_paths_are_plain_names_whatever_was_stored() -> None:
    """A store written before ids were checked may hold any artifact name."""
    art = ArtifactView(
        id=7,
        run_id="r-1/../..",
        name="journal-../../../tmp/x.json",
        media_type="application/json",
        sha256="0" * 64,
        size=1,
    )
    path = art.bundle_path
    assert path.startswith("journals/") and ".." not in path.split("/")
    assert all(part and not part.startswith(".") for part in path.split("/"))


def test_unsafe_drill_scenario_id_is_refused(workdir: Path, capsys) -> None:
    write(
        workdir,
        "runbooks/rb.yaml",
        "id: rb\ntitle: rb\nscenario: test\nsteps:\n"
        "  - name: wait\n    kind: wait\n    duration: 1s\n",
    )
    drill_file = write(
        workdir,
        "drills/d.yaml",
        "id: d\ntitle: d\nscenarios:\n  - runbook: rb\n    id: ../../../tmp/x\n",
    )
    res = drill(capsys, "validate", str(drill_file))
    assert res.code == 2 and f"{drill_file}:5" in res.err, res.err
