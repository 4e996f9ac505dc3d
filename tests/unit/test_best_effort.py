"""best_effort: a failing evidence store never stops an undo, and says so once per outage."""

from __future__ import annotations

import pytest

from orchestrator.engine.rollbacks import best_effort


def _fails() -> None:
    raise OSError("disk I/O error")


def test_an_outage_is_said_once_and_the_next_one_again(capsys: pytest.CaptureFixture[str]) -> None:
    assert best_effort("step 1", lambda: None)  # a working store: nothing said
    assert not best_effort("step 2", _fails)
    assert not best_effort("step 3", _fails)
    said = capsys.readouterr().err.splitlines()
    assert len(said) == 1 and "could not record step 2" in said[0], said
    assert "disk I/O error" in said[0] and "drill recover" in said[0]

    assert best_effort("step 4", lambda: None)  # the store works again: the outage ended
    assert not best_effort("step 5", _fails)
    said = capsys.readouterr().err.splitlines()
    assert len(said) == 1 and "could not record step 5" in said[0], said
    best_effort("reset", lambda: None)
