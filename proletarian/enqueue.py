"""Enqueueing: the calls application code makes, inside its own transaction when it gives `conn`.

The async forms take the same arguments and build the same `NewJob`; the store prepares one
statement for both (see `AsyncEnqueuer`), so sync and async enqueue can't disagree.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, TypedDict

from proletarian.core.errors import ConfigurationError
from proletarian.core.job import JobId, NewJob, Priority
from proletarian.ports.store import AsyncEnqueuer, QueueStore


class JobOptions(TypedDict, total=False):
    """The optional fields of one job, as keyword arguments of `enqueue` and the integration
    helpers that wrap it."""

    queue: str
    process_at: datetime | None
    process_in: timedelta | None
    priority: Priority
    meta: Mapping[str, str] | None
    unique_key: str | None
    unique_for: timedelta


def enqueue(
    store: QueueStore,
    job_type: str,
    payload: Any,
    *,
    conn: Any | None = None,
    queue: str = "default",
    process_at: datetime | None = None,
    process_in: timedelta | None = None,
    priority: Priority = Priority.NORMAL,
    meta: Mapping[str, str] | None = None,
    unique_key: str | None = None,
    unique_for: timedelta = timedelta(0),
) -> JobId:
    """Enqueue one job and return its id: a `JobId`, a `str` whose `created` is False when
    `unique_key` was held and the id is the holding job's (nothing was written then).

    With `conn` (a connection of the store's driver), the job is written in the caller's open
    transaction and becomes visible only if the caller commits: the outbox pattern. proletarian
    never commits or rolls back `conn`. Without it, the store writes and commits on its own.

    Raises ConfigurationError for bad fields (naive datetimes, both `process_at` and
    `process_in`, a due time past year 9999, empty names, a NUL or lone surrogate in a name or
    in meta) and SerializationError for a payload the serializer can't encode; in both cases
    nothing is written. StoreError (StoreUnavailable for a lost connection) if the store
    fails the write.

    Args:
        store: The store to write to.
        job_type: What the handler dispatches on (see `NewJob` for this and the fields below).
        payload: The job's data; the store's serializer must be able to encode it (JSON by
            default: dicts with str keys, lists, str, int, float, bool, None).
        conn: The caller's open connection: a psycopg `Connection` for PostgresStore, a
            PyMySQL `Connection` for MySQLStore, a `sqlite3.Connection` on the store's file for
            SQLiteStore, a `MemoryStore.transaction()` for MemoryStore. RedisStore takes none.
        queue: The queue to put the job on.
        process_at: When the job becomes due (timezone-aware); in the past means now.
        process_in: How long from now until the job is due. Not with `process_at`.
        priority: Among due jobs of the queue, more urgent ones are claimed first.
        meta: A small map of strings stored with the job (`job.meta` in the handler).
        unique_key: While a job with this key is scheduled, ready or running (and for
            `unique_for` after it finished), no second one is created: the call returns the
            holder's id. Enforced by the store in the same transaction as the insert. See
            docs/unique-jobs.md.
        unique_for: How long the key stays held after the job succeeded or failed (default
            0: until it finishes). Only with `unique_key`.
    """
    job = new_job(
        job_type,
        payload,
        queue=queue,
        process_at=process_at,
        process_in=process_in,
        priority=priority,
        meta=meta,
        unique_key=unique_key,
        unique_for=unique_for,
    )
    return store.enqueue(job, conn=conn)


def enqueue_many(
    store: QueueStore, jobs: Iterable[NewJob], *, conn: Any | None = None
) -> list[JobId]:
    """Enqueue several jobs at once (one round trip where the store can) and return their ids in
    order. All or none are written; the same rules as `enqueue` apply.

    Args:
        store: The store to write to.
        jobs: The jobs, each a `NewJob`.
        conn: The caller's open connection, as for `enqueue`.
    """
    return store.enqueue_many(list(jobs), conn=conn)


async def enqueue_async(
    store: AsyncEnqueuer,
    job_type: str,
    payload: Any,
    *,
    conn: Any | None = None,
    queue: str = "default",
    process_at: datetime | None = None,
    process_in: timedelta | None = None,
    priority: Priority = Priority.NORMAL,
    meta: Mapping[str, str] | None = None,
    unique_key: str | None = None,
    unique_for: timedelta = timedelta(0),
) -> JobId:
    """`enqueue` for asyncio code: the same fields, checks and statement.

    With `conn` (an asyncio connection of the store's driver: psycopg's `AsyncConnection` for
    PostgresStore), the job joins the caller's open transaction and is visible only if the
    caller commits; proletarian never commits or rolls back `conn`. Without it, the store
    writes and commits on its own without blocking the event loop (PostgresStore runs the sync
    form on its pool in a worker thread).

    Raises ConfigurationError for a store with no async enqueue (only PostgresStore has one)
    and for bad fields, SerializationError for a payload that can't be encoded; in every case
    nothing is written.

    Args:
        store: A store with async enqueue (`AsyncEnqueuer`): PostgresStore.
        job_type: As for `enqueue`.
        payload: As for `enqueue`.
        conn: The caller's open psycopg `AsyncConnection`.
        queue: As for `enqueue`.
        process_at: As for `enqueue`.
        process_in: As for `enqueue`.
        priority: As for `enqueue`.
        meta: As for `enqueue`.
        unique_key: As for `enqueue`.
        unique_for: As for `enqueue`.
    """
    target = _async_store(store)
    job = new_job(
        job_type,
        payload,
        queue=queue,
        process_at=process_at,
        process_in=process_in,
        priority=priority,
        meta=meta,
        unique_key=unique_key,
        unique_for=unique_for,
    )
    (job_id,) = await target.enqueue_many_async([job], conn=conn)
    return job_id


async def enqueue_many_async(
    store: AsyncEnqueuer, jobs: Iterable[NewJob], *, conn: Any | None = None
) -> list[JobId]:
    """`enqueue_many` for asyncio code: one round trip, all or none written, ids in order.

    Args:
        store: A store with async enqueue (`AsyncEnqueuer`): PostgresStore.
        jobs: The jobs, each a `NewJob`.
        conn: The caller's open psycopg `AsyncConnection`, as for `enqueue_async`.
    """
    return await _async_store(store).enqueue_many_async(list(jobs), conn=conn)


def new_job(
    job_type: str,
    payload: Any,
    *,
    queue: str = "default",
    process_at: datetime | None = None,
    process_in: timedelta | None = None,
    priority: Priority = Priority.NORMAL,
    meta: Mapping[str, str] | None = None,
    unique_key: str | None = None,
    unique_for: timedelta = timedelta(0),
) -> NewJob:
    """The validated job the enqueue functions hand to the store (ConfigurationError if bad)."""
    return NewJob(
        job_type=job_type,
        payload=payload,
        queue=queue,
        priority=priority,
        process_at=process_at,
        process_in=process_in,
        meta=meta or {},
        unique_key=unique_key,
        unique_for=unique_for,
    )


def _async_store(store: object) -> AsyncEnqueuer:
    if not isinstance(store, AsyncEnqueuer):
        raise ConfigurationError(
            f"{type(store).__name__} does not support enqueue_async; use PostgresStore with a "
            "psycopg AsyncConnection, or call proletarian.enqueue in a thread "
            "(await asyncio.to_thread(proletarian.enqueue, store, ...))"
        )
    return store
