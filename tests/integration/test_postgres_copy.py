"""Large enqueue_many batches on PostgreSQL go by COPY: the same guarantees as the one-statement
path (all or none, the caller's transaction, wake-ups, ids in order), sync and async."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

import proletarian
from proletarian import JobStatus, NewJob, SerializationError
from proletarian.adapters.clocks import SystemClock
from proletarian.adapters.postgres import PostgresStore
from proletarian.adapters.postgres.enqueueing import COPY_FROM, PreparedEnqueue
from tests.fixtures.postgres import SCHEMA, TEST_URL, admin, open_store

MANY = COPY_FROM + 10


@pytest.fixture
def store(tmp_path: Path) -> Iterator[PostgresStore]:
    with open_store(SystemClock(), tmp_path) as opened:
        yield opened


def queued() -> int:
    with admin() as conn:
        row = conn.execute(f'SELECT count(*) FROM "{SCHEMA}".job').fetchone()
    return int(row[0]) if row else 0


def jobs(count: int, queue: str = "default") -> list[NewJob]:
    return [NewJob(job_type="t", payload={"n": n}, queue=queue) for n in range(count)]


def test_a_large_batch_is_copied_with_its_ids_in_order(store: PostgresStore) -> None:
    """A batch past COPY_FROM is written whole; the ids come back in the order of the jobs."""
    prepared = store.prepare_enqueue(jobs(MANY))
    assert isinstance(prepared, PreparedEnqueue)
    assert prepared.copy is not None
    ids = proletarian.enqueue_many(store, jobs(MANY))
    assert len(ids) == len(set(ids)) == MANY
    assert [store.get_job(job_id).payload for job_id in ids[:3]] == [  # type: ignore[union-attr]
        {"n": 0},
        {"n": 1},
        {"n": 2},
    ]
    claim = store.claim(["default"], worker_id="w")
    assert claim is not None
    assert claim.job.id == ids[0]
    claim.succeed()


def test_a_copied_batch_joins_the_callers_transaction(store: PostgresStore) -> None:
    """In the caller's transaction a copied batch is visible only when it commits."""
    with psycopg.connect(TEST_URL) as conn:
        proletarian.enqueue_many(store, jobs(MANY), conn=conn)
        assert queued() == 0
        conn.rollback()
        assert queued() == 0
        ids = proletarian.enqueue_many(store, jobs(MANY), conn=conn)
        conn.commit()
    assert queued() == MANY
    job = store.get_job(ids[-1])
    assert job is not None
    assert job.status is JobStatus.READY


def test_a_copied_batch_wakes_listeners_of_each_queue(store: PostgresStore) -> None:
    """Every queue of a copied batch is notified when it commits."""
    listener = store.listen(["emails", "reports"])
    try:
        proletarian.enqueue_many(store, jobs(MANY, "emails") + jobs(MANY, "reports"))
        assert listener.wait(5) is True
    finally:
        listener.close()


def test_a_bad_payload_in_a_large_batch_writes_nothing(store: PostgresStore) -> None:
    """A payload that can't be encoded fails the whole batch before anything is written."""
    bad: list[NewJob] = [*jobs(MANY), NewJob(job_type="t", payload={1, 2})]
    with pytest.raises(SerializationError):
        proletarian.enqueue_many(store, bad)
    assert queued() == 0


def test_a_copied_batch_from_asyncio(store: PostgresStore) -> None:
    """enqueue_many_async copies a large batch in the caller's AsyncConnection transaction."""

    async def enqueue(commit: bool) -> list[str]:
        conn: psycopg.AsyncConnection[Any] = await psycopg.AsyncConnection.connect(TEST_URL)
        try:
            ids = await proletarian.enqueue_many_async(store, jobs(MANY), conn=conn)
            await (conn.commit() if commit else conn.rollback())
            return list(ids)
        finally:
            await conn.close()

    asyncio.run(enqueue(commit=False))
    assert queued() == 0
    ids = asyncio.run(enqueue(commit=True))
    assert queued() == MANY
    assert store.get_job(ids[0]) is not None
