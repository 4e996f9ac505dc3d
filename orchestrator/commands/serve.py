"""`drill serve`: the read-only web dashboard and Prometheus metrics (DESIGN section 15)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
from collections.abc import Iterator
from types import FrameType
from typing import Annotated, Protocol

import typer

from orchestrator.commands.common import err_console, state
from orchestrator.netguard import is_loopback_host

TOKEN_VAR = "DRILL_SERVE_TOKEN"


def serve(
    ctx: typer.Context,
    host: Annotated[
        str, typer.Option(help="address to bind (loopback unless a token is set)")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="TCP port (0 picks a free one)")
    ] = 8080,
) -> None:
    """Serve the dashboard: drills, runs, findings, calendar, evidence, and /metrics.

    Read-only. Binding anything but a loopback address needs DRILL_SERVE_TOKEN; every
    request must then send `Authorization: Bearer TOKEN`.

    Example:  drill serve --port 8080   then open http://127.0.0.1:8080/
    """
    from orchestrator.errors import UsageError

    token = _token()
    if not is_loopback_host(host) and not token:
        # '' binds every interface as 0.0.0.0 does: '--host  is not a loopback address'
        # said neither what was given nor what it would have opened
        named = repr(host) if not host.strip() else host
        every = " (every interface)" if host.strip() in ("", "0.0.0.0", "::") else ""
        raise UsageError(
            f"--host {named}{every} is not a loopback address and {TOKEN_VAR} is not set",
            # (worded so the redaction of printed errors leaves it whole)
            f"set {TOKEN_VAR} to a long random string (clients send it in the "
            "Authorization header, scheme Bearer), or bind 127.0.0.1",
        )
    import uvicorn

    from orchestrator.web.app import create_app
    from orchestrator.web.metrics import Sources

    sources = Sources.open(state(ctx).config)
    sources.db()  # open (and migrate) now: a bad database fails here, not on first page
    missing = sources.store_missing()
    if missing is not None:  # read-only: the dashboard makes no store
        state(ctx).warn_store_gone(missing)
        err_console().print(
            f"drill serve: no evidence database at {missing} yet: the pages are empty until "
            "a drill records there",
            markup=False,
            soft_wrap=True,
        )
    state(ctx).warn_orphans_lightly()  # once, here: the requests themselves stay quiet
    app = create_app(sources, token)
    sock = _bind(host, port)
    config = uvicorn.Config(app, log_level="warning", access_log=False, server_header=False)
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    server = uvicorn.Server(config)
    try:
        with stops_cleanly(server):
            err_console().print(
                f"drill dashboard on http://{shown}:{bound}/ (read-only"
                + (", bearer token required" if token else "")
                + "); Ctrl-C stops"
            )
            server.run(sockets=[sock])
    finally:
        sock.close()


def _token() -> str | None:
    """DRILL_SERVE_TOKEN, without the line end a secret read from a file brings along (a
    client cannot send it: header values are trimmed, and every request was refused);
    None when unset or blank. A space or a control character inside it no header can
    carry either: refused, exit 2 (never printed: it is a secret)."""
    from orchestrator.errors import UsageError

    token = os.environ.get(TOKEN_VAR, "").strip()
    if token and not all(33 <= ord(c) <= 126 for c in token):
        raise UsageError(
            f"{TOKEN_VAR} holds a space, a control or a non-ASCII character: no "
            "Authorization header can carry it, so every request would be refused",
            "use printable ASCII only, e.g. the output of `openssl rand -hex 24`",
        )
    return token or None


class _Stoppable(Protocol):
    should_exit: bool


@contextlib.contextmanager
def stops_cleanly(server: _Stoppable) -> Iterator[None]:
    """SIGINT and SIGTERM end the server with exit 0, whenever they come.

    The handler only asks the server to stop: uvicorn checks ``should_exit`` before it
    serves and on every tick. It must not raise: an exception raised by a handler is
    lost ("Exception ignored in ...") when the signal lands in a weakref callback or a
    ``__del__``, and the server then served on, deaf to the stop (seen in CI: a SIGTERM
    during SQLAlchemy's garbage collection). uvicorn has its own handlers while it
    serves, and once shut down raises the signal again under this one: a no-op then,
    where the default SIGTERM action would kill the process (status 143)."""

    def stop(_signum: int, _frame: FrameType | None) -> None:
        server.should_exit = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound before start so the real port can be printed."""
    from orchestrator.errors import UsageError

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise UsageError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}",
            "pick another --port, or --port 0 for a free one",
        ) from None
    sock.listen(128)
    return sock
