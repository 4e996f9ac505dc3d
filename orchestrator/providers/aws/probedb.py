"""Probe defaults derived from the targets (DESIGN section 4).

An AWS environment whose ``probes:`` gives no ``db`` (and is not ``none``) is probed
through the ``primary_db`` target as its Terraform state describes it: the host and
port of its ``endpoint`` (else ``address`` and ``port``), its master ``username``, its
``db_name`` (``postgres`` when the state names none, as RDS creates), and the password
from the secret RDS manages (``master_user_secret[0].secret_arn``, read through the
environment's endpoint and role at run time) or the state's own ``password``. The
password is only ever handed to libpq: what ``drill plan``, ``drill inventory`` and the
evidence show is :meth:`Derived.shown`, which has none.

The probe follows what the drill measures exactly as an explicit ``probes.db`` does:
a Multi-AZ failover keeps the endpoint name, and a promoted replica or a restored
instance is reached with these credentials at its own endpoint (``sql.instance_dsn``).
``http`` defaults to ``http://<dns_name>/`` of the ``alb`` target (scheme and port
from its ``aws_lb_listener`` in the state, if any), when there is one
and ``probes:`` names neither ``db`` nor ``http`` (a block giving ``db`` alone keeps
meaning what it did: no HTTP probe). ``global_db`` (what clients of the DNS record
reach; region promotion decides RTO with it) defaults to what the ``dns_record``
target names in the state: the database whose ``address`` its CNAME value is (its DSN
derived as the primary's), or an A record's IP at the primary's port — else the
database probe stands in, as it did (:func:`global_probe`).

Loopback is absolute: for an environment that talks to an emulator (``endpoint_url``)
a derived host that is not on 127.0.0.0/8 is refused before anything connects, naming
the state resource and attribute (exit 2), as an explicit probe would be.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from orchestrator.errors import ConfigError

if TYPE_CHECKING:
    from orchestrator.inventory.roles import Target
    from orchestrator.providers.aws.context import AwsContext

DEFAULT_DBNAME = "postgres"  # the database RDS for PostgreSQL always has
EXPLICIT = "probes.db in drill.yaml"


def given(c: AwsContext, name: str) -> str:
    """Where an explicit probe ``name`` comes from: drill.yaml's ``probes.NAME``, or
    what the environment says it is when none names it (the implicit ``lab-aws``)."""
    return c.env._probes_from.get(name) or f"probes.{name} in drill.yaml"


class NotDerived(Exception):
    """The state lacks what a probe DSN needs; the message says what and what to do."""


@dataclass(frozen=True)
class Derived:
    """A probe DSN derived from one database resource of the state."""

    resource: str  # e.g. aws_db_instance.primary
    state: str
    attribute: str  # endpoint | address: where the host came from
    host: str
    port: int
    user: str
    dbname: str
    password: str | None = field(default=None, repr=False)
    secret_arn: str | None = None

    @property
    def origin(self) -> str:
        return f"derived from {self.resource} in {self.state}"

    def shown(self) -> str:
        """What plan, inventory and evidence say: where from, and the DSN without any
        password (its source only)."""
        if self.secret_arn:
            pw = "password from Secrets Manager (its master_user_secret)"
        elif self.password:
            pw = "password from the state (not shown)"
        else:
            pw = "no password in the state (libpq's PGPASSWORD or ~/.pgpass)"
        return (
            f"{self.origin}: host={self.host} port={self.port} dbname={self.dbname} "
            f"user={self.user}, {pw}"
        )

    def conninfo(self, password: str | None) -> str:
        from psycopg.conninfo import make_conninfo

        params: dict[str, str | int | None] = {
            "host": self.host,
            "port": self.port,
            "dbname": self.dbname,
            "user": self.user,
            "password": password,
        }
        return make_conninfo("", **{k: v for k, v in params.items() if v is not None})


def _fix(env_name: str) -> str:
    return (
        f"set environments.{env_name}.probes.db to a DSN or a Secrets Manager ARN "
        "(a tunnel or bastion), or `probes: none` when the runner has no network path"
    )


def split_endpoint(value: str) -> tuple[str, int | None]:
    """``host:port`` → (host, port); a bare host → (host, None). A bracketed IPv6
    literal keeps its address (``[::1]:5432``)."""
    host, sep, port = value.rpartition(":")
    if sep and port.isdigit() and host and (":" not in host or host.endswith("]")):
        return host.strip("[]"), int(port)
    return value.strip("[]"), None


def derive(t: Target, state: str, env_name: str) -> Derived:
    """The probe DSN of database target ``t`` as ``state`` describes it; raises
    :class:`NotDerived` naming every missing attribute."""
    x = t.extra
    host, port, attribute = None, t.port, "endpoint"
    if isinstance(x.get("connect_endpoint"), str) and x["connect_endpoint"]:
        host, from_endpoint = split_endpoint(x["connect_endpoint"])
        port = from_endpoint or port
    if not host and t.endpoint:
        host, attribute = split_endpoint(t.endpoint)[0], "address"
    missing = [
        what
        for what, have in (("endpoint or address", host), ("username", x.get("username")))
        if not have
    ]
    if missing:
        raise NotDerived(
            f"no probes.db, and none can be derived: {t.address} in {state} has no "
            f"{' and no '.join(missing)}; {_fix(env_name)}"
        )
    assert host is not None
    return Derived(
        resource=t.address,
        state=state,
        attribute=attribute,
        host=host,
        port=port or 5432,
        user=str(x["username"]),
        dbname=str(x.get("db_name") or DEFAULT_DBNAME),
        password=t.password,
        secret_arn=x.get("master_user_secret_arn") or None,
    )


def refuse_beyond_loopback(d: Derived, env_name: str) -> None:
    """For an environment that talks to an emulator: a derived host must be loopback."""
    from orchestrator.netguard import is_loopback_host

    if not is_loopback_host(d.host):
        raise ConfigError(
            f"environments.{env_name}: the probe DSN would be derived from {d.resource} "
            f"in {d.state}, whose {d.attribute} is {d.host}: refusing to connect to it, "
            "loopback (127.0.0.0/8) only as this environment talks to an emulator "
            "(endpoint_url)",
            "point the state at 127.0.0.1, or " + _fix(env_name),
        )


@dataclass(frozen=True)
class DbProbe:
    """How this environment's database is probed: ``explicit`` (``probes.db``),
    ``derived``, or neither with ``why_not`` (``probes: none``, nothing derivable)."""

    explicit: str | None = None
    derived: Derived | None = None
    why_not: str | None = None
    explicit_from: str = EXPLICIT

    def shown(self) -> str:
        if self.explicit:
            return self.explicit_from
        if self.derived:
            return self.derived.shown()
        return f"none: {self.why_not}"


def db_probe(c: AwsContext) -> DbProbe:
    """The environment's database probe. Raises ConfigError for a derived host beyond
    loopback in an emulated environment (nothing has connected)."""
    probes = c.env.probes
    if probes == "none":
        return DbProbe(why_not="probes: none")
    if probes is not None and probes.db:
        return DbProbe(explicit=probes.db, explicit_from=given(c, "db"))
    if c.env.terraform is None:
        return DbProbe(why_not="no probes.db, and no Terraform state to derive one from")
    inv = c.inventory()
    t = inv.targets.get("primary_db")
    if t is None:
        why = inv.unresolved.get("primary_db", "not in the state")
        return DbProbe(
            why_not=f"no probes.db, and none can be derived: no primary_db target ({why}); "
            + _fix(c.env_name)
        )
    try:
        d = derive(t, inv.state, c.env_name)
    except NotDerived as exc:
        return DbProbe(why_not=str(exc))
    if c.env.endpoint_url:
        refuse_beyond_loopback(d, c.env_name)
    return DbProbe(derived=d)


def derived_dsn(c: AwsContext, d: Derived) -> str:
    """The derived DSN with its password (the managed secret's, else the state's)."""
    from orchestrator.providers.aws.dsn import probe_dsn, secret_value
    from orchestrator.secrets import remember

    password = d.password
    if d.secret_arn:
        password = secret_value(c, d.secret_arn).get("password") or password
    if password:
        remember(str(password))
    # probe_dsn: db_secret_arn's password when there is none yet, and the loopback
    # guard once more on the final DSN (hostaddr/PGHOSTADDR included)
    return probe_dsn(c, d.conninfo(str(password) if password else None)) or ""


def db_dsn(c: AwsContext, probe: DbProbe | None = None) -> str | None:
    """The database probe's DSN with its password, or None without a network path
    (``probe``: :func:`db_probe`'s answer, when the caller has it already)."""
    from orchestrator.providers.aws.dsn import probe_dsn

    probe = probe or db_probe(c)
    if probe.explicit:
        return probe_dsn(c, probe.explicit)
    return derived_dsn(c, probe.derived) if probe.derived else None


def record_dsn(c: AwsContext, d: Derived) -> str | None:
    """SQL on ``global_db`` with a derived DSN (which names the primary *instance*):
    the instance the DNS record names now — after ``dns.point``, the promoted
    replica, at the endpoint RDS reports for it, with the derived credentials — else
    the primary's. Read-only calls (Route53, RDS)."""
    from orchestrator.providers.aws.context import describe_instance
    from orchestrator.providers.aws.dns import _current
    from orchestrator.providers.aws.sql import instance_dsn

    inv = c.inventory()
    rec, replica = inv.targets.get("dns_record"), inv.targets.get("dr_replica")
    if rec is not None and replica is not None and replica.endpoint:
        values = {str(r["Value"]).rstrip(".") for r in _current(c, rec).get("ResourceRecords", [])}
        if replica.endpoint.rstrip(".") in values:
            found = describe_instance(c, replica.name or "", replica.region or c.dr_region) or {}
            ep = found.get("Endpoint") or {}
            return instance_dsn(c, ep.get("Address"), ep.get("Port"))
    return derived_dsn(c, d)


def global_probe(c: AwsContext) -> tuple[Derived | None, str]:
    """The global probe — what clients of the DNS record reach — derived from the
    ``dns_record`` target when ``probes:`` names no ``global_db`` and the database probe
    is derived too: (its DSN or None, where it comes from). The record's value is the
    ``address`` (or ``endpoint``) of a database of the state — that database's DSN,
    derived as the primary's — or, for an A record, an IP address at the primary's
    port and credentials. Else the database probe stands in, as it did. A host beyond
    loopback in an emulated environment is refused before anything connects."""
    probes = c.env.probes
    if probes == "none":
        return None, "none: probes: none"
    if probes is not None and probes.global_db:
        return None, given(c, "global_db")
    db = db_probe(c)
    if db.explicit:
        return None, f"the database probe stands in ({db.explicit_from})"
    if db.derived is None:
        return None, f"none: {db.why_not}"
    stand_in = "the database probe stands in: "
    inv = c.inventory()
    rec = inv.targets.get("dns_record")
    values = (rec.extra.get("records") or []) if rec is not None else []
    if rec is None or not values:
        return None, stand_in + "no dns_record target with records in the state"
    value = str(values[0]).rstrip(".")
    named = _database_at(c, value)
    try:
        if named is not None:
            d = replace(
                derive(named, inv.state, c.env_name), resource=f"{rec.address} → {named.address}"
            )
        elif _ip(value):
            d = replace(db.derived, resource=rec.address, attribute="record value", host=value)
        else:
            return None, f"{stand_in}{rec.address} names {value}, no database of the state"
    except NotDerived as exc:
        return None, f"{stand_in}{exc}"
    if c.env.endpoint_url:
        refuse_beyond_loopback(d, c.env_name)
    return d, d.shown()


def _database_at(c: AwsContext, name: str) -> Target | None:
    """The database target (primary or DR replica) whose address is ``name``."""
    for role in ("primary_db", "dr_replica"):
        t = c.inventory().targets.get(role)
        if t is not None and t.endpoint and t.endpoint.rstrip(".") == name:
            return t
    return None


def _ip(value: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def http_probe(c: AwsContext) -> tuple[str | None, str]:
    """(URL, where it came from): ``probes.http``, else the ``alb`` target's
    ``http://<dns_name>/``, else none. Refuses a derived host beyond loopback in an
    emulated environment."""
    probes = c.env.probes
    if probes == "none":
        return None, "none: probes: none"
    if probes is not None and probes.http:
        return probes.http, given(c, "http")
    if probes is not None and probes.db:  # the operator chose the probes: as before
        return None, "none: probes.db is given without probes.http"
    if c.env.terraform is None:
        return None, "none: no probes.http, and no Terraform state to derive one from"
    inv = c.inventory()
    alb = inv.targets.get("alb")
    if alb is None or not alb.endpoint:
        return None, "none: no probes.http, and no alb target with a dns_name in the state"
    url = alb_url(alb.endpoint, alb.extra.get("listener"))
    if c.env.endpoint_url:
        from orchestrator.netguard import url_problem

        if url_problem(url):
            raise ConfigError(
                f"environments.{c.env_name}: the http probe would be derived from "
                f"{alb.address} in {inv.state}, whose dns_name is {alb.endpoint}: refusing "
                "to connect to it, loopback (127.0.0.0/8) only as this environment talks "
                "to an emulator (endpoint_url)",
                f"set environments.{c.env_name}.probes.http to a URL on 127.0.0.1, "
                "or `probes: none`",
            )
    return url, f"derived from {alb.address} in {inv.state}: {url}"


def alb_url(dns_name: str, listener: dict[str, object] | None) -> str:
    """``http://<dns_name>/``, with the scheme and port of its HTTP(S) listener in the
    state when there is one (the default port left out)."""
    scheme, port = "http", None
    if listener:
        scheme = "https" if listener.get("protocol") == "HTTPS" else "http"
        port = listener.get("port")
    default = 443 if scheme == "https" else 80
    suffix = f":{port}" if port and port != default else ""
    return f"{scheme}://{dns_name}{suffix}/"


def sources(c: AwsContext) -> dict[str, str]:
    """Where each probe comes from, for ``drill plan``, ``drill inventory`` and the
    evidence (redacted: no password)."""
    from orchestrator.secrets import redact_text

    return {
        "db": redact_text(db_probe(c).shown()),
        "global_db": redact_text(global_probe(c)[1]),
        "http": redact_text(http_probe(c)[1]),
    }
