"""Loopback only: the one test of whether a database host drill is given stays local.

Tests and the local lab must never send traffic beyond 127.0.0.0/8, whatever a config or
Terraform state names; both the lab's DSN check and the AWS provider's emulator guard ask
this module, so a spelling accepted by one cannot slip past the other.
"""

from __future__ import annotations

import ipaddress


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
