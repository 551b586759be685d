"""The leased-claim contract, for stores whose claims are leases (SQLite, Redis, memory)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

import proletarian
from proletarian import ClaimLost, JobError, JobStatus
from proletarian.ports.store import QueueStore, Renewable
from proletarian.testing import ManualClock
from tests.contract.conftest import LEASED, STORES, MakeStore

LEASE = timedelta(seconds=30)


@pytest.fixture(params=[name for name in STORES if name in LEASED])
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store(make_store: MakeStore) -> QueueStore:
    return make_store(lease=LEASE)


def claim_one(store: QueueStore, worker_id: str = "w") -> Any:
    claim = store.claim(["default"], worker_id=worker_id)
    assert claim is not None
    assert isinstance(claim, Renewable)
    return claim


def test_expired_lease_is_claimed_again_counting_an_abandonment(
    store: QueueStore, clock: ManualClock
) -> None:
    """A claim whose lease expired is claimable by another worker, with that attempt counted
    as abandoned, not as a finished attempt."""
    job_id = proletarian.enqueue(store, "t", None)
    first = claim_one(store, "dead")
    assert first.lease == LEASE
    assert first.job.abandons == 0
    clock.advance(LEASE - timedelta(seconds=1))
    assert store.claim(["default"], worker_id="other") is None
    clock.advance(timedelta(seconds=1))
    second = claim_one(store, "other")
    assert second.job.id == job_id
    assert (second.job.attempt, second.job.abandons) == (1, 1)
    second.succeed()
    job = store.get_job(job_id)
    assert job is not None
    assert (job.attempts, job.abandons) == (1, 1)


def test_retried_or_given_back_job_counts_no_abandonment(
    store: QueueStore, clock: ManualClock
) -> None:
    """A job put back by retry_at or abandon comes back with no abandonment counted."""
    proletarian.enqueue(store, "t", None)
    claim_one(store).retry_at(clock.now(), JobError(type="E", message="m"))
    again = claim_one(store)
    assert (again.job.attempt, again.job.abandons) == (2, 0)
    again.abandon()
    assert claim_one(store).job.abandons == 0


def test_renew_keeps_the_job(store: QueueStore, clock: ManualClock) -> None:
    """Renewing a lease pushes its expiry a whole lease past now."""
    proletarian.enqueue(store, "t", None)
    claim = claim_one(store)
    clock.advance(LEASE - timedelta(seconds=1))
    claim.renew()
    clock.advance(LEASE - timedelta(seconds=1))
    assert store.claim(["default"], worker_id="other") is None
    claim.succeed()


def test_lost_lease_refuses_every_outcome(store: QueueStore, clock: ManualClock) -> None:
    """Once another worker took the job, the first holder can't renew, finish, retry or fail it."""
    job_id = proletarian.enqueue(store, "t", None)
    first = claim_one(store, "slow")
    clock.advance(LEASE)
    second = claim_one(store, "fast")
    error = JobError(type="E", message="m")
    with pytest.raises(ClaimLost):
        first.renew()
    with pytest.raises(ClaimLost):
        first.succeed()
    with pytest.raises(ClaimLost):
        first.retry_at(clock.now(), error)
    with pytest.raises(ClaimLost):
        first.fail(error)
    second.succeed()
    job = store.get_job(job_id)
    assert job is not None
    assert job.status is JobStatus.SUCCEEDED
    assert (job.attempts, job.abandons) == (1, 1)


def test_expired_but_untaken_lease_can_still_finish(store: QueueStore, clock: ManualClock) -> None:
    """A holder whose lease lapsed but whose job nobody took may still record the outcome."""
    job_id = proletarian.enqueue(store, "t", None)
    claim = claim_one(store)
    clock.advance(LEASE * 2)
    claim.succeed()
    job = store.get_job(job_id)
    assert job is not None
    assert job.status is JobStatus.SUCCEEDED
    assert store.claim(["default"], worker_id="other") is None


def test_running_job_status_follows_the_lease(store: QueueStore, clock: ManualClock) -> None:
    """A leased job is RUNNING while its lease holds and READY again once it lapses."""
    job_id = proletarian.enqueue(store, "t", None)
    claim_one(store)
    job = store.get_job(job_id)
    assert job is not None
    assert job.status is JobStatus.RUNNING
    assert job.attempts == 0
    clock.advance(LEASE)
    job = store.get_job(job_id)
    assert job is not None
    assert job.status is JobStatus.READY
