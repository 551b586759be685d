"""Borrowing pool connections, and always giving them back in a state the pool can reuse."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus
from psycopg_pool import ConnectionPool

from proletarian.adapters.postgres.errors import translated
from proletarian.adapters.postgres.network import Watchdog
from proletarian.core.errors import StoreUnavailable


class Borrowed:
    """A pool connection lent for one operation or one claim, with autocommit set as that use
    needs. The pool's own setting is restored on return, because the pool may be the
    application's too. The store's statements on it run in `bounded` blocks, so each reply is
    awaited at most the store's read_timeout. Not shared between threads."""

    __slots__ = ("autocommit_was", "conn", "pool", "watchdog")

    def __init__(self, pool: ConnectionPool[Any], *, autocommit: bool, watchdog: Watchdog) -> None:
        self.pool = pool
        self.watchdog = watchdog
        self.conn: psycopg.Connection[Any] = pool.getconn()
        self.autocommit_was = self.conn.autocommit
        if self.autocommit_was != autocommit:
            try:
                # A client-side flag: no round trip.
                self.conn.autocommit = autocommit
            except BaseException:
                self.give_back()
                raise

    @contextmanager
    def bounded(self, action: str) -> Iterator[psycopg.Connection[Any]]:
        """The connection, for the store's own statements of `action`: driver errors are
        translated, and a reply that takes longer than read_timeout raises StoreUnavailable
        (see Watchdog). Not for the handler's statements: they may take as long as they
        need."""
        with translated(action), self.watchdog.watching(self.conn, action):
            yield self.conn

    def give_back(self) -> None:
        """Roll back whatever is open and return the connection. A broken connection is
        closed, and the pool replaces it. Never raises a driver error."""
        conn = self.conn
        try:
            if conn.info.transaction_status in (
                TransactionStatus.INTRANS,
                TransactionStatus.INERROR,
            ):
                with self.watchdog.watching(conn, "rollback"):
                    conn.rollback()
            if not conn.closed and conn.autocommit != self.autocommit_was:
                conn.autocommit = self.autocommit_was
        except (psycopg.Error, StoreUnavailable):
            conn.close()
        finally:
            self.pool.putconn(conn)


@contextmanager
def autocommitted(
    pool: ConnectionPool[Any], action: str, watchdog: Watchdog
) -> Iterator[psycopg.Connection[Any]]:
    """A pool connection in autocommit for `action`: each statement is its own transaction,
    committed in the same round trip. Driver errors are translated, and replies bounded (see
    Borrowed.bounded)."""
    with translated(action):
        borrowed = Borrowed(pool, autocommit=True, watchdog=watchdog)
    try:
        with borrowed.bounded(action) as conn:
            yield conn
    finally:
        borrowed.give_back()


def own_connection(pool: ConnectionPool[Any]) -> psycopg.Connection[Any]:
    """A new autocommit connection made as the pool makes its own, outside the pool: for a
    statement that must not wait for a free pool connection. Close it (a context manager)."""
    conninfo = pool.conninfo() if callable(pool.conninfo) else pool.conninfo
    kwargs = pool.kwargs() if callable(pool.kwargs) else pool.kwargs
    return psycopg.connect(conninfo, **{**(kwargs or {}), "autocommit": True})
