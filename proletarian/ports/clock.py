"""The clock port: where "now" comes from, so tests can hold time still."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol


class Clock(Protocol):
    """Where a store, and a worker, read the time (`clock=`)."""

    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""
