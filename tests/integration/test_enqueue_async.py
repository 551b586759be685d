"""enqueue_async / enqueue_many_async: the outbox on psycopg's AsyncConnection, sharing the sync
form's statement (PostgresStore.prepare_enqueue), and refused by stores without async enqueue."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg_pool import ConnectionPool

import proletarian
from proletarian import ConfigurationError, JobStatus, NewJob, SerializationError
from proletarian.adapters.ids import DatabaseIds
from proletarian.adapters.memory import MemoryStore
from proletarian.adapters.postgres import PostgresStore
from proletarian.adapters.postgres.enqueueing import PreparedEnqueue
from proletarian.adapters.sqlite import SQLiteStore
from proletarian.ports.store import AsyncEnqueuer
from tests.fixtures.integrations import PG_SCHEMA, PG_URL, pg_rows, postgres_store

ACCOUNT = sql.Identifier(PG_SCHEMA, "account")


def accounts() -> list[str]:
    return [row[0] for row in pg_rows(f'SELECT email FROM "{PG_SCHEMA}".account ORDER BY 1')]


async def sign_up(store: PostgresStore, email: str, *, commit: bool) -> str:
    """The application's write and its job in one transaction of an AsyncConnection."""
    conn = await psycopg.AsyncConnection.connect(PG_URL)
    try:
        await conn.execute(sql.SQL("INSERT INTO {} (email) VALUES (%s)").format(ACCOUNT), (email,))
        job_id = await proletarian.enqueue_async(
            store, "welcome", {"email": email}, conn=conn, queue="emails", meta={"rid": "r1"}
        )
        if commit:
            await conn.commit()
        else:
            await conn.rollback()
        return job_id
    finally:
        await conn.close()


def test_rollback_drops_the_job_and_commit_keeps_it() -> None:
    """A job enqueued on an AsyncConnection exists only if the caller's transaction commits."""
    with postgres_store() as store:
        dropped = asyncio.run(sign_up(store, "rolled@back.example", commit=False))
        kept = asyncio.run(sign_up(store, "kept@commit.example", commit=True))
        assert store.get_job(dropped) is None
        job = store.get_job(kept)
        assert job is not None
        assert (job.job_type, job.queue, job.payload) == (
            "welcome",
            "emails",
            {"email": "kept@commit.example"},
        )
        assert job.meta == {"rid": "r1"}
        assert job.status is JobStatus.READY
        assert accounts() == ["kept@commit.example"]


def test_uncommitted_job_is_invisible_to_workers() -> None:
    """Until the caller commits, no claim can see the job; after the commit, one can."""

    async def scenario(store: PostgresStore) -> str:
        async with await psycopg.AsyncConnection.connect(PG_URL) as conn:
            job_id = await proletarian.enqueue_async(store, "t", [1], conn=conn)
            assert store.claim(["default"], worker_id="w") is None
            await conn.commit()
        return job_id

    with postgres_store() as store:
        job_id = asyncio.run(scenario(store))
        claim = store.claim(["default"], worker_id="w")
        assert claim is not None
        assert claim.job.id == job_id
        claim.succeed()


def test_commit_notifies_listening_workers() -> None:
    """The async enqueue notifies the queue's listeners in the caller's transaction, as the
    sync form does: the hint arrives once the caller commits."""

    async def scenario(store: PostgresStore) -> None:
        async with await psycopg.AsyncConnection.connect(PG_URL) as conn:
            await proletarian.enqueue_async(store, "t", None, conn=conn, queue="emails")
            await conn.commit()

    with postgres_store() as store:
        listener = store.listen(["emails"])
        try:
            asyncio.run(scenario(store))
            assert listener.wait(timeout=10)
        finally:
            listener.close()


def test_enqueue_many_async_writes_all_in_order_in_the_callers_transaction() -> None:
    """enqueue_many_async returns the ids in order; rollback drops all, commit keeps all."""
    jobs = [NewJob(job_type="t", payload=n, queue=f"q{n % 2}") for n in range(5)]

    async def scenario(store: PostgresStore, *, commit: bool) -> list[str]:
        async with await psycopg.AsyncConnection.connect(PG_URL) as conn:
            ids = await proletarian.enqueue_many_async(store, jobs, conn=conn)
            await (conn.commit() if commit else conn.rollback())
        return list(ids)

    with postgres_store() as store:
        dropped = asyncio.run(scenario(store, commit=False))
        kept = asyncio.run(scenario(store, commit=True))
        assert len(dropped) == len(kept) == 5
        assert all(store.get_job(job_id) is None for job_id in dropped)
        found = [store.get_job(job_id) for job_id in kept]
        assert [job.payload for job in found if job is not None] == [0, 1, 2, 3, 4]
        assert asyncio.run(proletarian.enqueue_many_async(store, [], conn=None)) == []


def test_database_ids_work_the_same_async() -> None:
    """With DatabaseIds the async path reads back the ids PostgreSQL assigned, like sync."""

    async def scenario(store: PostgresStore) -> tuple[str, list[str]]:
        async with await psycopg.AsyncConnection.connect(PG_URL) as conn:
            one = await proletarian.enqueue_async(store, "t", 1, conn=conn)
            many = await proletarian.enqueue_many_async(
                store, [NewJob(job_type="t", payload=n) for n in (2, 3)], conn=conn
            )
            await conn.commit()
        return one, list(many)

    with postgres_store(job_ids=DatabaseIds()) as store:
        one, many = asyncio.run(scenario(store))
        assert [int(job_id) for job_id in [one, *many]] == sorted(int(i) for i in [one, *many])
        payloads = [store.get_job(job_id) for job_id in [one, *many]]
        assert [job.payload for job in payloads if job is not None] == [1, 2, 3]


def test_without_conn_the_store_commits_on_its_own() -> None:
    """Without conn, enqueue_async writes and commits through the store's own pool."""
    with postgres_store() as store:
        job_id = asyncio.run(proletarian.enqueue_async(store, "t", {"a": 1}))
        job = store.get_job(job_id)
        assert job is not None
        assert job.payload == {"a": 1}


def test_bad_payload_writes_nothing_and_leaves_the_transaction_usable() -> None:
    """A payload that can't be encoded raises SerializationError before any statement, so the
    caller's transaction goes on and can still commit its own writes."""

    async def scenario(store: PostgresStore) -> None:
        async with await psycopg.AsyncConnection.connect(PG_URL) as conn:
            await conn.execute(
                sql.SQL("INSERT INTO {} (email) VALUES ('still@here.example')").format(ACCOUNT)
            )
            with pytest.raises(SerializationError):
                await proletarian.enqueue_async(store, "t", {"bad": object()}, conn=conn)
            await conn.commit()

    with postgres_store() as store:
        asyncio.run(scenario(store))
        assert accounts() == ["still@here.example"]
        assert store.stats() == {}


def test_a_failing_insert_is_a_store_error_and_aborts_the_callers_transaction() -> None:
    """A statement the server refuses raises StoreError, with the driver's error as cause."""

    async def scenario(store: PostgresStore) -> None:
        async with await psycopg.AsyncConnection.connect(PG_URL) as conn:
            await conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(PG_SCHEMA, "job")))
            with pytest.raises(proletarian.StoreError) as caught:
                await proletarian.enqueue_async(store, "t", 1, conn=conn)
            assert isinstance(caught.value.__cause__, psycopg.errors.UndefinedTable)
            await conn.rollback()

    with postgres_store() as store:
        asyncio.run(scenario(store))


def test_connections_of_the_wrong_kind_are_refused() -> None:
    """The async form refuses a sync connection and the sync form an async one: a blocking
    call on the event loop, or a job on a connection the store doesn't drive, is a bug."""

    async def scenario(store: PostgresStore) -> None:
        with (
            psycopg.connect(PG_URL) as sync_conn,
            pytest.raises(ConfigurationError, match="AsyncConnection"),
        ):
            await proletarian.enqueue_async(store, "t", 1, conn=sync_conn)
        async with await psycopg.AsyncConnection.connect(PG_URL) as async_conn:
            with pytest.raises(ConfigurationError, match=r"got psycopg\.AsyncConnection"):
                proletarian.enqueue(store, "t", 1, conn=async_conn)

    with postgres_store() as store:
        asyncio.run(scenario(store))
        assert store.stats() == {}


def test_stores_without_async_enqueue_are_refused(tmp_path: Path) -> None:
    """Stores that are not AsyncEnqueuers raise a ConfigurationError naming the store."""
    sqlite = SQLiteStore(tmp_path / "jobs.db")
    memory = MemoryStore()
    try:
        for store, name in ((sqlite, "SQLiteStore"), (memory, "MemoryStore")):
            assert not isinstance(store, AsyncEnqueuer)
            unsupported: Any = store
            with pytest.raises(ConfigurationError, match=f"{name} does not support enqueue_async"):
                asyncio.run(proletarian.enqueue_async(unsupported, "t", 1))
            with pytest.raises(ConfigurationError, match=f"{name} does not support enqueue_async"):
                asyncio.run(proletarian.enqueue_many_async(unsupported, []))
    finally:
        sqlite.close()


def test_prepare_enqueue_needs_no_connection() -> None:
    """prepare_enqueue validates and builds the statement without touching the pool: it works
    on a store whose pool was never opened, and bad jobs fail there, before any I/O."""
    pool: ConnectionPool[Any] = ConnectionPool(PG_URL, open=False)
    store = PostgresStore(pool, schema=PG_SCHEMA)
    assert isinstance(store, AsyncEnqueuer)
    assert store.prepare_enqueue([]) is None
    one = store.prepare_enqueue([NewJob(job_type="t", payload=1)])
    many = store.prepare_enqueue([NewJob(job_type="t", payload=n) for n in range(3)])
    assert isinstance(one, PreparedEnqueue)
    assert isinstance(many, PreparedEnqueue)
    assert (one.count, one.batch, many.count, many.batch) == (1, False, 3, True)
    assert one.ids(("0190d2a0-0000-7000-8000-000000000000", None)) == [
        "0190d2a0-0000-7000-8000-000000000000"
    ]
    with pytest.raises(SerializationError):
        store.prepare_enqueue([NewJob(job_type="t", payload={1, 2})])
    with pytest.raises(ConfigurationError):
        asyncio.run(proletarian.enqueue_async(store, "t", 1, process_in=-1))  # type: ignore[arg-type]
