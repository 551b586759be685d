"""PostgresStore(lease=...) against the real server: no transaction while a handler runs,
handler writes through ctx.connection, and leases beside transactional claims on one table.
The leased-claim contract itself runs in tests/contract (postgres_leased)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

import proletarian
from proletarian import ClaimLost, JobError, JobStatus, NewJob, StoreUnavailable
from proletarian.adapters.postgres import PostgresLeasedClaim, PostgresStore
from proletarian.adapters.postgres import leased as leased_module
from proletarian.adapters.postgres import store as store_module
from proletarian.core.errors import TransactionAborted
from proletarian.testing import ManualClock
from tests.fixtures.postgres import APPLICATION, SCHEMA, TEST_URL, admin, open_store

LEASE = timedelta(seconds=30)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def store(clock: ManualClock, tmp_path: Path) -> Iterator[PostgresStore]:
    with open_store(clock, tmp_path, lease=LEASE) as opened, admin() as conn:
        conn.execute(
            sql.SQL("CREATE TABLE {} (job_id text NOT NULL, attempt int NOT NULL)").format(
                sql.Identifier(SCHEMA, "effect")
            )
        )
        yield opened


def leased(store: PostgresStore, worker_id: str = "w") -> PostgresLeasedClaim:
    claim = store.claim(["default"], worker_id=worker_id)
    assert isinstance(claim, PostgresLeasedClaim)
    return claim


def write_effect(claim: PostgresLeasedClaim) -> None:
    claim.connection.execute(
        sql.SQL("INSERT INTO {} VALUES (%s, %s)").format(sql.Identifier(SCHEMA, "effect")),
        (claim.job.id, claim.job.attempt),
    )


def effects() -> list[tuple[Any, ...]]:
    with admin() as conn:
        return conn.execute(f"SELECT job_id, attempt FROM {SCHEMA}.effect ORDER BY 2").fetchall()


def open_transactions() -> int:
    """Connections of the tests' application name with a transaction open."""
    with admin() as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s "
            "AND state LIKE 'idle in transaction%%'",
            (APPLICATION,),
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_no_transaction_is_open_while_a_leased_job_runs(store: PostgresStore) -> None:
    """The claim commits at once: the job shows as running, with no connection held."""
    job_id = proletarian.enqueue(store, "t", None)
    claim = leased(store)
    assert open_transactions() == 0
    job = store.get_job(job_id)
    assert job is not None
    assert (job.status, job.attempts) == (JobStatus.RUNNING, 0)
    assert store.stats()["default"].running == 1
    assert store.cancel(job_id) is False
    claim.succeed()
    done = store.get_job(job_id)
    assert done is not None
    assert (done.status, done.attempts) == (JobStatus.SUCCEEDED, 1)


def test_handler_writes_commit_with_success_and_vanish_on_retry(
    store: PostgresStore, clock: ManualClock
) -> None:
    """Writes through ctx.connection are rolled back before a retry is recorded, and commit
    together with success."""
    job_id = proletarian.enqueue(store, "t", None)
    first = leased(store)
    write_effect(first)
    assert open_transactions() == 1
    first.retry_at(clock.now(), JobError(type="E", message="m"))
    assert effects() == []
    second = leased(store)
    write_effect(second)
    second.succeed()
    assert effects() == [(job_id, 2)]
    assert open_transactions() == 0


def test_an_open_handler_transaction_keeps_the_job_past_its_lease(
    store: PostgresStore, clock: ManualClock
) -> None:
    """While the handler's transaction holds the job's row, no other claim takes it, even once
    the lease has expired; the outcome then commits as usual."""
    job_id = proletarian.enqueue(store, "t", None)
    claim = leased(store)
    write_effect(claim)
    clock.advance(LEASE * 2)
    assert store.claim(["default"], worker_id="other") is None
    running = store.get_job(job_id)
    assert running is not None
    assert (running.status, running.attempts) == (JobStatus.RUNNING, 0)
    claim.renew()  # nothing to renew, and nothing waited for
    claim.succeed()
    assert effects() == [(job_id, 1)]


def test_a_lost_lease_refuses_the_handler_a_transaction(
    store: PostgresStore, clock: ManualClock
) -> None:
    """Once another worker took the job after the lease expired, ctx.connection raises
    ClaimLost instead of letting the first holder write."""
    proletarian.enqueue(store, "t", None)
    first = leased(store, "slow")
    clock.advance(LEASE)
    second = leased(store, "fast")
    with pytest.raises(ClaimLost):
        write_effect(first)
    second.succeed()
    assert effects() == []


def test_a_swallowed_sql_error_fails_success_but_keeps_the_claim(store: PostgresStore) -> None:
    """A handler statement that failed aborts the handler's transaction: success raises
    TransactionAborted, and the claim can still record the failure."""
    job_id = proletarian.enqueue(store, "t", None)
    claim = leased(store)
    with pytest.raises(psycopg.errors.UndefinedTable):
        claim.connection.execute("SELECT * FROM no_such_table")
    with pytest.raises(TransactionAborted):
        claim.succeed()
    claim.fail(JobError(type="TransactionAborted", message="aborted"))
    job = store.get_job(job_id)
    assert job is not None
    assert (job.status, job.attempts) == (JobStatus.FAILED, 1)


def test_transactional_claims_pass_over_leased_jobs(
    store: PostgresStore, clock: ManualClock
) -> None:
    """A transactional store on the same table does not take a job a live lease holds, and
    takes it once the lease has expired, counting the lost attempt."""
    job_id = proletarian.enqueue(store, "t", None)
    leased(store)
    strict = PostgresStore(store.pool, schema=SCHEMA, clock=clock)
    for queues in (["default"], ["default", "other"]):
        assert strict.claim(queues, worker_id="strict") is None
    clock.advance(LEASE)
    claim = strict.claim(["default"], worker_id="strict")
    assert claim is not None
    assert claim.job.id == job_id
    claim.succeed()
    job = store.get_job(job_id)
    assert job is not None
    assert (job.status, job.attempts, job.abandons) == (JobStatus.SUCCEEDED, 1, 1)


def test_leased_claims_pass_over_jobs_a_transaction_holds(
    store: PostgresStore, clock: ManualClock
) -> None:
    """A leased claim skips a job whose row a transactional claim has locked, and takes it once
    that claim gave it back."""
    job_id = proletarian.enqueue(store, "t", None)
    strict = PostgresStore(store.pool, schema=SCHEMA, clock=clock)
    held = strict.claim(["default"], worker_id="strict")
    assert held is not None
    for queues in (["default"], ["default", "other"]):
        assert store.claim(queues, worker_id="w") is None
    held.abandon()
    assert leased(store).job.id == job_id


def test_renewing_never_waits_for_a_row_another_transaction_locked(
    store: PostgresStore,
) -> None:
    """Only a claim taking over an expired lease locks a leased job's row: renewing then says
    the lease is lost at once instead of waiting (the heartbeat renews every lease of the
    worker, and must not stall on one)."""
    job_id = proletarian.enqueue(store, "t", None)
    claim = leased(store)
    with psycopg.connect(TEST_URL) as other:
        other.execute(f"SELECT 1 FROM {SCHEMA}.job WHERE job_id = %s FOR UPDATE", (job_id,))
        with pytest.raises(ClaimLost):
            claim.renew()
        with pytest.raises(ClaimLost):
            write_effect(claim)
        other.rollback()
    claim.succeed()


def test_an_expired_lease_taken_over_by_a_transactional_claim_is_lost(
    store: PostgresStore, clock: ManualClock
) -> None:
    """A transactional claim that takes a job whose lease expired counts that abandonment, and
    its retry clears the lease: the first holder can neither renew nor end the job."""
    job_id = proletarian.enqueue(store, "t", None)
    first = leased(store, "slow")
    clock.advance(LEASE)
    strict = PostgresStore(store.pool, schema=SCHEMA, clock=clock)
    second = strict.claim(["default"], worker_id="strict")
    assert second is not None
    assert second.job.abandons == 1
    second.retry_at(clock.now() + LEASE * 10, JobError(type="E", message="m"))
    with pytest.raises(ClaimLost):
        first.renew()
    with pytest.raises(ClaimLost):
        first.succeed()
    job = store.get_job(job_id)
    assert job is not None
    assert (job.status, job.attempts, job.abandons) == (JobStatus.SCHEDULED, 1, 1)


def test_a_failed_lease_batch_gives_back_what_it_took(
    store: PostgresStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If a batch's second lease fails, the first is given back uncounted before the error
    propagates: nobody would renew or end it."""
    job_ids = proletarian.enqueue_many(store, [NewJob("t", None), NewJob("t", None)])
    real = leased_module.lease_job
    calls = 0

    def failing_second(*args: Any, **kwargs: Any) -> PostgresLeasedClaim | None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise StoreUnavailable("down")
        return real(*args, **kwargs)

    monkeypatch.setattr(store_module, "lease_job", failing_second)
    with pytest.raises(StoreUnavailable):
        store.claim_batch(["default"], worker_id="w", limit=2)
    for job_id in job_ids:
        job = store.get_job(job_id)
        assert job is not None
        assert (job.status, job.attempts) == (JobStatus.READY, 0)


@pytest.mark.parametrize("lease", [timedelta(0), timedelta(seconds=-1), 30])
def test_lease_must_be_a_positive_timedelta(lease: Any) -> None:
    """A lease that is not a positive timedelta is refused before connecting."""
    with pytest.raises(proletarian.ConfigurationError, match="lease"):
        PostgresStore.connect(TEST_URL, lease=lease)
