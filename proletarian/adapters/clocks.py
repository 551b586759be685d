"""Clocks: the system's, and a manual one for tests."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from proletarian.core.job import aware


class SystemClock:
    """The system's clock, in UTC: the default of every store."""

    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""
        return datetime.now(UTC)


class ManualClock:
    """A clock that moves only when told to, for tests: give it to a store (`clock=`), and
    due times, retry delays and leases follow it. Thread-safe.

    Args:
        start: The time it shows first (timezone-aware). Default: 2030-01-01 00:00 UTC.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._lock = threading.Lock()
        self._now = aware(start, what="start") or datetime(2030, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        """The time it shows."""
        with self._lock:
            return self._now

    def advance(self, delta: timedelta | float) -> datetime:
        """Move forward by `delta` (a timedelta or seconds) and return the new time."""
        step = delta if isinstance(delta, timedelta) else timedelta(seconds=delta)
        with self._lock:
            self._now += step
            return self._now

    def set(self, when: datetime) -> None:
        """Show `when` (timezone-aware) from now on; it may be earlier than the time shown."""
        with self._lock:
            self._now = aware(when, what="when") or self._now
