"""The dashboard benchmarks' p95 is the nearest-rank 95th percentile.

It was `times[int(n * 0.95) - 1]`: one rank low (the 47th of 50 requests, the 28th of
30), and with 2 requests the fastest one, so a quick run printed p95 below p50.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.mark.parametrize(
    ("n", "rank"),
    [(50, 48), (30, 29), (20, 19), (2, 2), (1, 1), (100, 95)],
)
def test_p95_is_the_nearest_rank(n: int, rank: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    web_dashboard = importlib.import_module("web_dashboard")
    times = [float(i) for i in range(1, n + 1)]
    assert web_dashboard.p95(times) == rank
