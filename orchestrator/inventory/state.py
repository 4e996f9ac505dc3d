"""Read Terraform state: v4 state files (local or the S3 backend's object) and
``terraform show -json`` output, into one flat list of resources.

The S3 object is read with a plain ``GetObject``: read-only, and no DynamoDB lock is
taken, so a drill can never block or corrupt a ``terraform apply``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.errors import ConfigError, DefinitionError, ProviderError

MAX_STATE_BYTES = 512 * 1024 * 1024  # a state with thousands of resources is tens of MB

_ARN_REGION = re.compile(r"^arn:aws[a-z-]*:[a-z0-9-]+:([a-z]{2}-[a-z]+-\d):")
_ALIAS = re.compile(r'provider\["[^"]+"\]\.(\w+)$')


@dataclass(frozen=True)
class TfResource:
    """One resource instance of the state."""

    address: str  # e.g. module.dr.aws_db_instance.replica or aws_subnet.db["a"]
    type: str
    name: str
    mode: str = "managed"
    module: str | None = None
    provider: str = ""
    provider_alias: str | None = None
    index: int | str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)

    @property
    def region(self) -> str | None:
        """The region, read from the ARN (works for both state formats and any alias)."""
        arn = self.attributes.get("arn")
        if isinstance(arn, str) and (m := _ARN_REGION.match(arn)):
            return m.group(1)
        az = self.attributes.get("availability_zone")
        if isinstance(az, str) and re.match(r"^[a-z]{2}-[a-z]+-\d[a-z]$", az):
            return az[:-1]
        return None

    @property
    def tags(self) -> dict[str, str]:
        tags = self.attributes.get("tags_all") or self.attributes.get("tags") or {}
        return {str(k): str(v) for k, v in tags.items()} if isinstance(tags, dict) else {}


@dataclass
class TfState:
    source: str
    resources: list[TfResource]

    def by_address(self) -> dict[str, TfResource]:
        return {r.address: r for r in self.resources}

    def of_type(self, type_: str) -> list[TfResource]:
        return [r for r in self.resources if r.type == type_ and r.mode == "managed"]


def _address(module: str | None, mode: str, type_: str, name: str, index: int | str | None) -> str:
    base = f"{type_}.{name}" if mode == "managed" else f"data.{type_}.{name}"
    if module:
        base = f"{module}.{base}"
    if index is None:
        return base
    return f"{base}[{index}]" if isinstance(index, int) else f'{base}["{index}"]'


_JSON_NAMES = {list: "a list", dict: "an object", str: "a string", int: "a number"}


def _want(
    value: Any, kind: type | tuple[type, ...], source: str, where: str, required: bool = False
) -> Any:
    """``value`` if it has the JSON type a state of that format has there (absent: an
    empty list/object, or None); else a ConfigError naming the place, such as
    ``resources[3].instances[0].attributes``."""
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if value is None and not required:
        return [] if list in kinds else {} if dict in kinds else None
    if isinstance(value, bool) or not isinstance(value, kinds):
        want = " or ".join(_JSON_NAMES[k] for k in kinds)
        raise ConfigError(
            f"{source}: not a Terraform state: {where} should be {want}, "
            f"not {type(value).__name__} ({value!r:.40})",
            "point `terraform: {state: …}` at a v4 state file or at `terraform show -json` output",
        )
    return value


def parse_state(doc: Any, source: str) -> TfState:
    """A state v4 document or a ``terraform show -json`` document → :class:`TfState`."""
    if not isinstance(doc, dict):
        raise ConfigError(f"{source}: not a Terraform state (expected a JSON object)")
    if "planned_values" in doc or "resource_changes" in doc:  # read as an empty state
        raise ConfigError(
            f"{source}: a Terraform plan (`terraform show -json PLANFILE`), not the state",
            "give the state: the state file, s3://bucket/key, or `terraform show -json` "
            "run without a plan file",
        )
    if "values" in doc or "format_version" in doc:
        return TfState(
            source, _parse_show(_want(doc.get("values"), dict, source, "values"), source)
        )
    version = doc.get("version")
    if version != 4:
        raise ConfigError(
            f"{source}: Terraform state version {version!r:.40} is not supported",
            "drill reads state version 4 (Terraform ≥ 0.12) or `terraform show -json` output",
        )
    out: list[TfResource] = []
    for i, res in enumerate(_want(doc.get("resources"), list, source, "resources")):
        at = f"resources[{i}]"
        _want(res, dict, source, at, required=True)
        type_, name = (
            _want(res.get(k), str, source, f"{at}.{k}", required=True) for k in ("type", "name")
        )
        mode = _want(res.get("mode"), str, source, f"{at}.mode") or "managed"
        module = _want(res.get("module"), str, source, f"{at}.module")
        provider = _want(res.get("provider", ""), str, source, f"{at}.provider") or ""
        alias = m.group(1) if (m := _ALIAS.search(provider)) else None
        for j, inst in enumerate(_want(res.get("instances"), list, source, f"{at}.instances")):
            where = f"{at}.instances[{j}]"
            _want(inst, dict, source, where, required=True)
            index = _want(inst.get("index_key"), (int, str), source, f"{where}.index_key")
            attrs = _want(inst.get("attributes"), dict, source, f"{where}.attributes")
            out.append(
                TfResource(
                    _address(module, mode, type_, name, index),
                    type_,
                    name,
                    mode,
                    module,
                    provider,
                    alias,
                    index,
                    dict(attrs),
                )
            )
    return TfState(source, out)


def _parse_show(values: dict[str, Any], source: str) -> list[TfResource]:
    out: list[TfResource] = []
    stack = [
        ("values.root_module", _want(values.get("root_module"), dict, source, "values.root_module"))
    ]
    while stack:
        at, mod = stack.pop()
        module = _want(mod.get("address"), str, source, f"{at}.address")
        for i, res in enumerate(_want(mod.get("resources"), list, source, f"{at}.resources")):
            where = f"{at}.resources[{i}]"
            _want(res, dict, source, where, required=True)
            address, type_, name = (
                _want(res.get(k), str, source, f"{where}.{k}", True)
                for k in ("address", "type", "name")
            )
            mode = _want(res.get("mode"), str, source, f"{where}.mode") or "managed"
            provider = _want(res.get("provider_name"), str, source, f"{where}.provider_name")
            index = _want(res.get("index"), (int, str), source, f"{where}.index")
            attrs = _want(res.get("values"), dict, source, f"{where}.values")
            out.append(
                TfResource(
                    address, type_, name, mode, module, provider or "", None, index, dict(attrs)
                )
            )
        children = _want(mod.get("child_modules"), list, source, f"{at}.child_modules")
        for i in reversed(range(len(children))):
            child = f"{at}.child_modules[{i}]"
            stack.append((child, _want(children[i], dict, source, child, required=True)))
    return out


def load_state(location: str, base_dir: Path, s3_client: Any = None) -> TfState:
    """Read the state from a local path or ``s3://bucket/key`` (``s3_client`` needed)."""
    if location.startswith("s3://"):
        bucket, _, key = location[len("s3://") :].partition("/")
        if not bucket or not key:
            raise ConfigError(f"bad S3 state location {location!r}", "use s3://bucket/key")
        if s3_client is None:
            raise ConfigError("an S3 state location needs AWS credentials (no client given)")
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            body = s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError as exc:
            raise ConfigError(
                f"cannot read Terraform state {location}: "
                f"{exc.response.get('Error', {}).get('Code', exc)}",
                "check the bucket/key and that the credentials may s3:GetObject",
            ) from None
        except (BotoCoreError, ProviderError) as exc:  # ProviderError: see aws.clients
            raise ConfigError(f"cannot read Terraform state {location}: {exc}") from None
        return _decode(body, location)
    path = Path(location).expanduser()  # as drill.yaml's other paths
    if not path.is_absolute():
        path = base_dir / path
    from orchestrator.yamlguard import read_regular

    try:
        body = read_regular(path, MAX_STATE_BYTES)
    except DefinitionError as exc:
        raise ConfigError(
            f"cannot read Terraform state: {exc.problems[0]}",
            "check `terraform: {state: …}` for the environment in drill.yaml",
        ) from None
    return _decode(body, str(path))


def _decode(body: bytes, source: str) -> TfState:
    try:
        doc = json.loads(body)
    except UnicodeDecodeError:
        raise ConfigError(f"{source}: not a Terraform state (not UTF-8 JSON)") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{source}:{exc.lineno}: invalid JSON in Terraform state: {exc.msg}"
        ) from None
    return parse_state(doc, source)
