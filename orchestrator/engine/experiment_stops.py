"""Why chaoslib stopped an experiment early: a signal, or the experiment itself.

A journal ends ``interrupted`` or ``aborted`` for two different reasons. Someone
stopped the run with a signal — SIGINT/SIGTERM/``drill abort`` (drill's own handler),
or SIGUSR1/SIGUSR2 (chaoslib's, also sent by ``chaoslib.exit``'s helpers) — which is
DESIGN 13's ``aborted``, exit 3. Or the experiment stopped itself: a control or probe
raised ``InterruptExecution`` (``interrupted``; ``chaos run`` exits 1), or an activity
hit an error chaoslib did not expect (``aborted``: "un expected fatal error"). drill
reported those as aborted too — exit 3, "nothing new was started", no finding and no
word of the error — so a broken experiment looked like an operator's stop. They are
failures (exit 1) whose finding says what chaoslib said.

:class:`StopWitness` notes chaoslib's SIGUSR1/SIGUSR2 handlers firing (it wraps them
once chaoslib has installed them, from the run's ``started`` event) and keeps the last
fatal message chaoslib logs.
"""

from __future__ import annotations

import logging
import signal
from typing import Any

USR_SIGNALS = tuple(getattr(signal, n) for n in ("SIGUSR1", "SIGUSR2") if hasattr(signal, n))


class StopWitness(logging.Handler):
    """Attach with :meth:`watching`; :meth:`wrap_signals` from the ``started`` event."""

    def __init__(self) -> None:
        super().__init__(level=logging.CRITICAL)
        self.signalled: str | None = None  # the name of a chaoslib signal that fired
        self.fatal: str | None = None  # chaoslib's last fatal message (the error's last line)

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            self.fatal = f"{exc.__class__.__name__}: {exc}"
        else:
            self.fatal = record.getMessage()

    def wrap_signals(self) -> None:
        """Note SIGUSR1/SIGUSR2 before chaoslib's own handler acts on them."""
        for sig in USR_SIGNALS:
            original = signal.getsignal(sig)
            if not callable(original):
                continue

            def noted(signum: int, frame: Any, original: Any = original) -> Any:
                self.signalled = signal.Signals(signum).name
                return original(signum, frame)

            signal.signal(sig, noted)

    def watching(self) -> Any:
        """A context manager: chaoslib's logger reports to this witness meanwhile."""
        import contextlib

        logger = logging.getLogger("chaostoolkit")

        @contextlib.contextmanager
        def attached() -> Any:
            logger.addHandler(self)
            try:
                yield self
            finally:
                logger.removeHandler(self)

        return attached()
