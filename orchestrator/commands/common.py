"""Shared CLI plumbing: global options, settings, the store (warning of orphaned runs), output."""

from __future__ import annotations

import json
import os
import re
import sys
from contextlib import AbstractContextManager, contextmanager, nullcontext, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from collections.abc import Iterator

    from rich.console import Console

    from orchestrator.config import Settings
    from orchestrator.evidence.store import EvidenceStore
    from orchestrator.evidence.writer import EvidenceDB


def warn(messages: list[str]) -> None:
    """``drill: warning: …`` on stderr, one line each (stdout stays the document)."""
    for message in messages:
        err_console().print(f"drill: warning: {message}", markup=False, soft_wrap=True)


@dataclass
class AppState:
    """One invocation's global options, and its settings and store (opened on first use)."""

    config: str | None = None
    traceback: bool = False
    _settings: Settings | None = None
    _store: EvidenceStore | None = None
    _db: EvidenceDB | None = None
    _warned: bool = field(default=False)
    store_checked: bool = field(default=False)  # the store was found sound

    def settings(self) -> Settings:
        if self._settings is None:
            from orchestrator.config import load_settings

            self._settings = load_settings(self.config)
            for warning in self._settings.warnings:
                err_console().print(f"drill: warning: {warning}", markup=False, soft_wrap=True)
        return self._settings

    def db(self, warn: bool = True, write: bool = False) -> EvidenceDB:
        """The evidence database: every journaled table, read and written (DB-API, no ORM).

        Opening it checks the store (damaged; for a writer also read-only or full:
        exit 2 before anything runs) and migrates the schema when needed. It never
        plays rollbacks — that changes environments, which only `drill recover`,
        `drill run` and the scheduler service may do — but says on stderr when a run
        awaits recovery."""
        if self._db is None:
            from orchestrator.evidence.writer import EvidenceDB

            self.check_store(write)
            from orchestrator.evidence.witness import FILE

            missing = self.store_missing()
            if missing is not None:  # (made now: a lost journal is said, not passed over)
                self.warn_store_gone(missing, anew=True)
            settings = self.settings()
            self._db = EvidenceDB.open(settings.database_url(), settings.state_path() / FILE)
        if warn and not self._warned:
            self._warned = True
            self._warn_orphans(self._db)
        return self._db

    def read_db(self) -> EvidenceDB:
        """:meth:`db` for a command that only reads (runs, status, findings, report, the
        dashboard). A SQLite store that does not exist is not created — a read leaves no
        state behind (`drill runs list` in the wrong directory left a new, empty
        `.drill/evidence.db` there, and `evidence verify` then vouched for it): the
        command reads an empty store made in a temporary directory instead. When drill on
        this machine did record a journal at that path, one stderr line says it is gone."""
        if self._db is None:
            missing = self.store_missing()
            if missing is not None:
                self.warn_store_gone(missing)
                self._db = empty_store()
        return self.db()

    def store_missing(self) -> Path | None:
        """The evidence database's SQLite file when it does not exist (nothing recorded
        there, or it was removed); None when it exists, or the store is a server's."""
        from orchestrator.commands.storecheck import sqlite_file

        path = sqlite_file(self.settings().database_url())
        return path if path is not None and not os.path.lexists(path) else None

    def store_lost(self) -> tuple[int, str, str] | None:
        """(seq, hash, when) of the newest event drill on this machine saw in the journal
        at the evidence database's location, when it saw one there (its witness)."""
        from orchestrator.evidence import witness

        settings = self.settings()
        last = witness.last_at(
            settings.state_path() / witness.FILE, witness.location(settings.database_url())
        )
        return None if last is None else last[1]

    def warn_store_gone(self, path: Path, anew: bool = False) -> None:
        """One stderr line when drill on this machine recorded a journal at ``path``,
        which is gone; ``anew``: a new database is being made there."""
        lost = self.store_lost()
        if lost is not None:
            what = (
                "a new one is made there; restore the old one from a backup to keep its evidence"
                if anew
                else "restore it from a backup — its runs are not shown"
            )
            warn(
                [
                    f"the evidence database {path} is gone: drill on this machine recorded a "
                    f"journal there (newest event #{lost[0]}, {lost[2]}); {what}"
                ]
            )

    def done(self) -> None:
        """The command is over: remember the journal head it wrote (once, not per write)."""
        if self._db is not None:
            self._db.save_witness()

    def store(self, warn: bool = True) -> EvidenceStore:
        """The store's SQLAlchemy side: migrations and the scheduler's operational tables
        (heartbeats, webhook URLs, APScheduler's jobs). Evidence is :meth:`db`'s."""
        if warn:
            self.db()
        if self._store is None:
            from orchestrator.evidence.store import EvidenceStore

            self.check_store(False)
            self._store = EvidenceStore(self.settings().database_url())
        return self._store

    def check_store(self, write: bool) -> None:
        """Store faults as one clear line (commands/storecheck.py), once per process."""
        if not self.store_checked:
            from orchestrator.commands.storecheck import check_store

            settings = self.settings()
            check_store(settings.database_url(), write, settings.state_path() / "store-check")
            self.store_checked = True

    def warn_orphans_lightly(self) -> None:
        """For read commands that never open the store (list, validate, plan, inventory,
        lab status): the same one-line warning, from an existing store only, and never a
        reason to fail."""
        if self._warned or self._db is not None:
            return
        try:
            from orchestrator.commands.storecheck import sqlite_file
            from orchestrator.evidence.writer import EvidenceDB

            url = self.settings().database_url()
            path = sqlite_file(url)
            if path is not None and not path.exists():
                return
            db = EvidenceDB(url)
            try:
                self._warned = True
                self._warn_orphans(db)
            finally:
                db.close()
        except Exception:  # a warning must never break a read command
            return

    def _warn_orphans(self, db: EvidenceDB) -> None:
        from orchestrator.engine.recovery import awaiting_recovery, protected

        try:
            orphans = awaiting_recovery(self.settings(), db)
        except Exception:  # a warning never fails a command: e.g. `evidence verify` of a
            return  # store whose run table lost a column says that itself
        if not orphans:
            return
        envs = sorted({r.env for r in orphans})
        which = (
            f"run {orphans[0].id} on {envs[0]} awaits"
            if len(orphans) == 1
            else f"{len(orphans)} runs ({', '.join(r.id for r in orphans)}) await"
        )
        how = f"drill recover --env {envs[0]}" if len(envs) == 1 else "drill recover"
        if any(protected(self.settings(), env, db) for env in envs):
            how += " --yes"  # a protected environment's recovery needs the confirmation
        sys.stderr.write(
            f"drill: warning: {which} recovery (its drill process is gone "
            f"without closing it; rollbacks may be pending): run `{how}`\n"
        )

    def provider_for(self, env: str) -> Any:
        """A provider for ``env`` (recovery plays its rollbacks through it)."""
        from orchestrator.providers import build_provider

        settings = self.settings()
        name, cfg = settings.environment(env)
        return build_provider(name, cfg, settings)


def empty_store() -> EvidenceDB:
    """An empty evidence store (the current schema, no events) in a temporary directory
    removed when the process ends: what a read command reads where none exists yet."""
    import atexit
    import shutil
    import tempfile

    from orchestrator.evidence.writer import EvidenceDB

    folder = tempfile.mkdtemp(prefix="drill-no-store-")
    db = EvidenceDB.open(f"sqlite:///{folder}/evidence.db")

    def remove() -> None:
        db.close()
        shutil.rmtree(folder, ignore_errors=True)

    atexit.register(remove)
    return db


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
    from rich.errors import MarkupError
    from rich.markup import escape

    class RedactingConsole(Console):
        def print(self, *objects: Any, **kw: Any) -> None:
            texts = [_redact_markup(o) if isinstance(o, str) else o for o in objects]
            if (
                "soft_wrap" not in kw
                and not self.is_terminal
                and all(isinstance(o, str) for o in objects)
            ):  # a log or a pipe: a message's path or URL stays whole, one line to grep
                kw["soft_wrap"] = True
            saved = self._width
            if self._width is None and _log_width(self, objects):
                self._width = LOG_TABLE_WIDTH
            try:
                super().print(*texts, **kw)
            except MarkupError:  # a message holding "[/x]": printed as it is, not a failure
                super().print(*(escape(o) if isinstance(o, str) else o for o in texts), **kw)
            finally:
                self._width = saved

        def on_broken_pipe(self) -> None:
            """Whoever read drill's output went away (a closed pipe, a log collector that
            died). rich's default exits (SystemExit), which killed a drill mid-fault with
            its rollbacks unplayed: go on, quietly — the evidence keeps the record."""
            self.quiet = True
            try:  # later raw writes to this stream (sys.stderr.write) succeed, unread
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, self.file.fileno())
                os.close(devnull)
            except (OSError, ValueError):  # not a real file descriptor
                pass

    return RedactingConsole(**kwargs)


#: how wide a table may be where no terminal says (CI logs, pipes into files)
LOG_TABLE_WIDTH = 200


def _log_width(console: Console, objects: tuple[Any, ...]) -> bool:
    """True for a table printed where no terminal gives a width: rich then assumes 80
    columns, and `drill inventory` or `drill lab status` in a CI log read `primary…`,
    `aws_db_…`, `127.0.0.…`. Such a table gets :data:`LOG_TABLE_WIDTH` (it is only as
    wide as its cells); lines and rules keep 80. ``COLUMNS`` still decides when set."""
    from rich.table import Table

    if "COLUMNS" in os.environ or not any(isinstance(o, Table) for o in objects):
        return False
    for stream in (sys.stdin, sys.stdout, sys.stderr, console.file):
        try:
            if stream is not None and stream.isatty():
                return False
        except (AttributeError, ValueError, OSError):  # closed or not a real file
            continue
    return True


def esc(value: object) -> str:
    """A value for a markup line: redacted, then escaped — names, messages, errors and
    severities ("[high]") come from definitions, servers and exceptions, and rich would
    take "[high]" for a style and an error that says "[/x]" for a broken tag."""
    from rich.markup import escape

    from orchestrator.secrets import redact_text

    return escape(redact_text(str(value)))


# a rich markup tag ([bold], [/], [red]…), not an escaped one (\[…)
_TAG = re.compile(r"(?<!\\)(\[(?:/|/?[a-z#@][^\[\]]*)\])")


def _redact_markup(text: str) -> str:
    """``text`` redacted piece by piece, its markup tags apart: a secret pattern running
    into a closing tag would eat it ("token=***]"). Text with nothing to redact (nearly
    all of it) is returned as it is, at the cost of one redaction."""
    from orchestrator.secrets import redact_text

    if redact_text(text) == text:
        return text
    return "".join(redact_text(part) for part in _TAG.split(text))  # each on its own


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


@contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """While a --json command runs code that is not drill's (an experiment's python
    probe that prints, a process it starts), whatever that code writes to stdout goes to
    stderr: stdout holds the one JSON document and nothing else (DESIGN 5). Both
    ``sys.stdout`` and file descriptor 1 are redirected, the latter for child processes;
    where fd 1 or 2 is not a real descriptor (closed, an in-process test), only the former."""
    sys.stdout.flush()
    try:
        saved: int | None = os.dup(1)
        os.dup2(2, 1)
    except OSError:
        saved = None
    try:
        with redirect_stdout(sys.stderr):
            yield
    finally:
        if saved is not None:
            os.dup2(saved, 1)
            os.close(saved)
