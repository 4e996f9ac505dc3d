"""Evidence-database faults, found before a command relies on the store.

A full file system, a read-only (or ``chattr +i``) file and a damaged SQLite file used
to surface as ``internal error … this is a bug in drill`` — or not at all: a read that
missed the damaged pages exited 0, and a run went on appending to a broken store. They
are the operator's to fix, so they are usage errors (exit 2) that say which file and
what to do, raised *before* anything runs. Detected here, where the CLI opens the store,
so the evidence package (its writer, its schema) stays as it is.

* damaged: SQLite's own ``PRAGMA quick_check`` (reads every page once: ~0.2 s for a
  store of 1,000 runs, see benchmarks/README.md) — again only when the file changed
  since it was last found sound (its inode, size and mtime are remembered in
  ``.drill/store-check``), so reads of an unchanged store do not pay it twice;
* read-only / full: checked only for commands that write (``drill run``, ``recover``,
  the scheduler…), since a read-only store is fine to read.

PostgreSQL stores report their own faults through the driver (already one clear line).
"""

from __future__ import annotations

import os
from pathlib import Path

from orchestrator.errors import StoreUnavailable

MIN_FREE_BYTES = 2 * 1024 * 1024  # a run writes a few hundred KiB (probe series, journal)

#: SQLite messages that are faults of the store, not of drill (sqlite3 / SQLAlchemy).
STORE_FAULTS = (
    "database disk image is malformed",
    "file is not a database",
    "database or disk is full",
    "attempt to write a readonly database",
    "disk I/O error",
    "unable to open database file",
)


def sqlite_file(url: str) -> Path | None:
    return Path(url.split("sqlite:///", 1)[1]) if url.startswith("sqlite:///") else None


def damage(path: Path) -> list[str]:
    """What SQLite finds wrong with the file (empty when it is sound). Read-only."""
    import sqlite3

    from orchestrator.evidence.writer import readonly_uri

    try:
        conn = sqlite3.connect(readonly_uri(path) or f"file:{path}?mode=ro", uri=True, timeout=30)
    except sqlite3.Error as exc:
        return [str(exc)]
    try:
        rows = [str(r[0]) for r in conn.execute("PRAGMA quick_check(20)").fetchall()]
    except sqlite3.DatabaseError as exc:
        return [str(exc)]
    finally:
        conn.close()
    if rows == ["ok"]:
        return []
    lines = [ln.strip() for row in rows for ln in row.splitlines()]
    return [ln for ln in lines if ln and not ln.startswith("*** in database")]


def _stamp(path: Path) -> str:
    st = path.stat()
    return f"{path.resolve()} {st.st_ino} {st.st_size} {st.st_mtime_ns}"


def check_store(url: str, write: bool, memo: Path | None = None) -> None:
    """Raise :class:`StoreUnavailable` when the store is damaged (or, for a writer,
    read-only or out of space). ``memo`` remembers the file (inode, size, mtime) last
    found sound, so an unchanged store is not walked again by every command."""
    path = sqlite_file(url)
    if path is None:
        return
    if path.exists():
        stamp = _stamp(path)
        try:
            known = memo is not None and memo.read_text() == stamp
        except OSError:
            known = False
        if not known:
            problems = damage(path)
            if problems:
                raise damaged_error(path, problems[0], len(problems))
            if memo is not None:
                try:
                    memo.parent.mkdir(parents=True, exist_ok=True)
                    memo.write_text(stamp)
                except OSError:
                    pass  # a read-only folder: checked again next time
    if not write:
        return
    for target in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        if target.exists() and not os.access(target, os.W_OK):
            raise StoreUnavailable(
                f"evidence database {target} is read-only",
                "make it writable (chmod u+w; chattr -i if it is immutable; a read-only "
                "mount needs remounting), then re-run; nothing was started",
            )
    folder = path.parent if path.parent.exists() else Path(".")
    if not os.access(folder, os.W_OK):
        raise StoreUnavailable(
            f"the folder of the evidence database ({folder}) is read-only",
            "SQLite writes its journal beside the file: make the folder "
            "writable, then re-run; nothing was started",
        )
    st = os.statvfs(folder)
    free = st.f_bavail * st.f_frsize
    if free < MIN_FREE_BYTES:
        raise StoreUnavailable(
            f"the file system of the evidence database {path} is full ({free // 1024} KiB "
            f"free, drill needs {MIN_FREE_BYTES // 1024 // 1024} MiB to record a run)",
            "free some space (or point `database:` elsewhere), then re-run; nothing was started",
        )


def damaged_error(path: Path, first: str, count: int = 1) -> StoreUnavailable:
    more = f" (and {count - 1} more problem(s))" if count > 1 else ""
    return StoreUnavailable(
        f"evidence database {path} is damaged: {first}{more}",
        "`drill evidence verify` reports what can still be read; restore the file from a "
        "backup (keep the damaged copy for the auditors); nothing was changed",
    )


def store_fault(exc: BaseException) -> str | None:
    """The store's own message when ``exc`` (or what caused it) is a store fault."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return None
        orig = getattr(seen, "orig", None)  # SQLAlchemy wraps the driver's error
        for candidate in (seen, orig):
            text = str(candidate or "")
            if type(candidate).__module__.startswith(("sqlite3", "sqlalchemy")) and any(
                f in text for f in STORE_FAULTS
            ):
                return next(f for f in STORE_FAULTS if f in text)
        seen = seen.__cause__ or seen.__context__
    return None


def readable_tables(path: Path) -> tuple[dict[str, int], list[str]]:
    """Of a damaged file: the tables still readable to the end (with their row counts),
    and those that are not — what ``drill evidence verify`` can still vouch for."""
    import sqlite3

    from orchestrator.evidence.writer import readonly_uri

    readable: dict[str, int] = {}
    unreadable: list[str] = []
    try:
        conn = sqlite3.connect(readonly_uri(path) or f"file:{path}?mode=ro", uri=True, timeout=30)
        names = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            )
        ]
    except sqlite3.DatabaseError:
        return readable, ["(the schema itself)"]
    try:
        for name in names:
            try:
                rows = conn.execute(f'SELECT * FROM "{name}"').fetchall()  # every page
                readable[name] = len(rows)
            except sqlite3.DatabaseError:
                unreadable.append(name)
    finally:
        conn.close()
    return readable, unreadable
