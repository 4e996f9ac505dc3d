"""Shared CLI plumbing: global options, settings, the store (with crash recovery), output."""

from __future__ import annotations

import json
import sys
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from orchestrator.config import Settings
    from orchestrator.evidence.store import EvidenceStore
    from orchestrator.evidence.writer import EvidenceDB


@dataclass
class AppState:
    config: str | None = None
    traceback: bool = False
    _settings: Settings | None = None
    _store: EvidenceStore | None = None
    _db: EvidenceDB | None = None
    _recovered: bool = field(default=False)

    def settings(self) -> Settings:
        if self._settings is None:
            from orchestrator.config import load_settings

            self._settings = load_settings(self.config)
        return self._settings

    def db(self, recover: bool = True) -> EvidenceDB:
        """The evidence database for the run engine (DB-API, no ORM: fast to start).

        Opening it migrates the schema when needed and first recovers runs orphaned by a
        killed drill."""
        if self._db is None:
            from orchestrator.evidence.writer import EvidenceDB

            self._db = EvidenceDB.open(self.settings().database_url())
        if recover and not self._recovered:
            self._recovered = True
            self._recover(self._db)
        return self._db

    def store(self, recover: bool = True) -> EvidenceStore:
        """The ORM evidence store (reporting, export, findings, schedules); recovers too."""
        if recover:
            self.db()
        if self._store is None:
            from orchestrator.evidence.store import EvidenceStore

            self._store = EvidenceStore(self.settings().database_url())
        return self._store

    def _recover(self, db: EvidenceDB) -> None:
        from orchestrator.engine.recovery import recover_orphans
        from orchestrator.providers import build_provider

        settings = self.settings()

        def provider_for(env: str) -> Any:
            name, cfg = settings.environment(env)
            return build_provider(name, cfg, settings)

        recover_orphans(settings, db, provider_for,
                        lambda msg: err_console().print(f"[yellow]drill:[/] {msg}"))


def state(ctx: typer.Context) -> AppState:
    obj = ctx.find_root().obj
    if not isinstance(obj, AppState):
        obj = AppState()
        ctx.find_root().obj = obj
    return obj


_consoles: dict[str, Console] = {}


def _console(**kwargs: Any) -> Console:
    """A rich Console whose every printed text goes through the one redaction: a step's
    error or an operator's note can hold a DSN or a token, and terminals end up in CI
    logs and screenshots."""
    from rich.console import Console

    from orchestrator.secrets import redact_text

    class RedactingConsole(Console):
        def print(self, *objects: Any, **kw: Any) -> None:
            super().print(*(redact_text(o) if isinstance(o, str) else o for o in objects),
                          **kw)

    return RedactingConsole(**kwargs)


def err_console() -> Console:
    """Progress and messages go to stderr, so stdout stays parseable."""
    if "err" not in _consoles:
        _consoles["err"] = _console(stderr=True, highlight=False)
    return _consoles["err"]


def working(label: str) -> AbstractContextManager[Any]:
    """A spinner with ``label`` on stderr while long work runs — only on a terminal, so
    logs and pipes stay clean; it disappears when the work is done."""
    console = err_console()
    return console.status(label) if console.is_terminal else nullcontext()


def out_console() -> Console:
    if "out" not in _consoles:
        _consoles["out"] = _console(highlight=False)
    return _consoles["out"]


def print_json(data: Any) -> None:
    """The one JSON document of a --json command: stdout, nothing else there (redacted,
    like everything drill prints)."""
    from orchestrator.secrets import redact

    sys.stdout.write(json.dumps(redact(data), indent=2, default=str) + "\n")
    sys.stdout.flush()
