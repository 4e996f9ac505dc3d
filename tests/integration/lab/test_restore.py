"""Backup vault and point-in-time restore into a NEW instance, on the real lab."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import psycopg
import pytest
from pydantic import ValidationError

from orchestrator import pgbin
from orchestrator.errors import LabError
from orchestrator.providers.lab import procs
from tests.integration.lab.conftest import LabHandle

pytestmark = pytest.mark.lab


def test_backup_is_recorded_with_checksums(lab: LabHandle) -> None:
    out = lab.call("backup.create")
    manifest = json.loads((lab.root / "vault" / "manifest.json").read_text())
    entry = next(b for b in manifest["backups"] if b["id"] == out["backup_id"])
    assert set(entry["files"]) >= {"base.tar", "backup_manifest"}
    assert all(len(d) == 64 for d in entry["files"].values())


def test_point_in_time_restore_before_drop_table_brings_it_back(lab: LabHandle) -> None:
    db = lab.status()["endpoints"]["db"]
    lab.call("backup.create")
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("CREATE TABLE orders (id int)")
        conn.execute("INSERT INTO orders SELECT generate_series(1, 50)")
    time.sleep(0.05)
    fault = datetime.now(UTC)
    lab.call("data.drop_table", table="drill_dataset")
    lab.call("data.drop_table", table="orders")
    assert lab.call("data.verify", target="db")["ok"] is False

    out = lab.call(
        "db.restore",
        marks={"fault_injected": fault},
        source="backup_vault",
        point_in_time="disaster",
    )
    name = out["instance"]
    assert name.startswith("restored-") and out["rollback_args"] == {"new_instance": name}
    assert out["restored_to"] == fault.isoformat()
    restored_port = lab.state().comp(name).port
    assert restored_port not in {c.port for n, c in lab.state().components.items() if n != name}
    assert lab.call("data.verify", target="restored")["ok"] is True
    with psycopg.connect(out["dsn"], autocommit=True) as conn:
        n = conn.execute("SELECT count(*) FROM orders").fetchone()
        assert n is not None and n[0] == 50
        conn.execute("INSERT INTO orders VALUES (51)")  # a writable, independent instance
    assert lab.call("data.verify", target="db")["ok"] is False  # the source is untouched

    deleted = lab.call("db.delete_restored", **out["rollback_args"])
    assert deleted["deleted"] == [name]
    assert name not in lab.state().components
    assert not procs.port_open(restored_port or 0)
    lab.call("data.recreate_table", table="drill_dataset")
    assert lab.call("data.verify", target="db")["ok"] is True


def test_latest_restore_and_a_corrupt_backup_is_refused(lab: LabHandle) -> None:
    out = lab.call("db.restore", point_in_time="latest", new_instance="latest-copy")
    assert out["instance"] == "latest-copy" and out["restored_to"] == "latest"
    assert lab.call("data.verify", target=out["dsn"])["ok"] is True
    lab.call("db.delete_restored", new_instance="latest-copy")
    manifest = json.loads((lab.root / "vault" / "manifest.json").read_text())
    newest = manifest["backups"][-1]["id"]
    tar = lab.root / "vault" / "base" / newest / "base.tar"
    with open(tar, "r+b") as fh:
        fh.seek(20000)
        fh.write(b"corrupted by the test")
    with pytest.raises(LabError, match="sha256"):
        lab.call("db.restore", point_in_time="latest")
    assert pgbin.free_port()  # nothing was left listening for a refused restore


def test_probe_targets_outside_loopback_are_refused(lab: LabHandle) -> None:
    from orchestrator.providers.lab.ops import check_loopback_dsn

    # the action's argument schema refuses them (so does `drill validate`), and the lab
    # checks again before it connects
    refused = (LabError, ValidationError)
    with pytest.raises(refused, match=r"127\.0\.0\.0/8"):
        lab.call("data.verify", target="host=10.0.1.5 port=5432 dbname=app user=drill")
    with pytest.raises(refused, match=r"127\.0\.0\.0/8"):  # URL form, with a parameter
        lab.call("data.verify", target="postgresql://drill@10.0.1.5:5432/app?sslmode=disable")
    with pytest.raises(LabError, match=r"127\.0\.0\.0/8"):
        check_loopback_dsn("postgresql://drill@10.0.1.5:5432/app?sslmode=disable")


def test_the_controller_takes_scheduled_backups(lab: LabHandle) -> None:
    from orchestrator.providers.lab.state import locked
    from tests.integration.lab.conftest import wait_until

    def scheduled() -> int:
        doc = json.loads((lab.root / "vault" / "manifest.json").read_text())
        return sum(1 for b in doc["backups"] if b["label"] == "scheduled")

    before = scheduled()
    with locked(lab.root) as st:
        st.backup_interval_s = 0.5
    try:
        wait_until(lambda: scheduled() > before, 60, "a scheduled backup")
    finally:
        with locked(lab.root) as st:
            st.backup_interval_s = 900.0
