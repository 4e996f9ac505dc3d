"""`drill serve` stops cleanly, exit 0, on SIGINT (Ctrl-C) and on SIGTERM (systemd, docker).

uvicorn re-raises the signal it shut down on once it has restored the previous
handler: SIGTERM then killed the process by the default action, exit status 143
(-15), outside DESIGN's exit codes; SIGINT ended 0.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.clihelp import spawn


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_serve_stops_with_exit_0(workdir: Path, sig: signal.Signals) -> None:
    proc = spawn(workdir, "serve", "--port", "0")
    assert proc.stderr is not None
    seen = ""
    while "drill dashboard on" not in seen:
        line = proc.stderr.readline()
        assert line, seen
        seen += line
    proc.send_signal(sig)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, (proc.returncode, seen + err)
    assert "Traceback" not in err
