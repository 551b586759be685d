"""How long PostgresStore waits on the network: the libpq settings `PostgresStore.connect` adds
to a conninfo that lacks them, and the watchdog that bounds each reply to the store's own
statements.

Without them a silent network partition (packets dropped, nothing reset) blocks a producer
for as long as it lasts: libpq waits for a reply as long as TCP keeps the connection, which
with the system's defaults is hours.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from proletarian.core.errors import ConfigurationError, StoreUnavailable
from proletarian.core.urls import redact, scrub

# Added by PostgresStore.connect to a conninfo that does not set them (libpq's names and units).
NETWORK_DEFAULTS = {
    # Seconds to open a connection and log in (psycopg's floor is 2); then StoreUnavailable,
    # or the pool tries again.
    "connect_timeout": "5",
    # A connection that has received nothing for 10 s is probed every 5 s. Every peer's kernel
    # answers a probe, however long its statement runs, so this never ends a healthy wait:
    # only one whose peer is unreachable. On Linux tcp_user_timeout then decides when it
    # ends (15 s after the last reply); elsewhere, after 3 unanswered probes (25 s). The
    # probes also keep a claim's idle connection open through NAT and firewalls.
    "keepalives": "1",
    "keepalives_idle": "10",
    "keepalives_interval": "5",
    "keepalives_count": "3",
    # Milliseconds sent data may stay unacknowledged before the kernel drops the connection:
    # a statement written into a dead link fails after 15 s (Linux only).
    "tcp_user_timeout": "15000",
}
# libpq reads connect_timeout from here when the conninfo has none; the others have no variable.
_ENVIRONMENT = {"connect_timeout": "PGCONNECT_TIMEOUT"}
# Seconds the store waits for the reply to one of its own statements (PostgresStore's
# read_timeout). A backstop above the TCP bounds: it ends a wait that TCP can't see is hopeless
# (a proxy that answers for a server that is gone), and it is far above what the store's own
# statements take; a handler's statements are never bounded by it.
DEFAULT_READ_TIMEOUT = 30.0
# The watchdog's thread ends after this many seconds with nothing to watch.
_IDLE_SECONDS = 10.0


def with_network_defaults(conninfo: str) -> str:
    """`conninfo` (a URL or key=value string) with the network settings `PostgresStore.connect`
    adds, for what it, or the environment, leaves unset: connect_timeout=5, keepalives=1,
    keepalives_idle=10, keepalives_interval=5, keepalives_count=3, tcp_user_timeout=15000
    (libpq's names and units). The user's settings always win. For a pool of your own, built
    with the same bounds. ConfigurationError if `conninfo` can't be parsed."""
    # libpq's message quotes the URL whole, password included: it is scrubbed, and the error
    # is raised outside the except block, so the driver's is neither its cause nor its
    # context, where a traceback would print it.
    problem = None
    try:
        given = conninfo_to_dict(conninfo)
    except psycopg.ProgrammingError as exc:
        problem = scrub(str(exc).strip(), conninfo)
    if problem is not None:
        raise ConfigurationError(f"PostgreSQL URL {redact(conninfo)!r} can't be parsed: {problem}")
    missing = {
        name: value
        for name, value in NETWORK_DEFAULTS.items()
        if name not in given and not os.environ.get(_ENVIRONMENT.get(name, ""))
    }
    return make_conninfo(conninfo, **missing) if missing else conninfo


def check_read_timeout(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ConfigurationError(
            f"read_timeout must be a positive number of seconds or None, got {value!r}"
        )
    return float(value)


class _Watch:
    """One block of statements awaited on one connection. `sock` is a duplicate of the
    connection's socket, so that shutting it down can never reach another connection's
    socket, even if psycopg closed this one and its descriptor was reused meanwhile."""

    __slots__ = ("deadline", "fired", "sock")

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock = sock
        self.deadline = deadline
        self.fired = False


class Watchdog:
    """Bounds each wait for PostgreSQL to answer the store's own statements to `seconds`.

    libpq has no read timeout, and TCP settings can't help when a proxy between the client
    and the server (PgBouncer, a cloud SQL proxy, a load balancer) keeps the client's
    connection alive while the server behind it is gone. When a block of statements has not
    been answered in time, the watchdog shuts the connection's socket down: the wait ends at
    once, the connection is closed (the pool replaces it), and StoreUnavailable is raised.
    The server may still have run the statements.

    One daemon thread per store, started when a block begins and gone after some idle
    seconds. Thread-safe. With `seconds=None` nothing is watched.
    """

    def __init__(self, seconds: float | None) -> None:
        self.seconds = check_read_timeout(seconds)
        self._changed = threading.Condition()
        # Every block gets the same time, so insertion order is deadline order.
        self._watched: dict[_Watch, None] = {}
        self._thread: threading.Thread | None = None
        self._wakes_at = 0.0  # when the thread's current wait ends

    @contextmanager
    def watching(self, conn: psycopg.Connection[Any], action: str) -> Iterator[None]:
        """Run the block's statements on `conn` with `seconds` to answer. A reply that came
        just as time ran out stands (the block's result is kept); only the connection is lost.
        """
        if self.seconds is None:
            yield
            return
        watch = self._watch(conn)
        try:
            yield
        except psycopg.Error as exc:
            if self._unwatch(watch):
                conn.close()
                raise StoreUnavailable(
                    f"PostgreSQL did not answer within {self.seconds:g}s (read_timeout) "
                    f"during {action}; the connection was closed"
                ) from exc
            raise
        except BaseException:
            if self._unwatch(watch):
                conn.close()
            raise
        if self._unwatch(watch):
            conn.close()

    def _watch(self, conn: psycopg.Connection[Any]) -> _Watch:
        assert self.seconds is not None
        sock = socket.socket(fileno=os.dup(conn.fileno()))
        watch = _Watch(sock, time.monotonic() + self.seconds)
        with self._changed:
            self._watched[watch] = None
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="proletarian-postgres-watchdog", daemon=True
                )
                self._thread.start()
            elif watch.deadline < self._wakes_at:
                # Only then: waking the thread for every statement was measured to cost a
                # fifth of an enqueue's time.
                self._changed.notify()
        return watch

    def _unwatch(self, watch: _Watch) -> bool:
        """Stop watching; True if the deadline passed and the socket was shut down."""
        with self._changed:
            self._watched.pop(watch, None)
        watch.sock.close()
        return watch.fired

    def _run(self) -> None:
        with self._changed:
            while True:
                if not self._watched:
                    self._wait(_IDLE_SECONDS)
                    if not self._watched:
                        self._thread = None
                        return
                    continue
                first = next(iter(self._watched))
                remaining = first.deadline - time.monotonic()
                if remaining > 0:
                    self._wait(remaining)
                    continue
                del self._watched[first]
                first.fired = True
                # The waiting thread's poll wakes at once, and libpq reports the connection
                # lost. OSError: the connection was gone already.
                with contextlib.suppress(OSError):
                    first.sock.shutdown(socket.SHUT_RDWR)

    def _wait(self, seconds: float) -> None:
        """Wait (holding `_changed`) until notified or `seconds` have passed."""
        self._wakes_at = time.monotonic() + seconds
        self._changed.wait(seconds)
