"""Headless Chromium for the tests that look at drill's pages: found once, and started
so that it sends nothing beyond the machine (loopback only).

Even headless, with background networking off, Chromium resolves names of its own
(DNS queries to the resolver in /etc/resolv.conf, which may be a 10.x address): every
name is mapped to "not found" and its built-in DNS client is off. The pages it opens
are files and http://127.0.0.1 URLs, which need no name.
"""

from __future__ import annotations

import shutil

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    "--disable-features=AsyncDns,NetworkTimeServiceQuerying,OptimizationHints,MediaRouter",
]
