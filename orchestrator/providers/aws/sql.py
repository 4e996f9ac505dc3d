"""SQL steps on AWS (db.writable, data.*) through the environment's probe DSN.

These need a network path to the database (``probes: {db: …}``: a tunnel or bastion,
or the DSN derived from ``primary_db`` in the state, see :mod:`.probedb`); with
``probes: none`` they fail with that reason rather than pretend. ``data.verify``
compares the known dataset (``drill_dataset``: row count + md5 over the ordered rows,
the lab's definition) with its fingerprint the first time this run saw it — the
precondition taken before any fault. ``target: restored`` reads the instance the last
``db.restore`` created, with the same credentials. Errors never carry the DSN.
"""

from __future__ import annotations

import re
from typing import Any

from orchestrator.errors import ProviderError
from orchestrator.providers.aws.context import AwsContext, call
from orchestrator.providers.base import PlannedCall, StepContext
from orchestrator.secrets import redact_text

DATASET = "drill_dataset"
_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def _dsn(c: AwsContext, target: str) -> str:
    from orchestrator.providers.aws.dsn import probe_dsn
    from orchestrator.providers.aws.probedb import db_dsn, db_probe

    probes = c.env.probes
    probe = db_probe(c)  # (probes: none is one of its reasons)
    if probe.why_not:
        raise ProviderError(
            f"SQL step on {target!r} needs a network path to the database ({probe.why_not})",
            "set probes: {db: DSN or secret ARN} for the environment "
            "(a tunnel or bastion), or use API probes (db.health)",
        )
    if target == "global_db" and probes is not None and probes != "none" and probes.global_db:
        return probe_dsn(c, probes.global_db) or ""
    if target == "global_db" and probe.derived is not None:
        from orchestrator.providers.aws.probedb import record_dsn

        return record_dsn(c, probe.derived) or ""
    if target == "restored":
        if not c.restored:
            raise ProviderError("no restored instance yet: run db.restore first")
        return instance_dsn(c, *c.restored) or ""
    if target == "clone":
        if not c.clone:
            raise ProviderError("no promoted clone yet: run db.promote_replica in isolated mode")
        return instance_dsn(c, *c.clone) or ""
    if target not in ("db", "global_db"):
        raise ProviderError(
            f"unknown SQL target {target!r}", "use db, global_db, restored or clone"
        )
    return db_dsn(c, probe) or ""


def instance_dsn(c: AwsContext, host: str | None, port: int | None) -> str | None:
    """The probe DSN's credentials (explicit or derived) for another instance (a
    restored one, the promoted replica); None without a network path (``probes:
    none``). Raises ConfigError for a non-loopback host when the environment talks to
    an emulator."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    from orchestrator.providers.aws.dsn import probe_dsn
    from orchestrator.providers.aws.probedb import db_dsn

    base = db_dsn(c) if host else None
    if not base:
        return None
    params = dict(conninfo_to_dict(base))
    params.update(host=host, port=port or 5432)
    dsn = make_conninfo("", **{k: v for k, v in params.items() if v is not None})
    return probe_dsn(c, dsn)  # the loopback guard again, for the new host


def probe_target(c: AwsContext, db: dict[str, Any] | None) -> dict[str, Any]:
    """``{"dsn": …}`` for an action's output when probes can reach instance ``db``
    (the observer then follows it: a restored instance, the promoted replica)."""
    from orchestrator.errors import ConfigError

    ep = (db or {}).get("Endpoint") or {}
    try:
        dsn = instance_dsn(c, ep.get("Address"), ep.get("Port"))
    except ConfigError:
        return {}  # not reachable from here: measured without it
    return {"dsn": dsn} if dsn else {}


def _sql(dsn: str, statements: list[str], timeout: float = 5.0) -> Any:
    import psycopg

    try:
        with psycopg.connect(dsn, connect_timeout=max(2, int(timeout)), autocommit=True) as conn:
            row = None
            for st in statements:
                cur = conn.execute(st)
                row = cur.fetchone() if cur.description else row
            return row
    except psycopg.Error as exc:
        raise ProviderError(redact_text(str(exc).strip().splitlines()[0])) from None


def _table(args: dict[str, Any]) -> str:
    table = str(args.get("table", DATASET))
    if not _IDENT.match(table):
        raise ProviderError(f"invalid table name {table!r}")
    return table


def _plan(what: str, mutating: bool, **arguments: Any) -> list[PlannedCall]:
    return [call("postgres", "probe DSN", what, mutating=mutating, **arguments)]


def plan_writable(c: AwsContext, args: dict[str, Any], mode: str) -> list[PlannedCall]:
    return _plan(
        "CREATE TABLE IF NOT EXISTS drill_probe; INSERT INTO drill_probe",
        False,
        target=args.get("target", "db"),
    )


def plan_verify(c: AwsContext, args: dict[str, Any], mode: str) -> list[PlannedCall]:
    return _plan(
        f"SELECT count(*) and an md5 of the rows of {DATASET}",
        False,
        target=args.get("target", "db"),
    )


def plan_drop(c: AwsContext, args: dict[str, Any], mode: str) -> list[PlannedCall]:
    return _plan(f"DROP TABLE {args.get('table', DATASET)}", True, target="db")


def plan_recreate(c: AwsContext, args: dict[str, Any], mode: str) -> list[PlannedCall]:
    table = args.get("table", DATASET)
    return _plan(
        f"CREATE TABLE {table} and INSERT its known rows, when it is missing",
        True,
        target="db",
    )


def writable(c: AwsContext, args: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
    target = args.get("target", "db")
    try:
        _sql(
            _dsn(c, target),
            [
                "CREATE TABLE IF NOT EXISTS drill_probe (id bigserial PRIMARY KEY, "
                "at timestamptz DEFAULT now())",
                "INSERT INTO drill_probe DEFAULT VALUES",
            ],
        )
    except ProviderError as exc:
        if "network path" in exc.message:
            raise
        return {"ok": False, "target": target, "reason": exc.message}
    return {"ok": True, "target": target}


def fingerprint(dsn: str, table: str = DATASET) -> tuple[int, str]:
    row = _sql(
        dsn,
        [
            f"SELECT count(*), coalesce(md5(string_agg(id::text || ':' || payload, "
            f"',' ORDER BY id)), '') FROM {table}"
        ],
    )
    return int(row[0]), str(row[1])


def verify(c: AwsContext, args: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
    target = args.get("target", "db")
    dsn = _dsn(c, target)
    try:
        rows, checksum = fingerprint(dsn)
    except ProviderError as exc:
        return {"ok": False, "target": target, "reason": exc.message}
    if c.dataset is None:
        c.dataset = (rows, checksum)
        return {
            "ok": rows > 0,
            "target": target,
            "rows": rows,
            "checksum": checksum,
            "baseline": True,
        }
    ok = (rows, checksum) == c.dataset
    return {
        "ok": ok,
        "target": target,
        "rows": rows,
        "checksum": checksum,
        "expected_rows": c.dataset[0],
        "expected_checksum": c.dataset[1],
        **({} if ok else {"reason": "dataset differs from the start of the run"}),
    }


def drop_table(c: AwsContext, args: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
    if ctx.mode == "isolated":
        raise ProviderError("dropping a production table is never done in isolated mode")
    table = _table(args)
    dsn = _dsn(c, "db")
    if c.dataset is None and table == DATASET:
        c.dataset = fingerprint(dsn)
    _sql(dsn, [f"DROP TABLE {table}"])
    return {"table": table, "dropped": True}


def recreate_table(c: AwsContext, args: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
    table = _table(args)
    if table != DATASET:
        raise ProviderError(f"only the known dataset {DATASET!r} can be re-created")
    dsn = _dsn(c, "db")
    exists = _sql(dsn, [f"SELECT to_regclass('{table}') IS NOT NULL"])
    if exists and exists[0]:
        return {"table": table, "recreated": False, "note": "table exists"}
    rows = c.dataset[0] if c.dataset else 1000
    _sql(
        dsn,
        [
            f"CREATE TABLE {table} (id integer PRIMARY KEY, payload text NOT NULL)",
            f"INSERT INTO {table} SELECT i, md5(i::text) FROM generate_series(1, {rows}) i",
        ],
    )
    return {"table": table, "recreated": True, "rows": rows}
