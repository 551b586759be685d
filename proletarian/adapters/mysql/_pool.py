"""A small thread-safe pool of PyMySQL connections (PyMySQL has none)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator

from pymysql.err import MySQLError

from proletarian.adapters.mysql._driver import Connection, is_connection_error, is_in_step
from proletarian.core.checks import positive_int
from proletarian.core.errors import ConfigurationError, StoreError, StoreUnavailable

# A connection idle for longer than this is pinged before it is handed out: servers, proxies
# and NAT tables drop idle connections, and a failed ping costs less than a failed claim.
IDLE_CHECK_SECONDS = 30.0


class ConnectionPool:
    """At most `size` connections, opened on demand and reused most-recent first.

    `get` waits up to `timeout` seconds for a free connection, then raises StoreUnavailable.
    Every connection taken must come back through `give_back`, with the exception that ended
    its use (if any): a connection that failed is closed, one that only had a statement refused
    is rolled back and reused. After a lost connection, idle peers are pinged before reuse (a
    server restart kills them all). Thread-safe.
    """

    def __init__(
        self, connect: Callable[[], Connection], *, size: int, timeout: float, where: str
    ) -> None:
        positive_int(size, what="pool_size")
        if not isinstance(timeout, int | float) or timeout <= 0:
            raise ConfigurationError(f"pool_timeout must be a positive number, got {timeout!r}")
        self.size = size
        self.timeout = float(timeout)
        self._connect = connect
        self._where = where
        self._lock = threading.Condition()
        self._idle: list[tuple[Connection, float]] = []  # (connection, idle since)
        self._open = 0
        self._suspect_since = 0.0  # idle connections older than this are pinged first
        self._closed = False

    def get(self) -> Connection:
        deadline = time.monotonic() + self.timeout
        while True:
            with self._lock:
                while not self._closed and not self._idle and self._open >= self.size:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise StoreUnavailable(
                            f"MySQL at {self._where}: no connection free within "
                            f"{self.timeout:g}s; all {self.size} are in use (raise pool_size?)"
                        )
                    self._lock.wait(remaining)
                if self._closed:
                    raise StoreError(f"MySQL store at {self._where} is closed")
                if not self._idle:
                    self._open += 1
                    break
                conn, since = self._idle.pop()
                check = since < self._suspect_since or time.monotonic() - since > IDLE_CHECK_SECONDS
            if not check or self._alive(conn):
                return conn
            # It idled the least of all: the others are no likelier to be alive. They are
            # dropped too, not pinged one by one (on a silent network each ping waits for
            # read_timeout), and a new connection is made.
            self._drop(conn)
            self._drop_idle(since)
        try:
            return self._connect()
        except BaseException as exc:
            self._forget()
            if isinstance(exc, MySQLError):
                raise StoreUnavailable(f"MySQL at {self._where}: cannot connect: {exc}") from exc
            raise

    def give_back(self, conn: Connection, error: BaseException | None = None) -> None:
        """Return a connection after use. With `error`, its transaction is rolled back if the
        connection survived, and it is closed if not."""
        if error is not None:
            if is_connection_error(error):
                with self._lock:
                    self._suspect_since = time.monotonic()
            if not (is_in_step(error) and self._rolled_back(conn)):
                self._drop(conn)
                return
        with self._lock:
            if not self._closed:
                self._idle.append((conn, time.monotonic()))
                self._lock.notify()
                return
        self._drop(conn)

    def discard(self, conn: Connection) -> None:
        """Close a connection taken from the pool that must not be used again (its session was
        ended on the server), making room for a new one."""
        self._drop(conn)

    @contextlib.contextmanager
    def connection(self) -> Iterator[Connection]:
        """A connection for one operation, given back (or dropped) when the block ends."""
        conn = self.get()
        try:
            yield conn
        except BaseException as exc:
            self.give_back(conn, exc)
            raise
        self.give_back(conn)

    def close(self) -> None:
        """Close idle connections now and the others as they come back."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
            self._lock.notify_all()
        for conn, _ in idle:
            self._drop(conn)

    @property
    def in_use(self) -> int:
        """How many connections are out of the pool (held by claims or running operations)."""
        with self._lock:
            return self._open - len(self._idle)

    def _alive(self, conn: Connection) -> bool:
        try:
            conn.ping(reconnect=False)
        except MySQLError:
            return False
        return True

    @staticmethod
    def _rolled_back(conn: Connection) -> bool:
        try:
            conn.rollback()
        except MySQLError:
            return False
        return True

    def _drop_idle(self, since: float) -> None:
        """Drop every idle connection that has been idle since `since` or longer."""
        with self._lock:
            old = [conn for conn, idle_since in self._idle if idle_since <= since]
            self._idle = [
                (conn, idle_since) for conn, idle_since in self._idle if idle_since > since
            ]
        for conn in old:
            self._drop(conn)

    def _drop(self, conn: Connection) -> None:
        # Closing a broken connection may fail; it is gone either way.
        with contextlib.suppress(MySQLError):
            conn.close()
        self._forget()

    def _forget(self) -> None:
        with self._lock:
            self._open -= 1
            self._lock.notify()
