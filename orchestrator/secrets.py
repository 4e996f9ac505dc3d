"""Keep secrets out of logs, evidence and export bundles: the one redaction.

Everything drill stores or exports goes through :func:`redact` (structures) or
:func:`redact_text` / :func:`redact_bytes` (text, artifact content). Two layers:

* **patterns** for secrets drill has never seen: URL/DSN passwords in every spelling
  (no user, ``@``/``%``/spaces in the password), ``password=``/``token=``/``…_SECRET…=``
  pairs in text and JSON, ``Authorization:`` headers and bearer tokens, webhook tokens,
  and any value under a key that names a secret (``secrets:`` blocks included);
* **known values**: secrets drill has read — inline experiment secrets, DSN
  passwords from definitions and drill.yaml (:func:`remember_from`), and the values of
  environment variables whose names say secret (``AWS_SECRET_ACCESS_KEY``,
  ``AWS_SESSION_TOKEN``, ``PGPASSWORD``, ``…_TOKEN``) — masked wherever they appear,
  e.g. in a process probe's ``env`` output or a driver's error message that echoes a
  password without its URL.

Over-masking is the safe failure: a masked non-secret costs readability, a leaked
secret cannot be taken back from an auditor's bundle.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any
from urllib.parse import quote, unquote

MASK = "***"
MIN_KNOWN = 6  # shorter known values are masked by the patterns only (too many false hits)

# a key or variable name that holds a secret (dict keys, NAME=value in text, env names)
# (``pass`` and ``pwd`` only as a word of a name: not "bypass", not $PWD; an access key id
# is an identifier, its secret key says "secret")
_SECRET_WORDS = (
    r"password|passwd|passphrase|secret|token|api[_-]?key|auth[_-]?key"
    r"|credential|private[_-]?key|session[_-]?key"
    r"|(?<![a-z])pass(?![a-z])|(?<=[_.-])pwd(?![a-z])"
)
_SECRET_KEY = re.compile(rf"{_SECRET_WORDS}|authorization", re.I)
_SECRET_ENV = _SECRET_KEY

_URL_PASSWORD = re.compile(
    # scheme://[user]:PASSWORD@host — the password runs to the last "@" before the end of
    # the line or a double quote, so "@", "/", "%" and spaces inside it are covered (a
    # later "@" on the line is masked with it: over-masking is the safe side); the user
    # part may be empty or hold an "@"
    r"(\b[a-z][a-z0-9+.-]{0,30}://[^\s:/'\"<>]{0,256}:)[^\n\"]{0,512}@",
    re.I,
)
_AUTH_HEADER = re.compile(
    r"(\bauthorization[\"']?[ \t]*[=:][ \t]*[\"']?)((?:bearer|basic|token|digest|negotiate)"
    r"[ \t]+)?[^\s\"',;]+",
    re.I,
)
_BEARER = re.compile(r"(\bbearer[ \t]+)[A-Za-z0-9._~+/=-]{6,}", re.I)
_PAIR = re.compile(
    # NAME=value / NAME: value / "name": "value" where NAME names a secret (the match
    # starts at the secret word: a leading prefix such as DB_ needs no scanning)
    rf"((?:{_SECRET_WORDS})[\w.-]{{0,40}}[\"']?[ \t]*[=:][ \t]*)"
    r"(\"(?:[^\"\\\n]|\\.)*\"|'[^'\n]*'|(?![\[{*])[^\s,;&'\"}\])]+)",
    re.I,
)
_QUERY = re.compile(r"([?&](?:key|sig|signature|code|auth)=)[^&\s'\"#]+", re.I)
_SLACK = re.compile(r"(hooks\.slack\.com/services/)[A-Za-z0-9/_-]+")

_TRIVIAL = {
    "true",
    "false",
    "yes",
    "no",
    "none",
    "null",
    "on",
    "off",
    "enabled",
    "disabled",
    "required",
    "optional",
}
_known: set[str] = set()


def _mask_pair(m: re.Match[str]) -> str:
    value = m.group(2)
    if value in (MASK, f'"{MASK}"', f"'{MASK}'"):
        return m.group(0)
    quote_char = value[0] if value[:1] in ("'", '"') else ""
    return f"{m.group(1)}{quote_char}{MASK}{quote_char}"


def _worth_masking(value: str) -> bool:
    """Long enough, and not a word that is everywhere (``TOKENIZERS_PARALLELISM=false``)."""
    return (
        len(value) >= MIN_KNOWN
        and value != MASK
        and not value.isdigit()
        and value.lower() not in _TRIVIAL
    )


def _env_secrets() -> set[str]:
    return {v for k, v in os.environ.items() if _SECRET_ENV.search(k) and _worth_masking(v)}


def known_values() -> set[str]:
    """Secret values to mask wherever they appear (remembered ones + secret env vars)."""
    return _known | _env_secrets()


def remember(*values: str) -> None:
    """Mask these exact values (and their URL-encoded forms) from now on."""
    for value in values:
        if isinstance(value, str) and _worth_masking(value):
            _known.update(
                v for v in (value, quote(value, safe=""), unquote(value)) if _worth_masking(v)
            )


def remember_from(value: Any) -> None:
    """Remember the secrets a definition or configuration holds: values under secret keys
    (a chaoslib ``{type: env, key: NAME}`` reference: that variable's value) and DSN
    passwords."""
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(k, str) and _SECRET_KEY.search(k):
                _remember_leaves(v)
            else:
                remember_from(v)
    elif isinstance(value, list | tuple):
        for v in value:
            remember_from(v)
    elif isinstance(value, str):
        for m in _URL_PASSWORD.finditer(value):
            end = m.end() - 1  # the "@"
            remember(value[m.end(1) : end])
        for m in _PAIR.finditer(value):
            remember(m.group(2).strip("'\""))


def _remember_leaves(value: Any) -> None:
    if isinstance(value, dict):
        if value.get("type") == "env" and isinstance(value.get("key"), str):
            remember(os.environ.get(value["key"], ""))  # the value; the name is no secret
            return
        for v in value.values():
            _remember_leaves(v)
    elif isinstance(value, list | tuple):
        for v in value:
            _remember_leaves(v)
    elif isinstance(value, str):
        remember(value)
        remember_from(value)


def redact_text(text: str) -> str:
    """``text`` with every secret masked (patterns first, then known values)."""
    text = _URL_PASSWORD.sub(r"\1" + MASK + "@", text)
    text = _AUTH_HEADER.sub(r"\1\2" + MASK, text)
    text = _BEARER.sub(r"\1" + MASK, text)
    text = _PAIR.sub(_mask_pair, text)
    text = _QUERY.sub(r"\1" + MASK, text)
    text = _SLACK.sub(r"\1" + MASK, text)
    for value in sorted(known_values(), key=len, reverse=True):
        if value in text:
            text = text.replace(value, MASK)
    return text


def is_secret_key(key: str) -> bool:
    """Does a mapping key (or variable name) name a secret?"""
    return bool(_SECRET_KEY.search(key))


def redact(value: Any) -> Any:
    """A copy of ``value`` with secrets masked (str, dict, list, tuple; keys kept)."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {
            k: (
                MASK
                if isinstance(k, str) and is_secret_key(k) and v not in (None, "")
                else redact(v)
            )
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return type(value)(redact(v) for v in value)
    return value


def redact_bytes(content: bytes) -> bytes:
    """Artifact content with secrets masked: a JSON document by structure (so a
    ``secrets:`` block goes whole), other text by pattern; binary content is kept."""
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        return content
    if text.lstrip()[:1] in ("{", "["):
        try:
            doc = json.loads(text)
        except ValueError:
            pass
        else:
            masked_doc = redact(doc)
            if masked_doc == doc:
                return content
            return json.dumps(masked_doc, indent=2, default=str).encode("utf-8")
    masked = redact_text(text)
    return content if masked == text else masked.encode("utf-8")


def is_redacted(value: Any) -> bool:
    """Does ``value`` hold a mask anywhere (was something taken out of it)?"""
    if isinstance(value, str):
        return MASK in value
    if isinstance(value, dict):
        return any(is_redacted(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(is_redacted(v) for v in value)
    return False


def restore(stored: Any, fresh: Any) -> Any:
    """``stored`` (a redacted copy) with its masked parts taken from ``fresh`` where
    ``fresh`` redacts to exactly them — how a rollback recorded without its secrets gets
    them back from its definition after a crash. Parts that do not match stay masked."""
    if redact(fresh) == stored:
        return fresh
    if isinstance(stored, dict) and isinstance(fresh, dict):
        return {
            k: v
            if k not in fresh
            else fresh[k]
            if v == MASK and is_secret_key(k)
            else restore(v, fresh[k])
            for k, v in stored.items()
        }
    if isinstance(stored, list) and isinstance(fresh, list) and len(stored) == len(fresh):
        return [restore(s, f) for s, f in zip(stored, fresh, strict=True)]
    return stored


def find_restorable(stored: Any, source: Any) -> Any:
    """Restore ``stored`` from the node of ``source`` (a whole parsed definition) it was
    taken from: the node at the same place, else the first node that redacts to it or
    whose every key redacts to ``stored``'s value (``stored`` may carry defaults)."""
    best = restore(stored, source)
    if not is_redacted(best):
        return best
    for node in _nodes(source):
        if redact(node) == stored:
            return node
        if (
            isinstance(node, dict)
            and isinstance(stored, dict)
            and node
            and all(k in stored and redact(v) == stored[k] for k, v in node.items())
        ):
            merged = {**stored, **node}
            if not is_redacted(merged):
                return merged
    return best


def _nodes(value: Any) -> list[Any]:
    out = [value]
    if isinstance(value, dict):
        for v in value.values():
            out.extend(_nodes(v))
    elif isinstance(value, list):
        for v in value:
            out.extend(_nodes(v))
    return out
