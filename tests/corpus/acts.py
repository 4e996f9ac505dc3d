"""Python activities of the corpus experiments: small, real effects on files."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def touch(path: str, text: str = "fault\n") -> bool:
    Path(path).write_text(text)
    return True


def append(path: str, line: str = "x") -> int:
    with Path(path).open("a") as f:
        f.write(line + "\n")
    return count_lines(path)


def remove(path: str) -> bool:
    Path(path).unlink(missing_ok=True)
    return True


def exists(path: str) -> bool:
    return Path(path).exists()


def count_lines(path: str) -> int:
    p = Path(path)
    return len(p.read_text().splitlines()) if p.exists() else 0


def read(path: str, default: str = "") -> str:
    p = Path(path)
    return p.read_text().strip() if p.exists() else default


def echo(value: Any) -> Any:
    return value


def inventory(path: str) -> dict[str, Any]:
    """A JSON-like document for jsonpath tolerances: the files present under path."""
    names = sorted(p.name for p in Path(path).iterdir()) if Path(path).is_dir() else []
    return {
        "status": "ok" if "broken" not in names else "degraded",
        "files": [{"name": n} for n in names],
        "count": len(names),
    }


def fail(message: str = "planned failure") -> bool:
    raise RuntimeError(message)


def token_matches(expected: str, secrets: dict[str, Any] | None = None) -> bool:
    """Secrets reach a python activity through its ``secrets`` parameter (the provider
    names the scopes it wants, ``secrets: [api]``)."""
    return (secrets or {}).get("token") == expected


def config_value(key: str, configuration: dict[str, Any] | None = None) -> Any:
    return (configuration or {}).get(key)
