"""Loopback only: the one test of whether a database host drill is given stays local.

Tests and the local lab must never send traffic beyond 127.0.0.0/8, whatever a config or
Terraform state names; both the lab's DSN check and the AWS provider's emulator guard ask
this module, so a spelling accepted by one cannot slip past the other.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping


def is_loopback_host(host: str, sockets: bool = False) -> bool:
    """Is one libpq host (not a comma-separated list) a loopback address or
    ``localhost`` — or, with ``sockets``, a Unix-socket directory? A DNS name is not:
    ``127.attacker.example`` resolves wherever its owner likes."""
    if host == "localhost":
        return True
    if host.startswith("/"):
        return sockets
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def looks_like_dsn(value: str) -> bool:
    """A libpq DSN (``key=value …`` or a URL) rather than a role name such as ``db``."""
    return "=" in value or "://" in value


def dsn_problem(
    dsn: str, environ: Mapping[str, str] | None = None, sockets: bool = False
) -> str | None:
    """Why ``dsn`` could reach beyond loopback, or None when it cannot.

    Parsed by libpq's own rules (key=value or URL form). The host must be spelled out:
    without one libpq takes it from ``PGHOST`` or the default socket, and a ``service``
    (or ``PGSERVICE``) reads any host from ``pg_service.conf``; ``PGHOSTADDR`` would
    replace the address of a DSN that gives only ``host``. ``sockets``: a Unix-socket
    directory is local too (a tunnel's socket)."""
    from psycopg import ProgrammingError
    from psycopg.conninfo import conninfo_to_dict

    environ = os.environ if environ is None else environ
    try:
        params = conninfo_to_dict(dsn.replace("postgresql+psycopg://", "postgresql://", 1))
    except ProgrammingError as exc:
        return f"invalid DSN: {str(exc).strip()}"
    if params.get("service") or environ.get("PGSERVICE"):
        return (
            "a DSN with a service (or PGSERVICE set) takes its host from "
            "pg_service.conf: give host=127.0.0.1 instead"
        )
    if not params.get("host") and not params.get("hostaddr"):
        return (
            "the DSN names no host, so libpq would take it from PGHOST or its default "
            "socket: give host=127.0.0.1"
        )
    addr = params.get("hostaddr") or environ.get("PGHOSTADDR") or ""
    for value in [*str(params.get("host") or "").split(","), *str(addr).split(",")]:
        if value and not is_loopback_host(value, sockets):
            return f"refusing to connect to {value}: loopback (127.0.0.0/8) only"
    return None


def url_problem(url: str) -> str | None:
    """Why an http(s) URL could reach beyond loopback, or None when it cannot."""
    from urllib.parse import urlsplit

    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return f"invalid URL {url!r}"
    if not is_loopback_host(host):
        return f"refusing to connect to {host or url}: loopback (127.0.0.0/8) only"
    return None
