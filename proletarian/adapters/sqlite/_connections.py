"""Connections of a SQLite store: one per thread, opened on first use, all closable at once;
the store's transactions on them; and the translation of sqlite3 errors into proletarian's."""

from __future__ import annotations

import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager

from proletarian.core.errors import StoreError, StoreUnavailable

# Result codes that mean "the database can't be used right now": another writer held the lock
# past the busy timeout, or the file can't be opened or read. Worth retrying.
_UNAVAILABLE = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_CANTOPEN}
_UNAVAILABLE_PRIMARY = {sqlite3.SQLITE_IOERR}


@contextmanager
def translate(path: str) -> Iterator[None]:
    """Turn sqlite3 errors into StoreUnavailable (locked, busy, can't open, I/O) or StoreError,
    keeping the driver's exception as the cause."""
    try:
        yield
    except sqlite3.Error as exc:
        code = getattr(exc, "sqlite_errorcode", None)
        closed = isinstance(exc, sqlite3.ProgrammingError) and "closed" in str(exc)
        if (
            closed
            or code in _UNAVAILABLE
            or (code is not None and code & 0xFF in _UNAVAILABLE_PRIMARY)
        ):
            raise StoreUnavailable(f"SQLite database {path} is unavailable: {exc}") from exc
        raise StoreError(f"SQLite database {path}: {type(exc).__name__}: {exc}") from exc


def _use_wal(conn: sqlite3.Connection, busy_timeout: float) -> None:
    """Put the database in WAL mode: readers never block the writer nor each other, across
    processes. Switching a new file (still in rollback mode) to WAL needs it to itself for a
    moment, and SQLite fails that at once instead of waiting: a process opening the file while
    another one switches it or writes its tables waits here, up to `busy_timeout`."""
    deadline = time.monotonic() + busy_timeout
    pause = 0.001
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            busy = getattr(exc, "sqlite_errorcode", 0) & 0xFF == sqlite3.SQLITE_BUSY
            if not busy or time.monotonic() >= deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.05)


class Handle:
    """Owns one connection. A thread's handle is dropped with the thread's local storage when the
    thread ends, and then closes its connection, so threads that enqueue once and exit leave no
    open file behind; the store's `close()` reaches the live ones through a weak set."""

    __slots__ = ("__weakref__", "conn")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn: sqlite3.Connection | None = conn

    def close(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            conn.close()

    def __del__(self) -> None:
        self.close()


class Connections:
    """The connections of one store to one database file.

    Each thread gets its own connection (sqlite3 connections must not run statements from two
    threads at once); `open()` gives a dedicated one. Every connection is in autocommit mode
    (`isolation_level=None`): the store writes inside explicit `BEGIN IMMEDIATE` transactions, so
    waiting for SQLite's single writer happens at BEGIN, never half-way through a transaction.
    """

    def __init__(self, path: str, *, busy_timeout: float, synchronous: str) -> None:
        self.path = path
        self.busy_timeout = busy_timeout
        self.synchronous = synchronous
        self._local = threading.local()
        self._lock = threading.Lock()
        self._handles: weakref.WeakSet[Handle] = weakref.WeakSet()
        self._holding: set[int] = set()

    def current(self) -> sqlite3.Connection:
        """The calling thread's connection, opened on first use (or after `close_all`)."""
        handle: Handle | None = getattr(self._local, "handle", None)
        if handle is None or handle.conn is None:
            handle = self.open()
            self._local.handle = handle
        assert handle.conn is not None
        return handle.conn

    def open(self) -> Handle:
        """A new connection, owned by the caller, closed by `close_all` if still open."""
        with translate(self.path):
            # check_same_thread=False only so close_all() may close it from another thread;
            # each connection is still used by one thread at a time.
            conn = sqlite3.connect(
                self.path,
                timeout=self.busy_timeout,
                isolation_level=None,
                check_same_thread=False,
            )
            try:
                _use_wal(conn, self.busy_timeout)
                conn.execute(f"PRAGMA synchronous={self.synchronous}")
            except BaseException:
                conn.close()
                raise
        handle = Handle(conn)
        with self._lock:
            self._handles.add(handle)
        return handle

    def forget_current(self) -> None:
        """Close the calling thread's connection; the next `current()` opens a fresh one. For a
        connection left in an unknown state (a failed rollback)."""
        handle: Handle | None = getattr(self._local, "handle", None)
        if handle is not None:
            handle.close()

    def close_all(self) -> None:
        """Close every connection still open. Threads that use the store again reconnect."""
        with self._lock:
            handles = list(self._handles)
        for handle in handles:
            handle.close()

    # A thread whose claim holds the write transaction of `ctx.connection` must not start
    # another write transaction: it would wait for itself until the busy timeout.

    def hold(self, thread: int) -> None:
        with self._lock:
            self._holding.add(thread)

    def release(self, thread: int) -> None:
        with self._lock:
            self._holding.discard(thread)

    def is_holding(self, thread: int) -> bool:
        with self._lock:
            return thread in self._holding

    # -- transactions on the calling thread's connection -------------------------------------

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction on the calling thread's connection: commits when the block
        ends, rolls back when it raises."""
        if self.is_holding(threading.get_ident()):
            raise StoreError(
                "this thread's handler holds the write transaction of ctx.connection, and SQLite "
                "has one writer: enqueue with conn=ctx.connection, or write after the handler"
            )
        with self._transaction("BEGIN IMMEDIATE") as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """One read transaction: every query in the block sees the same snapshot."""
        with self._transaction("BEGIN") as conn:
            yield conn

    @contextmanager
    def _transaction(self, begin: str) -> Iterator[sqlite3.Connection]:
        conn = self.current()
        with translate(self.path):
            if conn.in_transaction:
                # Left open by a call interrupted between BEGIN and its end (KeyboardInterrupt);
                # only this thread uses this connection, so nothing else is lost.
                conn.execute("ROLLBACK")
            conn.execute(begin)
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                self._rollback(conn)
                raise

    def _rollback(self, conn: sqlite3.Connection) -> None:
        try:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        except sqlite3.Error:
            # The error being raised matters more; a connection that can't roll back is in an
            # unknown state, so this thread gets a fresh one next time.
            self.forget_current()
