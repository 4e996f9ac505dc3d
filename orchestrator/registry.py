"""A small name-keyed registry (the cloud-custodian pattern).

Actions, probes, providers and exporters register under dotted or kebab-case
names. An unknown name is an error that lists the valid ones, so a typo in a
runbook tells the user what they could have meant.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class UnknownName(KeyError):
    """Raised by :meth:`Registry.get`; carries the valid names and a suggestion."""

    def __init__(self, kind: str, name: str, valid: list[str]) -> None:
        self.kind, self.name, self.valid = kind, name, valid
        close = difflib.get_close_matches(name, valid, n=1)
        self.suggestion = close[0] if close else None
        super().__init__(name)

    def __str__(self) -> str:
        hint = f" (did you mean {self.suggestion!r}?)" if self.suggestion else ""
        return f"unknown {self.kind} {self.name!r}{hint}; valid: {', '.join(self.valid)}"


class Registry(Generic[T]):
    """Entries keyed by name; registration order is kept for listings."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str, entry: T) -> T:
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} registered twice")
        self._entries[name] = entry
        return entry

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownName(self.kind, name, sorted(self._entries)) from None

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def items(self) -> list[tuple[str, T]]:
        return list(self._entries.items())

    def names(self) -> list[str]:
        return sorted(self._entries)
