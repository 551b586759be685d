"""The strict claim's statements prepared on the server (two round trips per job): they survive
being deallocated, are shared by stores over one pool, and a lost job never commits."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg.pq import TransactionStatus
from psycopg.rows import tuple_row
from psycopg_pool import ConnectionPool

import proletarian
from proletarian import ClaimLost, JobStatus
from proletarian.adapters.clocks import SystemClock
from proletarian.adapters.postgres import PostgresStore, rows, statements
from proletarian.adapters.postgres.prepared import (
    ExtendedStatements,
    ServerStatements,
    numbered,
)
from proletarian.adapters.postgres.schema import Names
from proletarian.adapters.postgres.statements import Statements
from tests.fixtures.postgres import SCHEMA, TEST_URL, reset


@pytest.fixture
def pool() -> Iterator[ConnectionPool[Any]]:
    """One connection, so every claim uses the same one; the test schema installed."""
    reset()
    pool: ConnectionPool[Any] = ConnectionPool(TEST_URL, min_size=1, max_size=1, open=True)
    try:
        PostgresStore(pool, schema=SCHEMA).install_schema()
        yield pool
    finally:
        pool.close()
        reset()


def run_one(store: PostgresStore) -> str:
    claim = store.claim(["default"], worker_id="w")
    assert claim is not None
    claim.succeed()
    return claim.job.id


def test_claims_prepare_their_statements_again_after_deallocate(
    pool: ConnectionPool[Any],
) -> None:
    """After DEALLOCATE ALL on the pool's connection, the next claim prepares its statements
    again and the job runs to its outcome."""
    store = PostgresStore(pool, schema=SCHEMA)
    first, second = proletarian.enqueue_many(
        store, [proletarian.NewJob(job_type="t", payload=n) for n in range(2)]
    )
    assert run_one(store) == first
    with pool.connection() as conn:
        names = conn.execute("SELECT name FROM pg_prepared_statements").fetchall()
        assert any(name.startswith("proletarian_") for (name,) in names)
        conn.execute("DEALLOCATE ALL")
        conn.commit()
    assert run_one(store) == second
    job = store.get_job(second)
    assert job is not None
    assert job.status is JobStatus.SUCCEEDED


def test_stores_share_prepared_statements_on_one_pool(pool: ConnectionPool[Any]) -> None:
    """A second store over the same pool finds the statements already prepared and uses them."""
    jobs = proletarian.enqueue_many(
        PostgresStore(pool, schema=SCHEMA),
        [proletarian.NewJob(job_type="t", payload=n) for n in range(2)],
    )
    assert run_one(PostgresStore(pool, schema=SCHEMA)) == jobs[0]
    assert run_one(PostgresStore(pool, schema=SCHEMA)) == jobs[1]


def test_a_job_gone_before_its_outcome_commits_nothing(pool: ConnectionPool[Any]) -> None:
    """If the job row vanished inside the claim (here the handler deleted it on
    ctx.connection), succeed raises ClaimLost and nothing of the transaction is committed."""
    store = PostgresStore(pool, schema=SCHEMA)
    job_id = proletarian.enqueue(store, "t", None)
    claim = store.claim(["default"], worker_id="w")
    assert claim is not None
    conn = claim.connection
    assert isinstance(conn, psycopg.Connection)
    conn.execute(f'DELETE FROM "{SCHEMA}".job WHERE job_id = %s', (job_id,))
    with pytest.raises(ClaimLost):
        claim.succeed()
    job = store.get_job(job_id)
    assert job is not None
    assert (job.status, job.attempts) == (JobStatus.READY, 0)


def test_without_server_prepared_statements(pool: ConnectionPool[Any]) -> None:
    """With server_prepared=False (PgBouncer in transaction mode) claims prepare nothing on the
    server, and success, retry and failure, with handler writes, end as with them."""
    store = PostgresStore(pool, schema=SCHEMA, server_prepared=False)
    with pool.connection() as conn:
        conn.execute("DEALLOCATE ALL")
        conn.execute(f'CREATE TABLE "{SCHEMA}".effect (job_id text, attempt int)')
        conn.commit()
    ok, once, bad = proletarian.enqueue_many(
        store, [proletarian.NewJob(job_type="t", payload=p) for p in ("ok", "once", "bad")]
    )

    def handle(job: proletarian.Job, ctx: proletarian.JobContext) -> None:
        conn = ctx.connection
        assert isinstance(conn, psycopg.Connection)
        conn.execute(f'INSERT INTO "{SCHEMA}".effect VALUES (%s, %s)', (job.id, job.attempt))
        if job.payload == "bad" or (job.payload == "once" and job.attempt == 1):
            raise RuntimeError(job.payload)

    worker = proletarian.QueueWorker(
        store, handle, handler_mode="advanced", retry=proletarian.RetryPolicy(retries=1)
    )
    assert worker.drain() == 5
    states = [store.get_job(job_id) for job_id in (ok, once, bad)]
    assert [(j.status, j.attempts) for j in states if j] == [
        (JobStatus.SUCCEEDED, 1),
        (JobStatus.SUCCEEDED, 2),
        (JobStatus.FAILED, 2),
    ]
    with pool.connection() as conn:
        written = conn.execute(f'SELECT job_id, attempt FROM "{SCHEMA}".effect').fetchall()
        names = conn.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE name LIKE 'proletarian%%'"
        ).fetchone()
    assert sorted(written) == sorted([(ok, 1), (once, 2)])
    assert names == (0,)


def test_prepared_claims_number_their_parameters_by_first_appearance() -> None:
    """Named parameters are numbered by first appearance, each name once: the queue is $1 and
    every use of the time is $2, bound by name from what the claim passes."""
    names = Names.of(schema="s", job_table="job", archived_job_table="archived_job", channel=None)
    definitions = Statements.build(names, bigint_ids=False).claim
    for key, queue, first in (
        ("claim_one", "queue = $1", "queue"),
        ("claim_any", "unnest($1::text[])", "queues"),
    ):
        body, order = numbered(definitions[key].query)
        text = body.decode()
        assert order == (first, "now")
        assert queue in text
        assert "process_at <= $2" in text
        assert "%(" not in text
        assert "$3" not in text


@pytest.mark.parametrize("server", [True, False], ids=["server", "extended"])
@pytest.mark.parametrize("outcome", ["succeed", "fail", "retry"])
def test_an_outcome_whose_job_is_gone_fails_before_its_commit(
    pool: ConnectionPool[Any], server: bool, outcome: str
) -> None:
    """An outcome that finds no job row raises NothingWritten, prepared on the server or not,
    and the COMMIT sent after it is not run: the claim's transaction is left aborted."""
    sql = Statements.build(PostgresStore(pool, schema=SCHEMA).names, bigint_ids=False)
    runner = ServerStatements(sql.claim) if server else ExtendedStatements(sql.claim)
    now = SystemClock().now()
    params = {
        "job_id": uuid.uuid4(),
        "status": "failed",
        "started_at": now,
        "finished_at": now,
        "process_at": now,
        **statements.error_values(None),
    }
    with pool.connection() as conn:
        conn.autocommit = True
        with pytest.raises(statements.NothingWritten):
            runner.run(conn, outcome, params, tuple_row, before=(b"BEGIN",), after=(b"COMMIT",))
        assert conn.info.transaction_status == TransactionStatus.INERROR
        conn.rollback()


def test_server_statements_give_the_result_of_the_execute_after_what_came_before(
    pool: ConnectionPool[Any],
) -> None:
    """The result returned is the EXECUTE's, after the PREPAREs a connection lacked and the
    statements sent before it in the same round trip."""
    store = PostgresStore(pool, schema=SCHEMA)
    job_id = proletarian.enqueue(store, "t", None)
    runner = ServerStatements(Statements.build(store.names, bigint_ids=False).claim)
    before = (b"BEGIN", b"SAVEPOINT first", b"RELEASE SAVEPOINT first")
    params = {"queue": "default", "now": SystemClock().now()}
    with pool.connection() as conn:
        conn.execute("DEALLOCATE ALL")
        conn.commit()
        conn.autocommit = True
        for _ in range(2):  # with the PREPAREs, then without them
            row = runner.run(conn, "claim_one", params, rows.claim_rows, before=before).fetchone()
            assert row is not None
            assert str(row.job.job_id) == job_id
            conn.rollback()
