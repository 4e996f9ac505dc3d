"""Deliver notices to webhooks: retries with exponential backoff, redacted logs.

Why the standard library (``urllib``) and not requests: one small POST does not
justify a dependency, and it keeps ``drill --help`` fast. Retries cover what is
worth retrying — connection errors, timeouts, HTTP 429 (honouring ``Retry-After``)
and 5xx; any other 4xx means the URL or payload is wrong and retrying cannot help.

A webhook URL is a credential (Slack, Teams and Discord put the token in the path),
so logs show only scheme, host and the first path segment.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from orchestrator.notify.messages import Notice
from orchestrator.secrets import redact_text

log = logging.getLogger("drill.notify")

MAX_BACKOFF_S = 30.0


def redact_webhook(url: str) -> str:
    """``https://hooks.slack.com/***`` — scheme, host and port only: any path segment or
    query of a webhook URL may be its token (Slack's are in the path, many in the first
    segment), whatever the scheme says (a typo'd one is still somebody's token)."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<invalid url>"
    if not parts.scheme or not host:
        return "<invalid url>"
    tail = "/***" if parts.path.strip("/") or parts.query or parts.fragment else ""
    return redact_text(f"{parts.scheme}://{host}{port}{tail}")


@dataclass
class Delivery:
    url: str  # redacted
    ok: bool
    attempts: int
    status: int | None = None
    error: str | None = None


class WebhookNotifier:
    """Posts :class:`Notice` payloads to every configured URL."""

    def __init__(
        self,
        urls: Iterable[str],
        retries: int = 4,
        backoff_s: float = 0.5,
        timeout_s: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.urls = [u for u in dict.fromkeys(urls) if u]
        self.retries, self.backoff_s, self.timeout_s = retries, backoff_s, timeout_s
        self._sleep = sleep

    def send(self, notice: Notice, extra_urls: Iterable[str] = ()) -> list[Delivery]:
        body = json.dumps(notice.payload()).encode()
        urls = list(dict.fromkeys([*self.urls, *extra_urls]))
        return [self._post(url, body) for url in urls]

    def _post(self, url: str, body: bytes) -> Delivery:
        shown = redact_webhook(url)
        if not url.startswith(("http://", "https://")):
            log.error("webhook %s: only http(s) URLs are supported", shown)
            return Delivery(shown, False, 0, error="unsupported URL scheme")
        status: int | None = None
        error: str | None = None
        for attempt in range(1, self.retries + 2):
            delay = min(self.backoff_s * 2 ** (attempt - 1), MAX_BACKOFF_S)
            req = urllib.request.Request(
                url,
                data=body,
                method="POST",
                headers={"Content-Type": "application/json", "User-Agent": "drill-notify"},
            )
            try:
                with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                    status = resp.status
                log.info("webhook %s: delivered (HTTP %s, attempt %d)", shown, status, attempt)
                return Delivery(shown, True, attempt, status)
            except urllib.error.HTTPError as exc:
                status, error = exc.code, f"HTTP {exc.code}"
                if exc.code != 429 and exc.code < 500:
                    log.error("webhook %s: rejected with HTTP %s; not retrying", shown, exc.code)
                    return Delivery(shown, False, attempt, status, error)
                retry_after = exc.headers.get("Retry-After") if exc.headers else None
                if retry_after and retry_after.isdigit():
                    delay = min(float(retry_after), MAX_BACKOFF_S)
            except (urllib.error.URLError, TimeoutError, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                error = redact_text(f"{type(exc).__name__}: {reason}").replace(url, shown)
            if attempt <= self.retries:
                log.warning(
                    "webhook %s: %s (attempt %d), retrying in %.1fs", shown, error, attempt, delay
                )
                self._sleep(delay)
        log.error("webhook %s: giving up after %d attempts: %s", shown, self.retries + 1, error)
        return Delivery(shown, False, self.retries + 1, status, error)


class Notifier(Protocol):
    """What a fire needs to announce itself: the service's is a :class:`BackgroundNotifier`."""

    def send(self, notice: Notice, extra_urls: Iterable[str] = ()) -> list[Delivery]: ...


class BackgroundNotifier:
    """Posts in threads of its own, one per URL, in order, so that a webhook that is down
    or slow never holds a fire: with a synchronous post, a dead URL's retries (~8 s; up
    to ~30 s for one that never answers) came before each scheduled run started and after
    it ended — the drill ran late, and the fire held its schedule so long that the next
    fires were skipped, each skip a finding. ``send`` returns at once (no deliveries);
    :meth:`close` lets what is queued go out, within a bound."""

    def __init__(self, inner: WebhookNotifier, max_pending: int = 100) -> None:
        self.inner, self.max_pending = inner, max_pending
        self.urls = inner.urls
        self._lanes: dict[str, tuple[queue.Queue[bytes | None], threading.Thread]] = {}
        self._lock = threading.Lock()
        self._closed = False

    def send(self, notice: Notice, extra_urls: Iterable[str] = ()) -> list[Delivery]:
        body = json.dumps(notice.payload()).encode()
        for url in dict.fromkeys([*self.inner.urls, *extra_urls]):
            lane = self._lane(url)
            if lane is None:
                log.error("webhook %s: not sent, the service is stopping", redact_webhook(url))
                continue
            try:
                lane.put_nowait(body)
            except queue.Full:
                log.error(
                    "webhook %s: %d notifications wait already; this one is dropped",
                    redact_webhook(url),
                    self.max_pending,
                )
        return []

    def _lane(self, url: str) -> queue.Queue[bytes | None] | None:
        with self._lock:
            if self._closed:
                return None
            if url not in self._lanes:
                q: queue.Queue[bytes | None] = queue.Queue(self.max_pending)
                t = threading.Thread(
                    target=self._deliver, args=(url, q), name="drill-notify", daemon=True
                )
                self._lanes[url] = (q, t)
                t.start()
            return self._lanes[url][0]

    def _deliver(self, url: str, q: queue.Queue[bytes | None]) -> None:
        while (body := q.get()) is not None:
            try:
                self.inner._post(url, body)
            except Exception as exc:  # a notification must never end its lane
                log.error("notification failed: %s", redact_text(str(exc)))

    def close(self, timeout_s: float = 10.0) -> int:
        """Deliver what is queued, waiting ``timeout_s`` at most in all; the number of
        URLs whose notifications were still going out then (logged)."""
        with self._lock:
            self._closed = True
            lanes = list(self._lanes.items())
        for _url, (q, _t) in lanes:
            with contextlib.suppress(queue.Full):  # full: it would not drain in time anyway
                q.put_nowait(None)
        deadline = time.monotonic() + timeout_s
        late = 0
        for url, (_q, t) in lanes:
            t.join(max(0.0, deadline - time.monotonic()))
            if t.is_alive():
                late += 1
                log.error(
                    "webhook %s: notifications still going out when the service stopped "
                    "are dropped",
                    redact_webhook(url),
                )
        return late
