"""A moto *server* subprocess on 127.0.0.1 (a free port), with its request recorder.

The recorder gives the tests the server's own account of every request drill made —
independent of drill's client-side journal — so "nothing mutating was called" is
checked where it matters: at the (emulated) AWS endpoint.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from orchestrator.pgbin import free_port


class MotoServer:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.recording = workdir / "moto_recording.jsonl"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> MotoServer:
        env = dict(
            os.environ,
            MOTO_RECORDER_FILEPATH=str(self.recording),
            AWS_CONFIG_FILE=os.devnull,
            AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        )
        repo = Path(__file__).resolve().parents[3]
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.integration.aws.moto_main",
                "-H",
                "127.0.0.1",
                "-p",
                str(self.port),
            ],
            env=env,
            cwd=repo,
            stdout=subprocess.DEVNULL,
            stderr=(self.workdir / "moto.log").open("wb"),
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{self.url}/moto-api/data.json", timeout=1).read()
                return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"moto server did not start: {(self.workdir / 'moto.log').read_text()}")

    def _post(self, path: str) -> None:
        req = urllib.request.Request(f"{self.url}{path}", data=b"", method="POST")
        urllib.request.urlopen(req, timeout=10).read()

    def reset(self) -> None:
        """Forget every resource (a fresh account) and every recorded request."""
        self._post("/moto-api/reset")
        self._post("/moto-api/recorder/reset-recording")
        self._post("/moto-api/recorder/start-recording")

    def requests(self) -> list[dict[str, Any]]:
        """Recorded requests, each as {operation, service, region, params} (best effort)."""
        if not self.recording.exists():
            return []
        out = []
        for line in self.recording.read_text().splitlines():
            if line.strip():
                out.append(_describe(json.loads(line)))
        return out

    def operations(self) -> list[str]:
        return [r["operation"] for r in self.requests()]

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(2)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def _describe(entry: dict[str, Any]) -> dict[str, Any]:
    headers = {k.lower(): v for k, v in entry.get("headers", {}).items()}
    body = entry.get("body") or ""
    if entry.get("body_encoded"):
        body = base64.b64decode(body).decode("utf-8", "replace")
    url = urlparse(entry["url"])
    params = {k: v[0] for k, v in parse_qs(url.query).items()}
    if headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        params.update({k: v[0] for k, v in parse_qs(body).items()})
    auth = headers.get("authorization", "")
    scope = auth.split("Credential=", 1)[-1].split(",", 1)[0].split("/") if auth else []
    region = scope[2] if len(scope) > 3 else None
    service = scope[3] if len(scope) > 3 else None
    if "Action" in params:
        op = params["Action"]
    elif headers.get("x-amz-target"):
        op = headers["x-amz-target"].rsplit(".", 1)[-1]
    else:
        op = f"{entry['method']} {url.path}"
    return {"operation": op, "service": service, "region": region, "params": params, "body": body}
