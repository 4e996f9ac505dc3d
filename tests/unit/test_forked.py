"""The forked worker of export and verify: its result, its error, and Ctrl-C in it."""

from __future__ import annotations

import os

import pytest

from orchestrator.evidence.forked import in_child


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
