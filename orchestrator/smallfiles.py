"""Reading the small files drill keeps or is pointed at (its witness of journal heads,
the last verify, a lock's holder, a public key): from a regular file, and no more than
the file can sensibly hold.

A path that names a device or a FIFO — a symlink to /dev/zero in `.drill/`, a
`--public-key /dev/zero` — was read to the end: memory ran out ("internal error:
MemoryError"), or drill waited on the FIFO for good. Here either is an :class:`OSError`
whose ``strerror`` says what the path is, so the callers' one-line errors hold.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

#: the default bound: drill's own small files are a few KiB
LIMIT = 1024 * 1024


def read_small(path: Path, limit: int = LIMIT) -> bytes:
    """The bytes of the regular file ``path``; OSError if it is not one (a directory,
    a device, a FIFO, a socket) or holds more than ``limit`` bytes."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO's open does not wait
    with os.fdopen(fd, "rb") as fh:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
        if not stat.S_ISREG(mode):
            raise OSError(
                errno.EINVAL, "not a regular file but a device, a FIFO or a socket", str(path)
            )
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise OSError(errno.EFBIG, f"larger than {limit} bytes", str(path))
    return data
