"""Helpers for testing applications and workers: the stores for tests (`MemoryStore`, a full
store in memory; `NullStore`, which records calls and keeps nothing), a manual clock and a
capturing event log. The stores and the clock are the adapters' own classes, also importable
from `proletarian.adapters.memory`, `.null` and `.clocks`."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from proletarian.adapters.clocks import ManualClock
from proletarian.adapters.memory import MemoryStore
from proletarian.adapters.null import NullStore

__all__ = ["CapturingLog", "ManualClock", "MemoryStore", "NullStore"]


class CapturingLog:
    """An event sink that keeps every event; thread-safe. Pass it as `log=` to a QueueWorker,
    then assert on what happened.

    Attributes:
        events: Every event so far, in order, as `(name, data)`.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.events: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, event: str, data: Mapping[str, Any]) -> None:
        with self._lock:
            self.events.append((event, dict(data)))

    def names(self) -> list[str]:
        """The names of the events so far, in order."""
        with self._lock:
            return [name for name, _ in self.events]

    def of(self, event: str) -> list[dict[str, Any]]:
        """The data of each event named `event`, in order."""
        with self._lock:
            return [data for name, data in self.events if name == event]
