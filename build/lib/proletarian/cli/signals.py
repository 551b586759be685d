"""SIGINT and SIGTERM for a long-running command: the first asks for a graceful stop, a second
ends the process at once."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import Any

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopSignals:
    """While entered, SIGINT and SIGTERM set `received` instead of interrupting. A second signal
    writes one line to stderr and calls `os._exit(128 + signum)` (130 for SIGINT, 143 for
    SIGTERM) without waiting for anything: running jobs are then not finished, and come back
    when their lease lapses or their transaction is rolled back by the server.

    Main thread only (Python runs signal handlers there). The handler only assigns an attribute:
    a handler that took a lock could deadlock with the code it interrupted."""

    def __init__(self) -> None:
        self.received: signal.Signals | None = None
        self._previous: dict[signal.Signals, Any] = {}

    def __enter__(self) -> StopSignals:
        for signum in STOP_SIGNALS:
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received is not None:
            name = signal.Signals(signum).name
            os.write(2, f"proletarian: {name} again: exiting at once\n".encode())
            os._exit(128 + signum)
        self.received = signal.Signals(signum)

    def wait(self, done: Callable[[], bool], tick: float = 0.2) -> None:
        """Return once a signal arrived or `done()` is true, checking every `tick` seconds."""
        while self.received is None and not done():
            time.sleep(tick)
