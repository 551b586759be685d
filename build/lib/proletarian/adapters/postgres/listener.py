"""Wake-ups by LISTEN/NOTIFY on a dedicated connection."""

from __future__ import annotations

import time
from typing import Any

import psycopg

from proletarian.core.errors import StoreUnavailable


class PostgresListener:
    """A LISTEN on the store's channel over its own autocommit connection (never a pooled one:
    it stays idle, listening, for as long as the worker runs). Every enqueue notifies the
    channel with its queue's name when its transaction commits. For the thread that listens."""

    def __init__(self, conn: psycopg.Connection[Any], queues: frozenset[str]) -> None:
        self._conn = conn
        self._queues = queues

    def wait(self, timeout: float) -> bool:
        """True as soon as a notification for one of the queues arrives, False after `timeout`
        seconds without one. Raises StoreUnavailable when the connection is lost."""
        deadline = time.monotonic() + timeout
        heard = False
        try:
            while not heard:
                remaining = deadline - time.monotonic()
                # stop_after=1 returns at the first notification, and every one that came in
                # the same packet: a burst of enqueues is taken in one call.
                for notify in self._conn.notifies(timeout=max(remaining, 0.0), stop_after=1):
                    heard = heard or notify.payload in self._queues
                if remaining <= 0:
                    break
        except psycopg.Error as exc:
            raise StoreUnavailable(f"PostgreSQL listener connection lost: {exc}") from exc
        return heard

    def close(self) -> None:
        self._conn.close()

    def __repr__(self) -> str:
        return f"<PostgresListener queues={sorted(self._queues)!r} closed={self._conn.closed}>"
