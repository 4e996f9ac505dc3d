"""The lab's persistent state: which component runs where, and who is primary now.

Several processes share it — the CLI, a drill run, the failover controller — so it
lives in one JSON file under ``.drill/lab/`` written atomically (readers never see a
half-written file) and changed only under an ``flock`` (read-modify-write is atomic
across processes). The ground-truth log beside it records what the lab *did* and when,
for the accuracy benchmark only: measurements never read it.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from orchestrator.errors import LabError

HOST = "127.0.0.1"  # the lab never listens on or talks to anything else
DB_USER = "drill"
APP_DB = "app"
DATASET_TABLE = "drill_dataset"


class Component(BaseModel):
    """One process of the lab (a PostgreSQL server, a proxy, an app, the controller)."""

    name: str
    kind: str  # postgres | proxy | app | controller
    role: str  # primary | standby | replica | restored | clone | db_endpoint | …
    port: int | None
    host: str = HOST
    pid: int | None = None
    start_ticks: int | None = None  # /proc start time: guards against pid reuse
    az: str | None = None
    region: str | None = None
    desired: str = "up"  # up | down | stopped — what the lab expects, for status/repair
    data_dir: str | None = None
    control_port: int | None = None  # proxies: JSON control channel


class Dataset(BaseModel):
    rows: int
    checksum: str


class LabState(BaseModel):
    """Everything the lab knows about itself (``state.json``)."""

    created_at: datetime
    run_as: str | None = None  # the unprivileged user servers run as, when root
    detection_delay_s: float = 1.0
    backup_interval_s: float = 900.0
    components: dict[str, Component] = Field(default_factory=dict)
    primary: str = "use1-az1"
    standby: str | None = "use1-az2"
    dataset: Dataset | None = None
    isolated: list[str] = Field(default_factory=list)  # AZs / regions currently isolated
    usw2_promoted: bool = False
    global_target: str = "db-endpoint"  # component the global endpoint forwards to
    # app instances out of the load balancer's rotation (lab-aws: DeregisterTargets)
    deregistered: list[str] = Field(default_factory=list)
    counter: int = 0  # for unique names of restored instances and clones
    ready: bool = False  # set once `lab up` finished building: the controller acts only then

    def region_isolated(self) -> bool:
        return "us-east-1" in self.isolated

    def comp(self, name: str) -> Component:
        return self.components[name]

    def dsn(self, name: str, dbname: str = APP_DB) -> str:
        c = self.components[name]
        return f"host={c.host} port={c.port} dbname={dbname} user={DB_USER}"

    def endpoints(self) -> dict[str, str]:
        lb = self.components["lb"]
        return {
            "db": self.dsn("db-endpoint"),
            "global_db": self.dsn("global-endpoint"),
            "app": f"http://{lb.host}:{lb.port}/health",
        }

    def by_role(self, role: str) -> list[Component]:
        return [c for c in self.components.values() if c.role == role]


def lab_dir(state_path: Path) -> Path:
    """``settings.state_path() / "lab"``."""
    return state_path / "lab"


def _file(root: Path) -> Path:
    return root / "state.json"


def load(root: Path) -> LabState | None:
    """The lab's state; None when there is no lab. :class:`DamagedLabState` when the
    file is not a lab's state (edited by hand, a disk fault): said, not a traceback."""
    try:
        raw = _file(root).read_text()
    except FileNotFoundError:
        return None
    try:
        return LabState.model_validate_json(raw)
    except ValueError as exc:  # pydantic's ValidationError (bad JSON or a bad field)
        raise DamagedLabState(_file(root), exc) from None


def _first_problem(exc: ValueError) -> str:
    from pydantic import ValidationError

    if not isinstance(exc, ValidationError) or not exc.errors():
        return str(exc).splitlines()[0]
    errors = exc.errors()
    first = errors[0]
    where = ".".join(str(p) for p in first["loc"])
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where + ': ' if where else ''}{first['msg']}{more}"


class DamagedLabState(LabError):
    """``.drill/lab/state.json`` is there but is not a lab's state."""

    def __init__(self, path: Path, exc: ValueError) -> None:
        super().__init__(
            f"the lab's state file {path} is damaged ({_first_problem(exc)})",
            "`drill lab down` stops the lab processes it finds and removes the lab's data; "
            "`drill lab up` does the same, then builds a new lab",
        )


def save(root: Path, st: LabState) -> None:
    tmp = root / f".state.{os.getpid()}.tmp"
    tmp.write_text(st.model_dump_json(indent=1))
    os.replace(tmp, _file(root))


@contextmanager
def locked(root: Path) -> Iterator[LabState]:
    """Hold the lab lock; yield the state; save it on normal exit."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "state.lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            st = load(root)
            if st is None:
                raise LabError("the lab is not running", "start it with `drill lab up`")
            yield st
            save(root, st)
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@contextmanager
def lock_only(root: Path) -> Iterator[None]:
    """The lab lock without loading state (lab up/down build or remove it)."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "state.lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def ground_truth(root: Path, event: str, **detail: Any) -> None:
    """Append what the lab did, with monotonic and wall time (benchmarks only)."""
    line = {
        "event": event,
        "mono": time.monotonic(),
        "wall": datetime.now(UTC).isoformat(),
        **detail,
    }
    with open(root / "ground-truth.jsonl", "a") as fh:
        fh.write(json.dumps(line, default=str) + "\n")
