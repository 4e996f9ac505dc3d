"""``python -m orchestrator.labaws.server``: the AWS API of the lab (a lab helper process).

moto's own WSGI application (the one ``moto_server`` and ``ThreadedMotoServer`` serve)
behind :class:`~orchestrator.labaws.middleware.LabMiddleware`, on 127.0.0.1 only.
At start it creates the lab's resources through its own API, writes their Terraform
state, then marks itself ready (``aws/ready`` holds its pid).
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"


def patch_moto() -> None:
    """Where moto diverges from documented RDS behaviour, fix the emulator (not drill):

    * after ``PromoteReadReplica`` RDS drops ``ReadReplicaSourceDBInstanceIdentifier``
      and the source forgets the replica; moto keeps both;
    * deleting a cross-region replica raises inside moto (stored by ARN, removed by
      name).
    """
    from moto.rds import models

    def remove_replica(self: Any, replica: Any) -> None:
        for key in (replica.db_instance_identifier, replica.db_instance_arn):
            if key in self.replicas:
                self.replicas.remove(key)

    models.DBInstance.remove_replica = remove_replica  # type: ignore[method-assign]
    original = models.RDSBackend.promote_read_replica

    def promote_read_replica(self: Any, db_kwargs: dict[str, Any]) -> Any:
        database = self.databases[db_kwargs["db_instance_identifier"]]
        source = database.source_db_instance_identifier
        result = original(self, db_kwargs)
        if source:
            with contextlib.suppress(Exception):  # the source may be gone
                self.find_db_from_id(source).remove_replica(database)
        result.source_db_instance_identifier = None
        return result

    models.RDSBackend.promote_read_replica = promote_read_replica  # type: ignore[method-assign]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--state-dir", required=True, help="drill's state dir (.drill)")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)

    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    from orchestrator.labaws.hub import Hub
    from orchestrator.labaws.middleware import LabMiddleware
    from orchestrator.labaws.sync import patch_moto as patch_sync

    patch_moto()
    patch_sync()
    state_dir = Path(args.state_dir)
    out = state_dir / "lab" / "aws"
    out.mkdir(parents=True, exist_ok=True)
    (out / "ready").unlink(missing_ok=True)
    url = f"http://{HOST}:{args.port}"
    hub = Hub(state_dir, url, out / "calls.jsonl")
    app = LabMiddleware(DomainDispatcherApplication(create_backend_app), hub)

    class Quiet(MotoRequestHandler):
        def log_request(self, *_a: Any, **_kw: Any) -> None:
            """calls.jsonl has every request; the log keeps what the lab did."""

    server = make_server(HOST, args.port, app, threaded=True, request_handler=Quiet)
    stop = threading.Event()

    def on_term(_sig: int, _frame: Any) -> None:
        stop.set()
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    threading.Thread(target=server.serve_forever, daemon=True, name="http").start()
    _seed(hub, out)
    threading.Thread(target=_ticker, args=(hub, stop), daemon=True, name="lag").start()
    hub.log(f"lab AWS API ready on {url}")
    stop.wait()
    hub.worker.shutdown(wait=False, cancel_futures=True)
    return 0


def _seed(hub: Any, out: Path) -> None:
    import os

    from orchestrator.labaws.seed import seed, write_state
    from orchestrator.labaws.sync import sync

    st = hub.state()
    state = seed(
        hub.url,
        {
            "primary": st.comp("db-endpoint").port or 0,
            "replica": st.comp("usw2").port or 0,
            "lb": st.comp("lb").port or 0,
        },
        lambda: sync(hub),
    )
    write_state(out / "terraform.tfstate", state)
    (out / "calls.jsonl").write_text("")
    (out / "ready").write_text(str(os.getpid()))
    hub.ready.set()


def _ticker(hub: Any, stop: threading.Event) -> None:
    from orchestrator.labaws.sync import publish_lag

    while not stop.wait(1.0):
        with contextlib.suppress(Exception):
            publish_lag(hub)


if __name__ == "__main__":
    sys.exit(main())
