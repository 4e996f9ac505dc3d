"""The database DSN probes use on AWS, with the password from Secrets Manager.

``probes.db`` is a libpq DSN (typically through a bastion or an SSM tunnel) or the ARN
of a Secrets Manager secret in RDS's format (host, port, username, password, dbname).
With ``db_secret_arn`` the password is fetched at run time and only ever handed to
libpq: never logged, never stored. When the environment talks to an emulator
(``endpoint_url`` set), only loopback hosts are allowed — a test must never reach a
real address named by state or config.
"""

from __future__ import annotations

import json
from typing import Any

from orchestrator.errors import ConfigError, ProviderError
from orchestrator.netguard import dsn_problem
from orchestrator.providers.aws.context import AwsContext, aws_error


def secret_value(c: AwsContext, arn: str) -> dict[str, Any]:
    """A database secret in RDS's JSON format, read through the environment's clients
    (its endpoint and role) in the secret's own region."""
    from botocore.exceptions import ClientError

    region = arn.split(":")[3] if arn.count(":") >= 6 else c.region
    try:
        raw = c.clients.client("secretsmanager", region).get_secret_value(SecretId=arn)
    except ClientError as exc:
        raise aws_error(exc, "reading the database secret") from None
    try:
        value = json.loads(raw.get("SecretString") or "{}")
    except ValueError:
        raise ProviderError(
            "the database secret is not JSON (expected RDS's format: "
            "username, password, host, port, dbname)"
        ) from None
    return value if isinstance(value, dict) else {}


def probe_dsn(c: AwsContext, value: str | None) -> str | None:
    if not value:
        return None
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    if value.startswith("arn:aws:secretsmanager:"):
        s = secret_value(c, value)
        params: dict[str, Any] = {
            "host": s.get("host"),
            "port": s.get("port"),
            "user": s.get("username"),
            "password": s.get("password"),
            "dbname": s.get("dbname") or "postgres",
        }
    else:
        params = dict(conninfo_to_dict(value.replace("postgresql+psycopg://", "postgresql://")))
        if c.env.db_secret_arn and not params.get("password"):
            params["password"] = secret_value(c, c.env.db_secret_arn).get("password")
    dsn = make_conninfo(**{k: v for k, v in params.items() if v is not None})
    if c.env.endpoint_url and (problem := dsn_problem(dsn, sockets=True)):
        # where libpq would connect (host, hostaddr, PGHOSTADDR, a service), as the lab asks
        raise ConfigError(
            f"probes: {problem}, as this environment talks to an emulator (endpoint_url)",
            "point probes at 127.0.0.1 (a tunnel) or remove endpoint_url",
        )
    return dsn
