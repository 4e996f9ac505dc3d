"""Pause Python's cyclic garbage collector around bulk evidence work.

Why: verify and export allocate hundreds of thousands of small container objects (row
tuples, dicts, views) that are freed by reference counting alone — none of them form
cycles. The cyclic collector still runs every 700 allocations and, as the number of
live objects grows, its full passes walk all of them: measured on the benchmark DB,
that was ~40 % of building a quarter's views and ~2 s of CPU of a full ``verify``.
Whatever cyclic garbage appears meanwhile is collected when the collector is back on.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    """Disable the cyclic collector for the block (re-enabled after, if it was on)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
