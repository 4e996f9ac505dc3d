"""Keep secrets out of logs and evidence.

Everything written to the evidence store or printed goes through :func:`redact`:
passwords in URLs/DSNs, ``password=…`` pairs, AWS secret keys and session tokens,
and any value under a key that looks secret.
"""

from __future__ import annotations

import re
from typing import Any

MASK = "***"
_SECRET_KEYS = re.compile(r"(pass(word)?|secret|token|api[_-]?key|credential|private[_-]?key)",
                          re.I)
_PATTERNS = [
    (re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/@\s]+:)[^@\s]+@", re.I), r"\1" + MASK + "@"),
    (re.compile(r"(\bpassword\s*=\s*)('[^']*'|\"[^\"]*\"|\S+)", re.I), r"\1" + MASK),
    (re.compile(r"((?:aws_secret_access_key|aws_session_token)\s*[=:]\s*)\S+", re.I),
     r"\1" + MASK),
    (re.compile(r"(hooks\.slack\.com/services/)[A-Za-z0-9/_-]+"), r"\1" + MASK),
    (re.compile(r"([?&](?:token|key|sig|signature|secret)=)[^&\s]+", re.I), r"\1" + MASK),
]


def redact_text(text: str) -> str:
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return text


def redact(value: Any) -> Any:
    """Return a copy of ``value`` with secrets masked (str, dict, list, tuple)."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: (MASK if isinstance(k, str) and _SECRET_KEYS.search(k) and v else redact(v))
                for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact(v) for v in value)
    return value
