"""PostgresStore's batch mode against the real server: one transaction per batch, a savepoint
per handler that writes, outcomes committed together, and the whole batch again after a fault."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

import proletarian
from proletarian import (
    ConfigurationError,
    Job,
    JobContext,
    JobStatus,
    NewJob,
    QueueWorker,
    RetryPolicy,
    StoreUnavailable,
)
from proletarian.adapters.clocks import SystemClock
from proletarian.adapters.ids import DatabaseIds
from proletarian.adapters.postgres import PostgresStore
from proletarian.adapters.postgres.batch import PostgresBatchClaim
from tests.fixtures.postgres import SCHEMA, admin, open_store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[PostgresStore]:
    with open_store(SystemClock(), tmp_path) as opened:
        yield opened


def rows_of(query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    with admin() as conn:
        return conn.execute(query, params).fetchall()


def side_table(name: str = "effect") -> str:
    with admin() as conn:
        conn.execute(
            sql.SQL("CREATE TABLE {} (job_id text NOT NULL, attempt int NOT NULL)").format(
                sql.Identifier(SCHEMA, name)
            )
        )
    return f"{SCHEMA}.{name}"


def enqueue(store: PostgresStore, *payloads: Any) -> list[str]:
    return list(
        proletarian.enqueue_many(store, [NewJob(job_type="t", payload=p) for p in payloads])
    )


def final(store: PostgresStore, job_id: str) -> tuple[JobStatus, int]:
    job = store.get_job(job_id)
    assert job is not None
    return job.status, job.attempts


def test_a_failing_handler_rolls_back_alone(store: PostgresStore) -> None:
    """In one batch, the writes of jobs that succeed commit and those of a failing job (raised,
    or a swallowed SQL error) roll back, each job ending as its own outcome says."""
    table = side_table()

    def handle(job: Job, ctx: JobContext) -> None:
        conn = ctx.connection
        assert isinstance(conn, psycopg.Connection)
        conn.execute(f"INSERT INTO {table} VALUES (%s, %s)", (job.id, job.attempt))
        if job.payload == "raise":
            raise RuntimeError("boom")
        if job.payload == "swallow":
            with contextlib.suppress(psycopg.Error):
                conn.execute("SELECT 1 / 0")

    ok, raised, swallowed, also_ok = enqueue(store, "ok", "raise", "swallow", "ok")
    worker = QueueWorker(store, handle, handler_mode="advanced", batch_size=10)
    assert worker.drain() == 4
    assert sorted(rows_of(f"SELECT job_id, attempt FROM {table}")) == sorted(
        [(ok, 1), (also_ok, 1)]
    )
    assert [final(store, job_id) for job_id in (ok, raised, swallowed, also_ok)] == [
        (JobStatus.SUCCEEDED, 1),
        (JobStatus.FAILED, 1),
        (JobStatus.FAILED, 1),
        (JobStatus.SUCCEEDED, 1),
    ]
    failed = store.get_job(swallowed)
    assert failed is not None
    assert failed.error is not None
    assert failed.error.type == "TransactionAborted"


def test_outcomes_are_committed_together_after_the_last_job(store: PostgresStore) -> None:
    """Nothing of a batch is visible to others until its last claim ends; then all of it is."""
    first, second = enqueue(store, 1, 2)
    claims = store.claim_batch(["default"], worker_id="w", limit=5)
    assert [claim.job.id for claim in claims] == [first, second]
    claims[0].succeed()
    assert rows_of(f"SELECT count(*) FROM {SCHEMA}.archived_job") == [(0,)]
    assert final(store, first) == (JobStatus.RUNNING, 0)
    claims[1].succeed()
    assert rows_of(f"SELECT count(*) FROM {SCHEMA}.archived_job") == [(2,)]
    assert final(store, first) == (JobStatus.SUCCEEDED, 1)


def test_handlers_that_never_ask_take_no_savepoint(store: PostgresStore) -> None:
    """In a batch, only handlers that ask for ctx.connection open a savepoint."""
    enqueue(store, "quiet", "asks")
    quiet, asks = store.claim_batch(["default"], worker_id="w", limit=2)
    assert isinstance(quiet, PostgresBatchClaim)
    assert isinstance(asks, PostgresBatchClaim)
    quiet.succeed()
    assert asks.connection is not None
    asks.succeed()
    assert (quiet.savepoint, asks.savepoint) == (False, True)


def test_an_ended_claim_refuses_a_second_outcome(store: PostgresStore) -> None:
    """Ending a batch claim twice, or after its batch was abandoned, raises StoreError."""
    enqueue(store, 1, 2)
    first, second = store.claim_batch(["default"], worker_id="w", limit=2)
    first.succeed()
    with pytest.raises(proletarian.StoreError):
        first.succeed()
    second.abandon()
    with pytest.raises(proletarian.StoreError):
        second.succeed()
    first.abandon()  # the batch has ended: nothing to give back twice


def test_a_lost_connection_mid_batch_runs_the_whole_batch_again(store: PostgresStore) -> None:
    """When the batch's connection is killed on the server before its outcomes are written,
    the write raises StoreUnavailable and every job of the batch is claimable again, its
    attempt not counted."""
    ids = enqueue(store, 1, 2, 3)
    claims = store.claim_batch(["default"], worker_id="w", limit=3)
    claims[0].succeed()
    backend = claims[1].connection.info.backend_pid
    claims[1].succeed()
    with admin() as conn:
        conn.execute("SELECT pg_terminate_backend(%s)", (backend,))
    with pytest.raises(StoreUnavailable):
        claims[2].succeed()
    assert [final(store, job_id) for job_id in ids] == [(JobStatus.READY, 0)] * 3
    worker = QueueWorker(store, lambda job_type, payload: None, batch_size=3)
    assert worker.drain() == 3
    assert [final(store, job_id) for job_id in ids] == [(JobStatus.SUCCEEDED, 1)] * 3


def test_interrupt_mid_batch_gives_every_job_back(store: PostgresStore) -> None:
    """A KeyboardInterrupt in one handler rolls the whole batch back, jobs before it included."""
    ids = enqueue(store, "ok", "stop", "later")

    def handle(job_type: str, payload: str) -> None:
        if payload == "stop":
            raise KeyboardInterrupt

    worker = QueueWorker(store, handle, batch_size=3)
    with pytest.raises(KeyboardInterrupt):
        worker.drain()
    assert [final(store, job_id) for job_id in ids] == [(JobStatus.READY, 0)] * 3


def test_four_threads_in_batch_mode_run_each_job_once(store: PostgresStore) -> None:
    """Four threads claiming batches run 400 jobs exactly once, with retries."""
    table = side_table()

    def handle(job: Job, ctx: JobContext) -> None:
        conn = ctx.connection
        assert isinstance(conn, psycopg.Connection)
        conn.execute(f"INSERT INTO {table} VALUES (%s, %s)", (job.id, job.attempt))
        if job.payload % 10 == 0 and job.attempt == 1:
            raise RuntimeError("once more")

    enqueue(store, *range(400))
    worker = QueueWorker(
        store,
        handle,
        handler_mode="advanced",
        threads=4,
        batch_size=16,
        retry=RetryPolicy(retries=1),
    )
    with worker:
        assert worker.wait_idle(120)
    assert rows_of(f"SELECT count(*), count(DISTINCT job_id) FROM {table}") == [(400, 400)]
    assert rows_of(
        f"SELECT status, attempts, count(*) FROM {SCHEMA}.archived_job "
        "GROUP BY status, attempts ORDER BY attempts"
    ) == [("succeeded", 1, 360), ("succeeded", 2, 40)]


def test_batches_with_database_ids(tmp_path: Path) -> None:
    """Batch outcomes are written by bigint ids too."""
    with open_store(SystemClock(), tmp_path, job_ids=DatabaseIds()) as store:
        ids = enqueue(store, 1, 2)
        assert QueueWorker(store, lambda job_type, payload: None, batch_size=5).drain() == 2
        assert [final(store, job_id) for job_id in ids] == [(JobStatus.SUCCEEDED, 1)] * 2


def test_a_limit_below_one_is_refused(store: PostgresStore) -> None:
    """claim_batch refuses a limit that is not a positive int."""
    with pytest.raises(ConfigurationError):
        store.claim_batch(["default"], worker_id="w", limit=0)
