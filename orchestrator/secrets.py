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
    # NAME=value / NAME: value / "name": "value"; the value (a lookahead: a name's match
    # never swallows a pair inside its value) is masked when NAME names a secret. One
    # pass over the text, the name checked afterwards: an alternation of secret words
    # tried at every position was ~20x slower.
    r"(?<![\w.-])([\w.-]{1,60})([\"']?[ \t]*[=:][ \t]*)"
    r"(?=(\"(?:[^\"\\\n]|\\.)*\"|'[^'\n]*'|(?![\[{*])[^\s,;&'\"}\])]+))"
)
_PAIR_NAME = re.compile(_SECRET_WORDS, re.I)  # (an Authorization header: _AUTH_HEADER)
_QUERY = re.compile(r"([?&](?:key|sig|signature|code|auth)=)[^&\s'\"#]+", re.I)
_SLACK = re.compile(r"(hooks\.slack\.com/services/)[A-Za-z0-9/_-]+")

# words that are everywhere in drill's text: as a known value (PGPASSWORD=postgres in a
# dev shell) masking them would garble every DSN and message and protect nothing — a
# password equal to one of them is no secret from anyone reading the evidence anyway
# (the patterns still mask it where it stands as a password)
_TRIVIAL = {
    "true", "false", "yes", "no", "none", "null", "on", "off", "enabled", "disabled",
    "required", "optional", "postgres", "postgresql", "password", "admin", "root",
    "drill", "localhost", "secret", "changeme",
}  # fmt: skip
_known: set[str] = set()
_env_names: dict[str, Any] = {}


# FILE:LINE — a location, not a pair: `runbooks/secret-rotation.yaml:12: …` read as the
# name "secret-rotation.yaml" with the value "12:", and every error about that file lost
# its line number
_FILE_NAME = re.compile(
    r"\.(?:ya?ml|json|jsonl|py|md|txt|toml|ini|cfg|conf|env|csv|html|sql|sh|tf)$", re.I
)
_LINE_NO = re.compile(r"\d{1,9}:?")


def _secret_values(text: str) -> list[tuple[int, int]]:
    """Spans of the values of NAME=value pairs whose NAME names a secret."""
    spans: list[tuple[int, int]] = []
    for m in _PAIR.finditer(text):
        if spans and m.start() < spans[-1][1]:
            continue  # inside a value already masked
        name, value = m.group(1), m.group(3)
        if m.group(2) == ":" and _LINE_NO.fullmatch(value) and _FILE_NAME.search(name):
            continue
        if _PAIR_NAME.search(name) and value.strip("'\"") != MASK:
            spans.append(m.span(3))
    return spans


def _mask_pairs(text: str) -> str:
    out, pos = [], 0
    for start, end in _secret_values(text):
        quote_char = text[start] if text[start] in ("'", '"') else ""
        out += [text[pos:start], quote_char, MASK, quote_char]
        pos = end
    return "".join(out) + text[pos:] if out else text


def _worth_masking(value: str) -> bool:
    """Long enough, and not a word that is everywhere (``TOKENIZERS_PARALLELISM=false``)."""
    return (
        len(value) >= MIN_KNOWN
        and value != MASK
        and not value.isdigit()
        and value.lower() not in _TRIVIAL
    )


def _env_secrets() -> set[str]:
    """Values of the environment variables whose names say secret. Matching every name
    costs ~0.1-0.5 ms, and a run redacts ~100 times: the names are matched again only
    when the number of variables changes; their values are read every time."""
    if _env_names.get("count") != len(os.environ):
        _env_names["count"] = len(os.environ)
        _env_names["names"] = [k for k in os.environ if _SECRET_ENV.search(k)]
    values = (os.environ.get(k, "") for k in _env_names["names"])
    return {v for v in values if _worth_masking(v)}


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
        for start, end in _secret_values(value):
            remember(value[start:end].strip("'\""))


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
    """``text`` with every secret masked (patterns first, then known values). Each
    pattern runs only when a cheap substring test says it can match."""
    return _redact_str(text, _known_longest_first())


def _known_longest_first() -> list[str]:
    return sorted(known_values(), key=len, reverse=True)


def _redact_str(text: str, known: list[str]) -> str:
    low = text.lower()
    if "://" in text:
        text = _URL_PASSWORD.sub(r"\1" + MASK + "@", text)
    if "authorization" in low:
        text = _AUTH_HEADER.sub(r"\1\2" + MASK, text)
    if "bearer" in low:
        text = _BEARER.sub(r"\1" + MASK, text)
    if ("=" in text or ":" in text) and any(w in low for w in _PAIR_HINTS):
        text = _mask_pairs(text)
    if "=" in text and ("?" in text or "&" in text):
        text = _QUERY.sub(r"\1" + MASK, text)
    if "hooks.slack.com" in text:
        text = _SLACK.sub(r"\1" + MASK, text)
    for value in known:
        if value in text:
            text = text.replace(value, MASK)
    return text


_PAIR_HINTS = ("pass", "pwd", "secret", "token", "key", "credential")


def is_secret_key(key: str) -> bool:
    """Does a mapping key (or variable name) name a secret?"""
    return bool(_SECRET_KEY.search(key))


def redact(value: Any) -> Any:
    """A copy of ``value`` with secrets masked (str, dict, list, tuple; keys kept)."""
    return _redact(value, _known_longest_first())


def _redact(value: Any, known: list[str]) -> Any:
    if isinstance(value, str):
        return _redact_str(value, known)
    if isinstance(value, dict):
        return {
            k: (
                MASK
                if isinstance(k, str) and is_secret_key(k) and _may_be_secret(v)
                else _redact(v, known)
            )
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return type(value)(_redact(v, known) for v in value)
    return value


def _may_be_secret(value: Any) -> bool:
    """Whether a value under a secret-naming key is masked whole: not an empty one, and
    not a yes/no about a secret (``password_in_state: false`` in ``drill inventory
    --json`` said ``"***"`` whether the state held a password or not)."""
    return value not in (None, "") and not isinstance(value, bool)


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
