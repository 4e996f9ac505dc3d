"""The forked worker of export and verify: its result, its error, and Ctrl-C in it."""

from __future__ import annotations

import os

import pytest

from orchestrator.evidence.forked import in_child
from tests.procs import children


def test_the_child_computes_and_the_parent_gets_the_result() -> None:
    parent = os.getpid()
    assert in_child(lambda: (os.getpid() != parent, [1, 2]))() == (True, [1, 2])


def test_an_error_in_the_child_is_raised_in_the_parent() -> None:
    def fails() -> None:
        raise ValueError("no such table")

    with pytest.raises(RuntimeError, match="ValueError: no such table"):
        in_child(fails)()


def test_ctrl_c_in_the_child_is_an_interruption_in_the_parent() -> None:
    def interrupted() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        in_child(interrupted)()


def test_a_failing_parent_abandons_its_child_without_losing_its_own_error() -> None:
    from orchestrator.evidence.forked import abandon

    def fails() -> None:
        raise ValueError("the child's")

    before = children()
    wait = in_child(fails)
    assert children() > before
    with pytest.raises(OSError, match="the parent's"):
        try:
            raise OSError("the parent's")
        except BaseException:
            abandon(wait)  # reaped, its error dropped
            raise
    assert children() == before  # reaped
