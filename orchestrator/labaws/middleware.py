"""The WSGI middleware in front of moto: sync before reads, lab effects after writes.

Every request is parsed just enough to name it (service and region from the SigV4
credential scope, the operation from ``Action`` / ``X-Amz-Target`` / the REST path)
and appended to ``calls.jsonl`` — the emulator's own account of what clients did,
independent of any client-side journal. The emulator's own calls (seeding, restored
instances it registers) carry :data:`~orchestrator.labaws.INTERNAL_HEADER` and pass
straight through.
"""

from __future__ import annotations

import io
import json
import re
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs
from xml.etree import ElementTree

from orchestrator.labaws import INTERNAL_HEADER
from orchestrator.labaws.hub import Hub

_SCOPE = re.compile(r"Credential=[^/]+/\d+/(?P<region>[^/]+)/(?P<service>[^/]+)/")
_RRSET = re.compile(r"^/2013-04-01/hostedzone/[^/]+/rrset/?$")


@dataclass
class Call:
    service: str
    region: str
    operation: str
    method: str
    path: str
    params: dict[str, Any] = field(default_factory=dict)
    before: dict[str, Any] = field(default_factory=dict)  # see effects.before

    @property
    def mutating(self) -> bool:
        from orchestrator.providers.aws.clients import is_mutating

        rest_read = " " in self.operation and self.method in ("GET", "HEAD")
        return is_mutating(self.operation) and not rest_read


def parse(environ: dict[str, Any], body: bytes) -> Call:
    from orchestrator.labaws import backup_api

    auth = environ.get("HTTP_AUTHORIZATION", "")
    scope = _SCOPE.search(auth)
    service, region = (scope["service"], scope["region"]) if scope else ("?", "?")
    method, path = environ.get("REQUEST_METHOD", "GET"), environ.get("PATH_INFO", "/")
    params: dict[str, Any] = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    ctype = environ.get("CONTENT_TYPE", "")
    if ctype.startswith("application/x-www-form-urlencoded"):
        params.update({k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()})
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if "Action" in params:
        op = str(params.pop("Action"))
        params.pop("Version", None)
    elif target:
        op = target.rsplit(".", 1)[-1]
    elif service == "route53" and method == "POST" and _RRSET.match(path):
        op, params["records"] = "ChangeResourceRecordSets", _records(body)
    elif service == "backup" and (served := backup_api.operation(method, path)):
        op = served
    else:
        op = f"{method} {path}"
    return Call(service, region, op, method, path, params)


def _records(body: bytes) -> list[tuple[str, list[str]]]:
    """(name, values) of every CREATE/UPSERT in a ChangeResourceRecordSets body."""
    out = []
    root = ElementTree.fromstring(body)
    for change in root.iter():
        if not change.tag.endswith("}Change") and change.tag != "Change":
            continue
        fields = {el.tag.rsplit("}", 1)[-1]: el for el in change.iter()}
        action = fields.get("Action")
        if action is None or action.text not in ("CREATE", "UPSERT"):
            continue
        name = fields.get("Name")
        values = [el.text or "" for el in change.iter() if el.tag.endswith("Value")]
        out.append(((name.text or "") if name is not None else "", values))
    return out


_DB_INSTANCE = re.compile(rb"<DBInstance>.*?</DBInstance>", re.DOTALL)
_ENDPOINT = re.compile(rb"<Endpoint>.*?</Endpoint>", re.DOTALL)


def no_endpoint_while_creating(payload: bytes) -> bytes:
    """An instance being created has no endpoint yet, as RDS answers: moto gave a
    restore's (and a clone's) answer, and every describe until its lab server ran, the
    endpoint of the instance it came from — the primary's port on 127.0.0.1, so a
    client that connected early reached production, not the new instance."""

    def strip(m: re.Match[bytes]) -> bytes:
        block = m.group(0)
        if b"<DBInstanceStatus>creating</DBInstanceStatus>" not in block:
            return block
        return _ENDPOINT.sub(b"", block, count=1)

    return _DB_INSTANCE.sub(strip, payload)


class LabMiddleware:
    def __init__(self, app: Callable[..., Iterable[bytes]], hub: Hub) -> None:
        self.app, self.hub = app, hub

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        size = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(size) if size else b""
        environ["wsgi.input"] = io.BytesIO(body)
        internal = environ.get("HTTP_" + INTERNAL_HEADER.upper().replace("-", "_"))
        if internal or environ.get("PATH_INFO", "").startswith("/moto-api"):
            return self.app(environ, start_response)
        call = parse(environ, body)
        self._quietly("sync", lambda: self._sync())
        from orchestrator.labaws.refuse import error_document, refusal

        refused = refusal(self.hub, call)
        if refused is not None:
            self._record(call, 400)
            payload, ctype = error_document(call.service, *refused)
            start_response(
                "400 Bad Request", [("Content-Type", ctype), ("Content-Length", str(len(payload)))]
            )
            return [payload]
        from orchestrator.labaws import backup_api

        if call.service == "backup" and call.operation in backup_api.SERVED:
            code, doc = backup_api.handle(self.hub, call.operation, call.path, body)
            self._record(call, code)
            payload = json.dumps(doc).encode()
            start_response(
                f"{code} {'OK' if code == 200 else 'Bad Request'}",
                [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))],
            )
            return [payload]
        if call.mutating:
            from orchestrator.labaws.effects import before

            call.before = before(call)
        seen: dict[str, Any] = {}

        def capture(status: str, headers: list[Any], exc_info: Any = None) -> Any:
            seen.update(status=status, headers=headers, exc_info=exc_info)
            return lambda _data: None  # moto (werkzeug) answers with an iterable only

        payload = b"".join(self.app(environ, capture))
        status = str(seen.get("status", "500 Internal Server Error"))
        code = int(status.split(" ", 1)[0])
        self._record(call, code)
        if call.mutating and code < 300:
            from orchestrator.labaws.effects import apply

            self._quietly(f"lab effect of {call.operation}", lambda: apply(self.hub, call))
            payload = self._status_now(call, payload)
        if call.service == "rds":
            payload = no_endpoint_while_creating(payload)
        headers = [(k, v) for k, v in seen.get("headers", []) if k.lower() != "content-length"]
        start_response(
            status, [*headers, ("Content-Length", str(len(payload)))], seen.get("exc_info")
        )
        return [payload]

    def _status_now(self, call: Call, payload: bytes) -> bytes:
        """The instance's status in the answer to the call that started its work, as RDS
        gives it (``rebooting``, ``modifying``, ``creating``): moto answered before the
        lab began, with ``available``."""
        ident = call.params.get("TargetDBInstanceIdentifier") or call.params.get(
            "DBInstanceIdentifier"
        )
        now = self.hub.status_of(call.region, str(ident or ""))
        tag = b"<DBInstanceStatus>available</DBInstanceStatus>"
        if not now or call.service != "rds" or payload.count(tag) != 1:
            return payload
        return payload.replace(tag, f"<DBInstanceStatus>{now}</DBInstanceStatus>".encode())

    def _sync(self) -> None:
        from orchestrator.labaws.sync import sync

        with self.hub.lock:
            sync(self.hub)

    def _record(self, call: Call, code: int) -> None:
        params = {k: v for k, v in call.params.items() if "Password" not in k}
        self.hub.record(
            {
                "at": time.time(),
                "service": call.service,
                "region": call.region,
                "operation": call.operation,
                "mutating": call.mutating,
                "status": code,
                "params": params,
            }
        )

    def _quietly(self, what: str, fn: Callable[[], Any]) -> None:
        try:
            fn()
        except Exception as exc:  # the API keeps answering; the log says what failed
            self.hub.log(f"{what} failed: {exc}\n{traceback.format_exc()}")
