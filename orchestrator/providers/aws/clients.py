"""boto3 clients for one AWS environment, built lazily and journaled.

Why a factory instead of ``boto3.client`` calls scattered around: every client must go
to the environment's ``endpoint_url`` (the emulator in tests, never real AWS), use the
assumed role when ``assume_role_arn`` is set, and be injectable (a botocore ``Stubber``
for the few APIs the emulator lacks). Every API call made through a factory client is
also appended to :attr:`ClientFactory.journal` — the evidence of what drill did, and
what tests compare with the plan.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from orchestrator.config import EnvironmentConfig
from orchestrator.errors import ConfigError, ProviderError
from orchestrator.secrets import redact

READ_PREFIXES = ("Describe", "List", "Get", "Search", "Lookup")

SessionFactory = Callable[[str | None], Any]  # region → boto3.Session


def is_mutating(operation: str) -> bool:
    """Read-only AWS operations start with Describe/List/Get; everything else changes."""
    return not operation.startswith(READ_PREFIXES)


@dataclass(frozen=True)
class ApiCall:
    service: str
    region: str
    operation: str
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def mutating(self) -> bool:
        return is_mutating(self.operation)

    @property
    def iam_action(self) -> str:
        return f"{IAM_PREFIX.get(self.service, self.service)}:{self.operation}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "region": self.region,
            "operation": self.operation,
            "params": redact(_jsonable(self.params)),
        }


# botocore service name → IAM action prefix, where they differ
IAM_PREFIX = {"elbv2": "elasticloadbalancing", "logs": "logs"}


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


#: What drill signs with on an emulator on loopback when no credentials are configured
#: (a value found in nothing else: as a *_SECRET_* variable it is masked in output).
PLACEHOLDER_KEY = "drill-placeholder-credentials"


def needs_placeholder_credentials(endpoint_url: str | None, session: Any) -> bool:
    """An emulator on loopback (the AWS-shaped lab) checks no signature: without
    credentials configured, requests are signed with placeholder ones rather than fail
    with NoCredentialsError. Never for a real (non-loopback) endpoint.

    Looking for configured credentials must not ask the instance metadata service
    (169.254.169.254, botocore's last resort): loopback only, for an emulator."""
    import os

    if not (endpoint_url and _local(str(endpoint_url))):
        return False
    before = os.environ.get("AWS_EC2_METADATA_DISABLED")
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"  # read when the chain is built
    try:
        return session.get_credentials() is None
    finally:
        if before is None:
            os.environ.pop("AWS_EC2_METADATA_DISABLED", None)
        else:
            os.environ["AWS_EC2_METADATA_DISABLED"] = before


def _local(url: str) -> bool:
    from urllib.parse import urlparse

    from orchestrator.netguard import is_loopback_host

    return is_loopback_host(urlparse(url).hostname or "")


def clear_call_errors(client: Any, endpoint_url: str | None) -> None:
    """A call that never got an answer (endpoint unreachable, timeout, no credentials)
    raises :class:`ProviderError` naming the service, the endpoint and what to check,
    instead of botocore's own exception: a run step then fails and its rollbacks run,
    and the CLI prints one clear line (botocore's event hook, after its retries)."""

    def translate(exception: Exception, **kwargs: Any) -> None:
        from botocore.exceptions import (
            BotoCoreError,
            ConnectionError,
            HTTPClientError,
            NoCredentialsError,
            PartialCredentialsError,
        )

        if not isinstance(exception, BotoCoreError):
            return  # an answer from the API (ClientError) is the caller's to judge
        event = str(kwargs.get("event_name", ""))
        call = event.removeprefix("after-call-error.").replace(".", " ", 1) or "AWS call"
        where = endpoint_url or f"AWS in {client.meta.region_name}"
        if isinstance(exception, NoCredentialsError | PartialCredentialsError):
            raise ProviderError(
                f"{call}: no usable AWS credentials ({exception})",
                "configure credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID …) for the environment",
            ) from None
        if isinstance(exception, ConnectionError | HTTPClientError):
            raise ProviderError(
                f"{call}: cannot reach {where} ({exception})",
                "check endpoint_url / the network path to AWS, then run again",
            ) from None
        raise ProviderError(f"{call} failed: {exception}") from None

    client.meta.events.register("after-call-error", translate)


def default_session_factory(region: str | None) -> Any:
    import boto3

    return boto3.session.Session(region_name=region)


class ClientFactory:
    """Builds (and caches) one client per (service, region)."""

    def __init__(
        self,
        env: EnvironmentConfig,
        session_factory: SessionFactory | None = None,
        overrides: dict[str, Any] | None = None,
    ) -> None:
        self.env = env
        self.session_factory = session_factory or default_session_factory
        # "service" or "service@region" → a ready client (e.g. one wrapped in a Stubber)
        self.overrides = dict(overrides or {})
        self.journal: list[ApiCall] = []
        self._clients: dict[tuple[str, str], Any] = {}
        self._sessions: dict[str, Any] = {}
        self._lock = threading.Lock()

    @property
    def region(self) -> str:
        if not self.env.region:
            raise ConfigError(
                "this AWS environment has no `region:`",
                "set region (and dr_region) for the environment in drill.yaml",
            )
        return self.env.region

    def _session(self, region: str) -> Any:
        """One session for every region: a boto3 session loads its models once (slow)."""
        if "base" in self._sessions:
            return self._sessions["base"]
        base = self.session_factory(region)
        if needs_placeholder_credentials(self.env.endpoint_url, base):
            import boto3

            base = boto3.session.Session(
                aws_access_key_id=PLACEHOLDER_KEY,
                aws_secret_access_key=PLACEHOLDER_KEY,
                region_name=region,
            )
        if self.env.assume_role_arn:
            import boto3

            sts = base.client("sts", region_name=region, endpoint_url=self.env.endpoint_url)
            clear_call_errors(sts, self.env.endpoint_url)
            creds = sts.assume_role(RoleArn=self.env.assume_role_arn, RoleSessionName="drill")[
                "Credentials"
            ]
            base = boto3.session.Session(
                aws_access_key_id=creds["AccessKeyId"],
                aws_secret_access_key=creds["SecretAccessKey"],
                aws_session_token=creds["SessionToken"],
                region_name=region,
                botocore_session=None,
            )
        self._sessions["base"] = base
        return base

    def client(self, service: str, region: str | None = None) -> Any:
        region = region or self.region
        key = (service, region)
        with self._lock:
            if key in self._clients:
                return self._clients[key]
            client = self.overrides.get(f"{service}@{region}") or self.overrides.get(service)
            if client is None:
                from botocore.config import Config

                client = self._session(region).client(
                    service,
                    region_name=region,
                    endpoint_url=self.env.endpoint_url,
                    config=Config(
                        retries={"max_attempts": 4, "mode": "standard"},
                        connect_timeout=5,
                        read_timeout=30,
                    ),
                )
            self._journal(client, service, region)
            self._clients[key] = client
            return client

    def _journal(self, client: Any, service: str, region: str) -> None:
        def record(params: dict[str, Any], model: Any, **_kw: Any) -> None:
            self.journal.append(ApiCall(service, region, model.name, dict(params)))

        client.meta.events.register("provide-client-params", record)
        clear_call_errors(client, self.env.endpoint_url)

    def mutating_calls(self, since: int = 0) -> list[ApiCall]:
        return [c for c in self.journal[since:] if c.mutating]

    def close(self) -> None:
        for client in self._clients.values():
            close = getattr(client, "close", None)
            if close:
                close()
        self._clients.clear()
