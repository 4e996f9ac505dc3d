"""`drill lab up` on a lab damaged behind drill's back (DESIGN "Crash safety (Contract)").

Each case damages the running lab the way an operator, a crash or a fault could — a
stopped replica, a killed proxy, a killed standby, a standby promoted by hand, the
dataset table dropped — then runs `drill lab up` as a user does. It must say what it
found and what it did (one line each, no server query text), and leave the lab's own
topology check clean with every component up. One lab serves the cases in order; each
starts from a healthy lab (`lab up` first).
"""

from __future__ import annotations

import json
import os
import signal
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.clihelp import run
from tests.e2e.conftest import running_lab

pytestmark = [pytest.mark.lab, pytest.mark.slow]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield from running_lab(tmp_path_factory)


def status(cwd: Path) -> dict[str, Any]:
    res = run(cwd, "lab", "status", "--json")
    assert res.code == 0, res.err
    doc: dict[str, Any] = json.loads(res.out)
    return doc


def component(cwd: Path, role: str) -> dict[str, Any]:
    (comp,) = [c for c in status(cwd)["components"] if c["role"] == role]
    return comp


def sql(host: str, port: int, statement: str) -> None:
    import psycopg

    assert host.startswith("127."), host  # loopback only
    with psycopg.connect(
        host=host, port=port, dbname="app", user="drill", autocommit=True, connect_timeout=5
    ) as conn:
        conn.execute(statement)


def stop_replica(cwd: Path) -> None:
    os.kill(component(cwd, "replica")["pid"], signal.SIGSTOP)


def kill_region_link(cwd: Path) -> None:
    os.kill(component(cwd, "region_link")["pid"], signal.SIGKILL)


def kill_standby(cwd: Path) -> None:
    os.kill(component(cwd, "standby")["pid"], signal.SIGKILL)


def promote_standby(cwd: Path) -> None:
    standby = component(cwd, "standby")
    sql(standby["host"], standby["port"], "SELECT pg_promote()")


def drop_dataset(cwd: Path) -> None:
    endpoint = component(cwd, "db_endpoint")
    sql(endpoint["host"], endpoint["port"], "DROP TABLE drill_dataset")


DAMAGE: dict[str, tuple[Callable[[Path], None], str]] = {
    "stopped replica": (stop_replica, "is stopped"),
    "killed region link": (kill_region_link, "region-link is not running"),
    "killed standby": (kill_standby, "no streaming synchronous standby"),
    "promoted standby": (promote_standby, "no streaming synchronous standby"),
    "dropped dataset": (drop_dataset, "dataset"),
}


@pytest.mark.parametrize("case", list(DAMAGE))
def test_lab_up_repairs_what_it_finds_and_says_so(lab: Path, case: str) -> None:
    from orchestrator.providers.lab.health import check
    from orchestrator.providers.lab.state import load

    damage, found = DAMAGE[case]
    # from a healthy lab: under heavy load the lab's controller may itself have dropped a
    # standby it found silent too long since the case before (RDS does the same)
    healthy = run(lab, "lab", "up", timeout=300)
    assert healthy.code == 0, healthy.err
    assert "lab: already running; checked: " in healthy.err, healthy.err  # it says so
    damage(lab)
    up = run(lab, "lab", "up", timeout=300)
    assert up.code == 0, up.err
    said = [ln for ln in up.err.splitlines() if ln.startswith("lab: ")]
    checks = [ln for ln in said if ln.startswith("lab: check: ")]
    assert any(found in ln for ln in checks), up.err
    assert len(said) > len(checks), f"{case}: lab up must say what it did: {up.err}"
    assert "nothing to repair" not in up.err, up.err
    assert "LINE 1" not in up.err and "Traceback" not in up.err, up.err
    st = load(lab / ".drill" / "lab")
    assert st is not None
    assert [i.what for i in check(st)] == [], case
    assert all(c["state"] == "up" for c in status(lab)["components"]), status(lab)


def squat(port: int, listen: bool) -> socket.socket:
    """Take ``port`` on loopback as another program would, once the killed helper's
    socket is really gone (the kernel frees it a moment after the process died)."""
    import time

    deadline = time.monotonic() + 30
    while True:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.bind(("127.0.0.1", port))
            break
        except OSError:
            sock.close()
            assert time.monotonic() < deadline, f"port {port} never became free"
            time.sleep(0.01)
    if listen:
        sock.listen()
    return sock


@pytest.mark.parametrize("listen", [True, False], ids=["listening", "bound"])
def test_lab_up_rebuilds_when_a_dead_helpers_port_is_taken(lab: Path, listen: bool) -> None:
    """The load balancer died and another program took its port (listening on it, or
    only bound): it cannot come back where the state says. `lab up` names the port and
    who holds it, rebuilds on fresh ports, and says so — in lines of its own, never a
    helper's traceback."""
    from orchestrator.providers.lab.health import check
    from orchestrator.providers.lab.state import load

    assert run(lab, "lab", "up", timeout=300).code == 0
    lb = component(lab, "load_balancer")
    os.kill(lb["pid"], signal.SIGKILL)
    with squat(lb["port"], listen):
        up = run(lab, "lab", "up", timeout=300)
        assert up.code == 0, up.err
        assert "Traceback" not in up.err and 'File "' not in up.err, up.err
        said = " ".join(up.err.split())  # lines as the terminal wrapped them, joined
        taken = f"its port 127.0.0.1:{lb['port']} is taken"
        assert f"lab: check: lb is not running and {taken}" in said, up.err
        if listen:  # a bound-only socket is not in /proc/net/tcp: who holds it is unknown
            assert f"{taken} by pid {os.getpid()} (" in said, up.err
        assert "lab: rebuilding the lab from scratch" in said, up.err
        assert component(lab, "load_balancer")["port"] != lb["port"]
    st = load(lab / ".drill" / "lab")
    assert st is not None
    assert [i.what for i in check(st)] == []
    assert all(c["state"] == "up" for c in status(lab)["components"]), status(lab)
