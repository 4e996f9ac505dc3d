"""Files the operator names with ``--out``: written whole, in place, and nowhere else.

drill often runs as root (the lab, CI), so a careless path must not reach anything
but a new or existing regular file: an existing symlink (``/dev/stdout`` is one), a
device, a FIFO or a directory at the path is refused, never replaced, chmod-ed or
written through. Content goes to a temporary file beside the target (created with
``O_EXCL|O_NOFOLLOW``) and is renamed over it, so a failed write leaves no half file.
Every problem — a missing or non-directory parent, a name too long, no permission —
is a one-line usage error naming the option.
"""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Callable
from pathlib import Path

from orchestrator.errors import UsageError

_KINDS = (
    (stat.S_ISLNK, "a symbolic link"),
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
)


def _not_regular(path: Path) -> str | None:
    """What ``path`` is when it exists and is not a regular file (None otherwise)."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return None
    return next((what for test, what in _KINDS if test(mode)), None)


_WAL_MAGIC = (b"\x37\x7f\x06\x82", b"\x37\x7f\x06\x83")


def _precious(path: Path, key: bool) -> str | None:
    """What ``path`` holds when it is a file no output may replace: an evidence database
    (``--out .drill/evidence.db`` replaced every record with the bundle), its write-ahead
    log, or — unless replacing a key is what was asked (``key``) — a private key."""
    try:
        with open(path, "rb") as fh:  # a regular file (checked before): no FIFO to block
            head = fh.read(64)
    except OSError:  # absent, or unreadable: the write says why, if it fails
        return None
    if head.startswith(b"SQLite format 3\x00"):
        return "a SQLite database"
    if head[:4] in _WAL_MAGIC:
        return "a SQLite log"
    if not key and head.startswith(b"-----BEGIN") and b"PRIVATE KEY" in head:
        return "a private key"
    return None


def check_output(
    path: Path, option: str, *, overwrite: bool = True, replace_key: bool = False
) -> Path:
    """Refuse ``path`` (exit 2) unless a regular file may be written there; create its
    missing parent directories. Returns ``path``. ``replace_key``: a private key there may
    be replaced (`drill evidence keygen --force`)."""
    what = None
    try:
        what = _not_regular(path)
        if what is None and overwrite and (held := _precious(path, replace_key)) is not None:
            raise UsageError(
                f"{option} {path} is {held}: drill never writes over one",
                "name another file: this may be the evidence database or the signing key",
            )
        if what is None and not overwrite and os.path.lexists(path):
            raise UsageError(f"{option} {path} already exists", "use --force to replace it")
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{option} {path}: {_reason(exc)}", _HINT) from None
    if what is not None:
        raise UsageError(
            f"{option} {path} is {what}: drill only writes regular files",
            "name a new file, or an existing regular file to replace",
        )
    if not path.parent.is_dir():
        raise UsageError(f"{option} {path}: {path.parent} is not a directory", _HINT)
    return path


def write_output(
    path: Path,
    option: str,
    write: Callable[[Path], object],
    mode: int = 0o644,
    *,
    overwrite: bool = True,
    replace_key: bool = False,
) -> Path:
    """Check ``path``, let ``write`` fill a temporary file beside it, rename it over.

    ``mode`` is the file's mode from its creation (a private key is never readable by
    others, not even for an instant)."""
    check_output(path, option, overwrite=overwrite, replace_key=replace_key)
    tmp = path.parent / f".drill-{os.getpid()}-{secrets.token_hex(4)}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
        os.close(fd)
        write(tmp)
        if (what := _not_regular(path)) is not None:  # appeared meanwhile
            raise UsageError(f"{option} {path} is {what}: drill only writes regular files")
        os.replace(tmp, path)
    except OSError as exc:
        raise UsageError(f"{option} {path}: {_reason(exc)}", _HINT) from None
    finally:
        tmp.unlink(missing_ok=True)
    return path


_HINT = "name a file in an existing, writable directory"


def _reason(exc: OSError) -> str:
    return exc.strerror.lower() if exc.strerror else exc.__class__.__name__
