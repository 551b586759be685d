"""Enqueueing: the calls application code makes, inside its own transaction when it gives `conn`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from proletarian.core.job import NewJob, Priority
from proletarian.ports.store import QueueStore


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
) -> str:
    """Enqueue one job and return its id.

    With `conn` (a connection of the store's driver), the job is written in the caller's open
    transaction and becomes visible only if the caller commits: the outbox pattern. proletarian
    never commits or rolls back `conn`. Without it, the store writes and commits on its own.

    Raises ConfigurationError for bad fields (naive datetimes, both `process_at` and
    `process_in`, empty names) and SerializationError for a payload the serializer can't encode;
    in both cases nothing is written.
    """
    job = NewJob(
        job_type=job_type,
        payload=payload,
        queue=queue,
        priority=priority,
        process_at=process_at,
        process_in=process_in,
        meta=meta or {},
    )
    return store.enqueue(job, conn=conn)


def enqueue_many(
    store: QueueStore, jobs: Iterable[NewJob], *, conn: Any | None = None
) -> list[str]:
    """Enqueue several jobs at once (one round trip where the store can) and return their ids in
    order. All or none are written; the same rules as `enqueue` apply."""
    return store.enqueue_many(list(jobs), conn=conn)
