"""The loopback guard (tests/sockguard.py) in every Python process the tests start.

tests/conftest.py puts this directory on ``PYTHONPATH`` and names a log file in
``LOOPBACK_GUARD_LOG`` for the pytest session only, so Python imports this module at
start-up in the subprocesses (drill, chaos, the moto server, the lab's controller...),
which inherit both. A refusal is written to the log, and the test process fails the
test during which it appeared. Without ``LOOPBACK_GUARD_LOG`` it does nothing.
"""

import os

if os.environ.get("LOOPBACK_GUARD_LOG"):
    import importlib.util
    from pathlib import Path

    _spec = importlib.util.spec_from_file_location(
        "_loopback_sockguard", Path(__file__).resolve().parent.parent / "sockguard.py"
    )
    if _spec is not None and _spec.loader is not None:
        _guard = importlib.util.module_from_spec(_spec)
        _spec.loader.exec_module(_guard)
        _guard.install(log=os.environ["LOOPBACK_GUARD_LOG"])
