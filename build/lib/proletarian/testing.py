"""Helpers for testing applications and workers: a capturing event log and a manual clock."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from proletarian.adapters.clocks import ManualClock

__all__ = ["CapturingLog", "ManualClock"]


class CapturingLog:
    """An event sink that keeps every event; thread-safe. Pass it as `log=`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.events: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, event: str, data: Mapping[str, Any]) -> None:
        with self._lock:
            self.events.append((event, dict(data)))

    def names(self) -> list[str]:
        with self._lock:
            return [name for name, _ in self.events]

    def of(self, event: str) -> list[dict[str, Any]]:
        with self._lock:
            return [data for name, data in self.events if name == event]
