"""A stop whose raise was lost (DESIGN "Crash safety (Contract)": a stop at any moment
starts no further action). drill's SIGINT/SIGTERM handler raises where the run is; when
the signal lands in a weakref callback or a ``__del__`` (a library's clean-up, the
garbage collector), Python prints "Exception ignored in …" and the raise is gone. The
stop flag the handler set first must still stop the run before its next activity."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.defs import write
from tests.e2e.test_crash_safety import drill, runs

pytestmark = pytest.mark.slow


def _action(name: str, func: str, args: str, kind: str = "action") -> str:
    return (
        f"  - type: {kind}\n    name: {name}\n"
        f"    provider: {{type: python, module: tests.faults, func: {func}, arguments: {args}}}\n"
    )


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT"])
def test_an_experiment_stopped_by_a_lost_raise_starts_no_further_activity(
    workdir: Path, sig: str
) -> None:
    marker, after = workdir / "marker", workdir / "after"
    method = (
        _action("inject-marker", "touch", f'{{path: "{marker}"}}')
        # a probe: a stop during an action waits for its end, raising nothing to lose
        + _action("stopped-in-gc", "signal_in_gc", f"{{sig: {sig}}}", "probe")
        + _action("after-the-stop", "touch", f'{{path: "{after}"}}')
    )
    exp = write(
        workdir,
        "exp.yaml",
        "title: lost stop\ndescription: a stop lands in the garbage collector\n"
        f"method:\n{method}rollbacks:\n"
        + _action("remove-marker", "remove", f'{{path: "{marker}"}}'),
    )
    res = drill(workdir, "run", str(exp))
    assert "Exception ignored" in res.err, res.err  # the raise was lost, as intended
    assert not after.exists(), "an activity started after the stop"
    assert res.code == 3, res.err
    assert not marker.exists() and Path(f"{marker}.rolled-back").exists(), res.err
    assert [r["status"] for r in runs(workdir)] == ["aborted"]
