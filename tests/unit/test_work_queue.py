"""WorkQueue: a process and its forked worker take each item exactly once, whoever is
free first; end-of-items is seen by both; drain stops the worker early."""

from __future__ import annotations

import time

import pytest

from orchestrator.evidence.forked import WorkQueue, in_child


def test_each_item_is_taken_exactly_once_and_the_faster_side_takes_more() -> None:
    queue = WorkQueue(40)

    def slow_worker() -> list[int]:
        taken = []
        for i in iter(queue.take, None):
            taken.append(i)
            time.sleep(0.05)  # the worker is the slow side here
        return taken

    wait = in_child(slow_worker)
    mine = []
    try:
        for i in iter(queue.take, None):
            mine.append(i)
            time.sleep(0.005)
    finally:
        theirs = wait()
        queue.close()
    assert sorted(mine + theirs) == list(range(40))
    assert not set(mine) & set(theirs)
    assert len(mine) > len(theirs)


def test_drain_leaves_nothing_and_empty_queues_end_at_once() -> None:
    queue = WorkQueue(5)
    assert queue.take() == 0
    queue.drain()
    assert queue.take() is None
    queue.close()
    empty = WorkQueue(0)
    assert empty.take() is None
    empty.close()


def test_a_queue_too_big_for_a_pipe_is_refused() -> None:
    with pytest.raises(ValueError, match="at most"):
        WorkQueue(100_000)
