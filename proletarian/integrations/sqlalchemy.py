"""Enqueue in a SQLAlchemy 2 `Session` or `Connection` transaction, sync or asyncio.

    from proletarian.integrations.sqlalchemy import enqueue

    with Session(engine) as session, session.begin():
        session.add(Account(email=email))
        enqueue(store, "send-welcome", {"email": email}, session=session)

The job is written on the DBAPI connection under the session's connection, inside the
session's transaction: `session.commit()` (or leaving `session.begin()`) commits it with the
session's writes, and a rollback drops it. Like any statement on a SQLAlchemy 2 session or
connection, the helpers begin a transaction when none is open (autobegin). A connection with
`isolation_level="AUTOCOMMIT"` has no transaction to join: the job commits at once.

The store must drive the engine's DBAPI driver: `PostgresStore` for `postgresql+psycopg` (an
`AsyncSession` on `postgresql+psycopg` gives psycopg's AsyncConnection, for
`enqueue_async`), `MySQLStore` for `mysql+pymysql`. A mismatch raises ConfigurationError.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Unpack

try:
    from sqlalchemy.engine import Connection
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
    from sqlalchemy.orm import Session
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise ImportError(
        "proletarian.integrations.sqlalchemy needs SQLAlchemy 2: "
        "pip install 'proletarian[sqlalchemy]'"
    ) from exc

from proletarian.core.errors import ConfigurationError
from proletarian.core.job import JobId, NewJob
from proletarian.enqueue import JobOptions
from proletarian.enqueue import enqueue as enqueue_on
from proletarian.enqueue import enqueue_async as enqueue_async_on
from proletarian.enqueue import enqueue_many as enqueue_many_on
from proletarian.enqueue import enqueue_many_async as enqueue_many_async_on
from proletarian.ports.store import AsyncEnqueuer, QueueStore

__all__ = [
    "driver_connection",
    "driver_connection_async",
    "enqueue",
    "enqueue_async",
    "enqueue_many",
    "enqueue_many_async",
]


def driver_connection(session: Session | Connection) -> Any:
    """The DBAPI connection (psycopg `Connection`, PyMySQL `Connection`, ...) that carries the
    transaction of `session` (a Session or a Connection), begun here if none is open."""
    if isinstance(session, Session):
        connection = session.connection()
    elif isinstance(session, Connection):
        connection = session
        if not connection.in_transaction():
            connection.begin()
    else:
        raise ConfigurationError(
            "expected a sqlalchemy.orm.Session or sqlalchemy.engine.Connection, got "
            f"{type(session).__module__}.{type(session).__qualname__}"
        )
    return connection.connection.driver_connection


async def driver_connection_async(session: AsyncSession | AsyncConnection) -> Any:
    """The asyncio driver connection (psycopg `AsyncConnection`, ...) that carries the
    transaction of `session` (an AsyncSession or an AsyncConnection), begun here if none is
    open."""
    if isinstance(session, AsyncSession):
        connection = await session.connection()
    elif isinstance(session, AsyncConnection):
        connection = session
        if not connection.in_transaction():
            await connection.begin()
    else:
        raise ConfigurationError(
            "expected a sqlalchemy.ext.asyncio.AsyncSession or AsyncConnection, got "
            f"{type(session).__module__}.{type(session).__qualname__}"
        )
    raw = await connection.get_raw_connection()
    return raw.driver_connection


def enqueue(
    store: QueueStore,
    job_type: str,
    payload: Any,
    *,
    session: Session | Connection,
    **options: Unpack[JobOptions],
) -> JobId:
    """`proletarian.enqueue` in the transaction of `session`; the job commits with it.

    Args:
        store: The store, over the same database as `session`.
        job_type: As for `proletarian.enqueue`.
        payload: As for `proletarian.enqueue`.
        session: The Session or Connection whose transaction the job joins (begun if none
            is open); the caller commits it.
        **options: The job's `queue`, `process_at`, `process_in`, `priority` and `meta`,
            as for `proletarian.enqueue` (see `JobOptions`).
    """
    return enqueue_on(store, job_type, payload, conn=driver_connection(session), **options)


def enqueue_many(
    store: QueueStore, jobs: Iterable[NewJob], *, session: Session | Connection
) -> list[JobId]:
    """`proletarian.enqueue_many` in the transaction of `session`.

    Args:
        store: The store, over the same database as `session`.
        jobs: The jobs, each a `NewJob`.
        session: The Session or Connection whose transaction the job joins (begun if none
            is open); the caller commits it.
    """
    return enqueue_many_on(store, jobs, conn=driver_connection(session))


async def enqueue_async(
    store: AsyncEnqueuer,
    job_type: str,
    payload: Any,
    *,
    session: AsyncSession | AsyncConnection,
    **options: Unpack[JobOptions],
) -> JobId:
    """`proletarian.enqueue_async` in the transaction of an AsyncSession or AsyncConnection.

    Args:
        store: A store with async enqueue (PostgresStore), over the same database.
        job_type: As for `proletarian.enqueue`.
        payload: As for `proletarian.enqueue`.
        session: The AsyncSession or AsyncConnection whose transaction the job joins (begun
            if none is open); the caller commits it.
        **options: The job's `queue`, `process_at`, `process_in`, `priority` and `meta`,
            as for `proletarian.enqueue` (see `JobOptions`).
    """
    conn = await driver_connection_async(session)
    return await enqueue_async_on(store, job_type, payload, conn=conn, **options)


async def enqueue_many_async(
    store: AsyncEnqueuer, jobs: Iterable[NewJob], *, session: AsyncSession | AsyncConnection
) -> list[JobId]:
    """`proletarian.enqueue_many_async` in the transaction of an AsyncSession or
    AsyncConnection.

    Args:
        store: A store with async enqueue (PostgresStore), over the same database.
        jobs: The jobs, each a `NewJob`.
        session: The AsyncSession or AsyncConnection whose transaction the job joins (begun
            if none is open); the caller commits it.
    """
    conn = await driver_connection_async(session)
    return await enqueue_many_async_on(store, jobs, conn=conn)
