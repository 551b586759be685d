"""The batch-claim contract, for stores that claim batches (BatchClaimer: memory, PostgreSQL)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import pytest

import proletarian
from proletarian import JobError, JobStatus, NewJob, Priority, QueueWorker
from proletarian.ports.store import BatchClaimer, Claim, QueueStore
from proletarian.testing import ManualClock
from tests.contract.conftest import STORES

# Stores whose claim_batch this suite covers; a store that gains batch claims joins here.
BATCHING = {"memory", "postgres", "postgres_extended"}
ERROR = JobError(type="ValueError", message="boom", traceback="Traceback ...\nValueError: boom\n")


@pytest.fixture(params=[name for name in STORES if name in BATCHING])
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def batch(store: QueueStore, limit: int, queues: Sequence[str] = ("default",)) -> Sequence[Claim]:
    assert isinstance(store, BatchClaimer)
    return store.claim_batch(queues, worker_id="w", limit=limit)


def status(store: QueueStore, job_id: str) -> tuple[JobStatus, int]:
    job = store.get_job(job_id)
    assert job is not None
    return job.status, job.attempts


def test_claim_batch_takes_up_to_the_limit_in_claim_order(store: QueueStore) -> None:
    """A batch holds at most `limit` due jobs, most urgent first, then in enqueue order."""
    low = proletarian.enqueue(store, "t", 1, priority=Priority.LOW)
    first = proletarian.enqueue(store, "t", 2)
    second = proletarian.enqueue(store, "t", 3)
    urgent = proletarian.enqueue(store, "t", 4, priority=Priority.HIGH)
    claims = batch(store, 3)
    assert [claim.job.id for claim in claims] == [urgent, first, second]
    assert [claim.job.payload for claim in claims] == [4, 2, 3]
    assert all(claim.job.attempt == 1 for claim in claims)
    for claim in claims:
        claim.succeed()
    assert status(store, low) == (JobStatus.READY, 0)


def test_claim_batch_on_an_empty_queue_is_empty(store: QueueStore) -> None:
    """A batch claim with nothing due gives no claims, and leaves later jobs alone."""
    assert list(batch(store, 5)) == []
    proletarian.enqueue(store, "t", None, process_in=timedelta(minutes=1))
    assert list(batch(store, 5)) == []


def test_jobs_of_a_batch_are_held_until_their_outcome(store: QueueStore) -> None:
    """While a batch is out, its jobs are RUNNING and no other claim takes them."""
    ids = [proletarian.enqueue(store, "t", i) for i in range(3)]
    claims = batch(store, 2)
    assert status(store, ids[0])[0] is JobStatus.RUNNING
    other = store.claim(["default"], worker_id="other")
    assert other is not None
    assert other.job.id == ids[2]
    other.succeed()
    assert list(batch(store, 2)) == []
    for claim in claims:
        claim.succeed()


def test_every_outcome_of_a_batch_is_kept(store: QueueStore, clock: ManualClock) -> None:
    """Succeeded, retried and failed jobs of one batch end as each outcome said."""
    ok, again, bad = (proletarian.enqueue(store, "t", i) for i in range(3))
    succeed, retry, fail = batch(store, 3)
    succeed.succeed()
    retry.retry_at(clock.now() + timedelta(seconds=30), ERROR)
    fail.fail(ERROR)
    assert status(store, ok) == (JobStatus.SUCCEEDED, 1)
    assert status(store, again) == (JobStatus.SCHEDULED, 1)
    assert status(store, bad) == (JobStatus.FAILED, 1)
    failed = store.get_job(bad)
    assert failed is not None
    assert failed.error == ERROR
    clock.advance(timedelta(seconds=30))
    (retried,) = batch(store, 3)
    assert (retried.job.id, retried.job.attempt) == (again, 2)
    retried.succeed()


def test_outcomes_may_come_in_any_order(store: QueueStore) -> None:
    """The claims of a batch may be ended in any order."""
    ids = [proletarian.enqueue(store, "t", i) for i in range(3)]
    claims = list(batch(store, 3))
    for claim in reversed(claims):
        claim.succeed()
    assert [status(store, job_id) for job_id in ids] == [(JobStatus.SUCCEEDED, 1)] * 3


def test_abandoned_batch_jobs_are_claimable_again_uncounted(store: QueueStore) -> None:
    """Abandoning every claim of a batch gives its jobs back, their attempts not counted."""
    ids = [proletarian.enqueue(store, "t", i) for i in range(2)]
    for claim in batch(store, 2):
        claim.abandon()
    assert [status(store, job_id) for job_id in ids] == [(JobStatus.READY, 0)] * 2
    again = batch(store, 2)
    assert [claim.job.attempt for claim in again] == [1, 1]
    for claim in again:
        claim.succeed()


def test_claim_batch_spans_queues(store: QueueStore) -> None:
    """A batch over several queues takes the most urgent due jobs of all of them."""
    emails = proletarian.enqueue(store, "t", None, queue="emails")
    urgent = proletarian.enqueue(store, "t", None, queue="reports", priority=Priority.CRITICAL)
    proletarian.enqueue(store, "t", None, queue="other")
    claims = batch(store, 5, ("emails", "reports"))
    assert [claim.job.id for claim in claims] == [urgent, emails]
    for claim in claims:
        claim.succeed()


def test_worker_in_batch_mode_runs_every_job_once(store: QueueStore) -> None:
    """A worker with batch_size runs every due job exactly once, failures included."""
    store.enqueue_many([NewJob(job_type="t", payload=i) for i in range(25)])
    ran: list[int] = []

    def handle(job_type: str, payload: int) -> None:
        ran.append(payload)
        if payload % 7 == 0:
            raise ValueError(f"job {payload} fails")

    worker = QueueWorker(store, handle, batch_size=4)
    assert worker.drain() == 25
    assert sorted(ran) == list(range(25))
    stats = store.stats()["default"]
    assert (stats.succeeded, stats.failed, stats.ready) == (21, 4, 0)
