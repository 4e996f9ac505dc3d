"""Lab probes: health, writability, replication lag, Multi-AZ, app health, data integrity.

Each returns ``{"ok": bool, ...}`` with a ``reason`` when not ok. Writability is
judged with a client-side deadline: a commit stuck waiting for a synchronous standby
that no longer exists would be "successful" to ``statement_timeout`` (PostgreSQL
cancels the wait and keeps the commit), so only the client's own clock tells the truth.
"""

from __future__ import annotations

import contextlib
import threading
import time
import urllib.error
import urllib.request
from typing import Any

from orchestrator.errors import LabError
from orchestrator.providers.base import StepContext
from orchestrator.providers.lab import data, pg
from orchestrator.providers.lab.ops import Lab, component_for, dsn_for, op


def timed_write(dsn: str, timeout: float = 3.0) -> tuple[bool, str]:
    """Commit one row within ``timeout`` seconds (client clock); (ok, reason)."""
    import psycopg

    result: dict[str, Any] = {}

    def work() -> None:
        try:
            with psycopg.connect(dsn, connect_timeout=2, autocommit=True) as conn:
                result["conn"] = conn
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS drill_lab_probe "
                    "(id bigserial PRIMARY KEY, at timestamptz DEFAULT now())"
                )
                conn.execute("INSERT INTO drill_lab_probe DEFAULT VALUES")
                result["ok"] = True
        except Exception as exc:
            result["error"] = str(exc).strip()[:300]

    t = threading.Thread(target=work, daemon=True)
    t.start()
    t.join(timeout)
    if t.is_alive():
        conn = result.get("conn")
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.cancel()
        return False, f"write not acknowledged within {timeout:g}s (blocked on sync standby?)"
    if result.get("ok"):
        return True, "committed"
    return False, result.get("error", "write failed")


@op("db.health")
def db_health(lab: Lab, args: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
    target = args.get("target", "db")
    if target == "app":
        return app_health(lab, {}, ctx)
    import psycopg

    dsn = dsn_for(lab.state(), target)
    t0 = time.monotonic()
    try:
        with psycopg.connect(dsn, connect_timeout=3, autocommit=True) as conn:
            row = conn.execute("SELECT pg_is_in_recovery(), inet_server_port()").fetchone()
    except psycopg.Error as exc:
        return {"ok": False, "target": target, "reason": str(exc).strip()[:300]}
    assert row is not None
    return {
        "ok": True,
        "target": target,
        "in_recovery": row[0],
        "server_port": row[1],
        "latency_ms": round((time.monotonic() - t0) * 1000, 1),
    }


@op("db.writable")
def db_writable(lab: Lab, args: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
    target = args.get("target", "db")
    ok, reason = timed_write(dsn_for(lab.state(), target))
    return {"ok": ok, "target": target, "reason": reason}


@op("db.replication_lag")
def replication_lag(lab: Lab, args: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
    st = lab.state()
    name = component_for(st, args.get("target", "dr_replica"))
    budget = float(args.get("max_lag_s", 60.0))
    if name == st.primary or (name == "usw2" and st.usw2_promoted):
        return {"ok": False, "target": name, "reason": f"{name} is a primary, not a replica"}
    try:
        row = pg.replication(st.comp(st.primary).port or 0).get(name)
    except LabError as exc:
        return {"ok": False, "target": name, "reason": exc.message}
    if not row or row.get("state") != "streaming":
        return {"ok": False, "target": name, "reason": f"{name} is not streaming"}
    lag = 0.0 if not row["lag_bytes"] else float(row["replay_lag_s"] or 0.0)
    return {
        "ok": lag <= budget,
        "target": name,
        "lag_s": lag,
        "lag_bytes": row["lag_bytes"],
        "max_lag_s": budget,
        **({} if lag <= budget else {"reason": f"lag {lag:.1f}s > {budget:g}s"}),
    }


@op("db.multi_az")
def multi_az(lab: Lab, args: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
    st = lab.state()
    if st.standby is None:
        return {"ok": False, "primary": st.primary, "reason": "no standby (run db.reprotect)"}
    try:
        row = pg.replication(st.comp(st.primary).port or 0).get(st.standby) or {}
    except LabError as exc:
        return {"ok": False, "primary": st.primary, "reason": exc.message}
    ok = row.get("sync_state") == "sync" and row.get("state") == "streaming"
    return {
        "ok": ok,
        "primary": st.primary,
        "standby": st.standby,
        "sync_state": row.get("sync_state"),
        **({} if ok else {"reason": f"standby {st.standby} is not a sync streaming standby"}),
    }


@op("app.health")
def app_health(lab: Lab, args: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
    url = lab.state().endpoints()["app"]
    try:
        with urllib.request.urlopen(url, timeout=3) as resp:
            return {
                "ok": resp.status == 200,
                "status": resp.status,
                "backend": resp.headers.get("X-Drill-Backend"),
            }
    except urllib.error.HTTPError as exc:
        return {"ok": False, "status": exc.code, "reason": f"HTTP {exc.code}"}
    except OSError as exc:
        return {"ok": False, "reason": str(exc)}


@op("data.verify")
def data_verify(lab: Lab, args: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
    st = lab.state()
    target = args.get("target", "db")
    assert st.dataset is not None
    dsn = dsn_for(st, target)  # a bad target is an error, not a failed probe
    try:
        seen = data.fingerprint(dsn)
    except LabError as exc:
        return {"ok": False, "target": target, "reason": exc.message}
    ok = seen == st.dataset
    return {
        "ok": ok,
        "target": target,
        "rows": seen.rows,
        "checksum": seen.checksum,
        "expected_rows": st.dataset.rows,
        "expected_checksum": st.dataset.checksum,
        **({} if ok else {"reason": "dataset differs from the one recorded at lab up"}),
    }
