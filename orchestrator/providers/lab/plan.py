"""What each lab action would do, in words an operator recognises (``drill plan``).

Derived from the current lab state when it exists (pids, ports, who is primary now);
nothing is changed and no process is contacted.
"""

from __future__ import annotations

from typing import Any

from orchestrator.providers.base import PlannedCall
from orchestrator.providers.lab.state import LabState

_STANDBY = [
    "process:stop",
    "postgres:pg_basebackup",
    "postgres:start",
    "postgres:synchronous_standby_names",
    "proxy:set",
]
_REPLICA = ["proxy:set", "process:stop", "postgres:pg_basebackup", "postgres:start"]
_CLONE = [
    "postgres:pg_basebackup",
    "postgres:start",
    "postgres:pg_promote",
    "postgres:synchronous_standby_names",
]
_REMOVE = ["process:stop", "instance:remove"]
BY_MODE = {"db.promote_replica", "db.rebuild_replica", "dns.point"}
# what each action does, as the journal keys its primitives note (lab/journal.py); an
# action whose recorded keys are not all here is reported as ``unplanned_calls``
EFFECTS: dict[str, dict[str, list[str]]] = {
    "db.failover": {"live": ["process:SIGKILL"]},
    "db.reprotect": {"live": _STANDBY},
    "db.promote_replica": {
        "live": ["postgres:pg_promote", "postgres:synchronous_standby_names"],
        "isolated": _CLONE,
    },
    "db.rebuild_replica": {"live": _REPLICA, "isolated": _REMOVE},
    "dns.point": {"live": ["proxy:set"], "isolated": []},
    "backup.create": {"live": ["vault:backup"]},
    "db.restore": {"live": ["vault:restore", "postgres:start"]},
    "db.delete_restored": {"live": _REMOVE},
    "data.drop_table": {"live": ["table:DROP"]},
    "data.recreate_table": {"live": ["table:CREATE"]},
    "az.isolate": {"live": ["process:SIGSTOP"]},
    "az.restore": {"live": ["process:SIGCONT", "process:start", *_STANDBY]},
    "region.isolate": {"live": ["process:SIGSTOP"]},
    "region.restore": {"live": ["process:SIGCONT"]},
    "link.cut": {"live": ["proxy:set"]},
    "link.latency": {"live": ["proxy:set"]},
    "link.restore": {"live": ["proxy:set"]},
}


def _who(st: LabState | None, role: str) -> str:
    if st is None:
        return {"primary": "use1-az1", "standby": "use1-az2"}.get(role, role)
    name = st.primary if role == "primary" else (st.standby or "(none)")
    c = st.components.get(name)
    return f"{name} (pid {c.pid}, 127.0.0.1:{c.port})" if c else name


def describe(
    action: str, args: dict[str, Any], mode: str, st: LabState | None
) -> list[PlannedCall]:
    p, s = _who(st, "primary"), _who(st, "standby")
    isolated = mode == "isolated"
    az = str(args.get("az") or "primary")
    if az == "primary":  # resolved when the action runs; say what it resolves to now
        where = st.components.get(st.primary) if st is not None else None
        az = f"{where.az if where else 'use1-az1'} (the primary's AZ now)"
    calls: dict[str, list[tuple[str, str, bool]]] = {
        "db.failover": [
            (f"lab: {p}", "SIGKILL postgres process group of the primary", True),
            (
                "lab: controller",
                f"detect loss, promote {s}, clear synchronous_standby_names, repoint db endpoint",
                True,
            ),
        ],
        "db.reprotect": [
            (
                "lab: standby AZ",
                f"pg_basebackup a new standby from {p}; set synchronous_standby_names",
                True,
            )
        ],
        "db.promote_replica": [
            (
                "lab: usw2",
                "pg_basebackup clone of usw2, pg_promote the clone"
                if isolated
                else "pg_promote usw2; clear synchronous_standby_names",
                True,
            )
        ],
        "db.rebuild_replica": [
            (
                "lab: usw2",
                "remove isolated clones"
                if isolated
                else f"pg_basebackup usw2 from {p} over the region link",
                True,
            )
        ],
        "dns.point": [
            (
                "lab: global endpoint",
                "none (isolated: answer with the clone's DSN)"
                if isolated
                else f"repoint global endpoint proxy to {args.get('to')}",
                not isolated,
            )
        ],
        "backup.create": [("lab: vault", f"pg_basebackup -Ft of {p}; sha256 into manifest", False)],
        "db.restore": [
            (f"lab: {p}", "pg_switch_wal; wait until archived", False),
            (
                "lab: vault",
                "verify sha256; extract base backup into a NEW instance; "
                f"replay WAL to {args.get('point_in_time', 'disaster')}",
                True,
            ),
        ],
        "db.delete_restored": [("lab: restored instance", "stop; remove data directory", True)],
        "data.drop_table": [("lab: db endpoint", f"DROP TABLE {args.get('table')}", True)],
        "data.recreate_table": [("lab: db endpoint", f"CREATE + load {args.get('table')}", True)],
        "az.isolate": [(f"lab: {az}", "SIGSTOP postgres and app of the AZ", True)],
        "az.restore": [(f"lab: {az}", "SIGCONT/restart the AZ; re-protect", True)],
        "region.isolate": [
            ("lab: us-east-1", "SIGSTOP controller, databases, endpoint, apps, load balancer", True)
        ],
        "region.restore": [("lab: us-east-1", "SIGCONT everything of the region", True)],
        "link.cut": [("lab: region link proxy", "cut (close and refuse connections)", True)],
        "link.latency": [
            (
                "lab: region link proxy",
                f"add {args.get('latency_ms')} ms latency"
                + (
                    f", throttle {args['bandwidth_kbps']} kbps"
                    if args.get("bandwidth_kbps")
                    else ""
                ),
                True,
            )
        ],
        "link.restore": [("lab: region link proxy", "no cut, no latency, no throttle", True)],
        "db.health": [(f"lab: {args.get('target')}", "connect; SELECT 1", False)],
        "db.writable": [(f"lab: {args.get('target')}", "INSERT within 3 s", False)],
        "db.replication_lag": [(f"lab: {p}", "read pg_stat_replication", False)],
        "db.multi_az": [(f"lab: {p}", "read pg_stat_replication (sync_state)", False)],
        "app.health": [("lab: load balancer", "HTTP GET /health", False)],
        "data.verify": [(f"lab: {args.get('target')}", "count + md5 of drill_dataset", False)],
    }
    effects = EFFECTS.get(action, {}).get(mode if action in BY_MODE else "live", [])
    planned = calls.get(action, [("lab", action, True)])
    # the effects go with the call the action itself makes: its first mutating one
    at = next((i for i, (_t, _o, m) in enumerate(planned) if m), len(planned) - 1)
    return [
        PlannedCall(
            target=t,
            operation=o,
            arguments=dict(args),
            mutating=m,
            effects=list(effects) if i == at else [],
        )
        for i, (t, o, m) in enumerate(planned)
    ]
