"""Unique jobs, on every store: a held key creates no second job, and returns the holder."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

import proletarian
from proletarian import JobError, JobId, NewJob
from proletarian.ports.store import QueueStore
from proletarian.testing import ManualClock

ERROR = JobError(type="ValueError", message="boom")
HOUR = timedelta(hours=1)


def claim_one(store: QueueStore) -> Any:
    claim = store.claim(("default",), worker_id="w")
    assert claim is not None
    return claim


def queued(store: QueueStore) -> int:
    return sum(s.ready + s.scheduled + s.running for s in store.stats().values())


def test_enqueue_returns_a_created_job_id(store: QueueStore) -> None:
    """enqueue returns a JobId, a str that says it created the job, with or without a key."""
    plain = proletarian.enqueue(store, "t", None)
    keyed = proletarian.enqueue(store, "t", None, unique_key="invoice:1")
    for job_id in (plain, keyed):
        assert isinstance(job_id, JobId)
        assert isinstance(job_id, str)
        assert job_id.created is True
        job = store.get_job(job_id)
        assert job is not None
        assert job.id == job_id


def test_a_held_key_returns_the_holder(store: QueueStore) -> None:
    """Enqueueing a key a queued job holds writes nothing and returns that job's id, with
    `created` False, whatever the second job's other fields."""
    first = proletarian.enqueue(store, "t", {"n": 1}, unique_key="invoice:42")
    second = proletarian.enqueue(
        store, "other", {"n": 2}, queue="q2", unique_key="invoice:42", process_in=HOUR
    )
    assert second == first
    assert second.created is False
    assert queued(store) == 1
    job = store.get_job(first)
    assert job is not None
    assert job.payload == {"n": 1}


def test_keys_are_compared_exactly(store: QueueStore) -> None:
    """Keys differing only in case, accents or trailing spaces are different keys."""
    keys = ("Invoice:42", "invoice:42", "invoice:42 ", "invoice:é", "invoice:e")
    ids = {proletarian.enqueue(store, "t", None, unique_key=key) for key in keys}
    assert len(ids) == len(keys)


def test_a_running_job_holds_its_key(store: QueueStore) -> None:
    """A claimed job still holds its key."""
    job_id = proletarian.enqueue(store, "t", None, unique_key="k")
    claim = claim_one(store)
    again = proletarian.enqueue(store, "t", None, unique_key="k")
    assert (again, again.created) == (job_id, False)
    claim.succeed()


def test_success_frees_the_key(store: QueueStore) -> None:
    """With no unique_for, the key is free once the job succeeded: a new job takes it."""
    first = proletarian.enqueue(store, "t", None, unique_key="k")
    claim_one(store).succeed()
    second = proletarian.enqueue(store, "t", None, unique_key="k")
    assert second != first
    assert second.created is True
    assert proletarian.enqueue(store, "t", None, unique_key="k") == second


@pytest.mark.parametrize("outcome", ["succeed", "fail"])
def test_unique_for_holds_the_key_after_the_job_finished(
    store: QueueStore, clock: ManualClock, outcome: str
) -> None:
    """With unique_for, the key stays held that long after the job succeeded or failed, by the
    store's clock, and is free after it."""
    first = proletarian.enqueue(store, "t", None, unique_key="k", unique_for=HOUR)
    claim = claim_one(store)
    if outcome == "succeed":
        claim.succeed()
    else:
        claim.fail(ERROR)
    clock.advance(HOUR - timedelta(seconds=1))
    held = proletarian.enqueue(store, "t", None, unique_key="k")
    assert (held, held.created) == (first, False)
    clock.advance(timedelta(seconds=2))
    fresh = proletarian.enqueue(store, "t", None, unique_key="k")
    assert fresh != first
    assert fresh.created is True


def test_the_holders_unique_for_decides(store: QueueStore, clock: ManualClock) -> None:
    """How long a finished job holds its key is its own unique_for, not the newcomer's."""
    first = proletarian.enqueue(store, "t", None, unique_key="k")
    claim_one(store).succeed()
    clock.advance(timedelta(seconds=1))
    second = proletarian.enqueue(store, "t", None, unique_key="k", unique_for=HOUR)
    assert second != first
    assert second.created
    claim_one(store).succeed()
    clock.advance(timedelta(minutes=30))
    assert proletarian.enqueue(store, "t", None, unique_key="k", unique_for=HOUR) == second


def test_cancel_frees_the_key_at_once(store: QueueStore) -> None:
    """A cancelled job frees its key at once, even with unique_for."""
    first = proletarian.enqueue(store, "t", None, unique_key="k", unique_for=HOUR)
    assert store.cancel(first)
    second = proletarian.enqueue(store, "t", None, unique_key="k")
    assert second != first
    assert second.created is True


def test_a_retry_keeps_the_key(store: QueueStore, clock: ManualClock) -> None:
    """A job waiting for its retry is still queued, so it still holds its key."""
    first = proletarian.enqueue(store, "t", None, unique_key="k")
    claim_one(store).retry_at(clock.now() + HOUR, ERROR)
    again = proletarian.enqueue(store, "t", None, unique_key="k")
    assert (again, again.created) == (first, False)


def test_retry_failed_takes_the_key_back(store: QueueStore) -> None:
    """A failed job put back by retry_failed holds its key again, when no other job took it
    meanwhile."""
    first = proletarian.enqueue(store, "t", None, unique_key="k")
    claim_one(store).fail(ERROR)
    assert store.retry_failed(first)
    again = proletarian.enqueue(store, "t", None, unique_key="k")
    assert (again, again.created) == (first, False)


def test_retry_failed_after_another_job_took_the_key(store: QueueStore) -> None:
    """A failed job whose key another job has taken since comes back without it: the other
    job keeps the key, and both run."""
    first = proletarian.enqueue(store, "t", None, unique_key="k")
    claim_one(store).fail(ERROR)
    second = proletarian.enqueue(store, "t", None, unique_key="k")
    assert second != first
    assert second.created
    assert store.retry_failed(first)
    assert queued(store) == 2
    assert proletarian.enqueue(store, "t", None, unique_key="k") == second
    assert store.cancel(second)
    third = proletarian.enqueue(store, "t", None, unique_key="k")
    assert third.created
    assert third not in (first, second)


def test_enqueue_many_with_one_key_twice(store: QueueStore) -> None:
    """In one enqueue_many, a job whose key an earlier job of the call has is not written:
    its id is the earlier job's, with `created` False."""
    ids = proletarian.enqueue_many(
        store,
        [
            NewJob("t", 1, unique_key="a"),
            NewJob("t", 2, unique_key="a"),
            NewJob("t", 3),
            NewJob("t", 4, unique_key="b"),
        ],
    )
    assert [i.created for i in ids] == [True, False, True, True]
    assert ids[1] == ids[0]
    assert len(set(ids)) == 3
    assert queued(store) == 3
    again = proletarian.enqueue_many(store, [NewJob("t", 5, unique_key="b"), NewJob("t", 6)])
    assert (again[0], again[0].created, again[1].created) == (ids[3], False, True)


def test_latest_unique_key(store: QueueStore) -> None:
    """latest_unique_key gives the greatest key with the prefix, in code point order, whether
    its job is queued or finished; None when no key has the prefix."""
    assert store.latest_unique_key("tick:") is None
    for key in ("tick:2026-01-02", "tick:2026-01-01", "tock:9", "tick", "tick:é", "tick:z"):
        proletarian.enqueue(store, "t", None, unique_key=key)
    assert store.latest_unique_key("tick:") == "tick:é"
    assert store.latest_unique_key("tick:2") == "tick:2026-01-02"
    assert store.latest_unique_key("tick") == "tick:é"
    assert store.latest_unique_key("") == "tock:9"
    assert store.latest_unique_key("tack") is None
    assert store.latest_unique_key("tick:\U0010ffff") is None
    for _ in range(6):
        claim_one(store).succeed()
    assert store.latest_unique_key("tock") == "tock:9"


def test_pruning_a_job_removes_its_key(store: QueueStore, clock: ManualClock) -> None:
    """prune_archive removes the keys of the jobs it deletes; a cancelled job's key goes with
    it."""
    proletarian.enqueue(store, "t", None, unique_key="a:1")
    claim_one(store).succeed()
    cancelled = proletarian.enqueue(store, "t", None, unique_key="b:1")
    assert store.cancel(cancelled)
    assert store.latest_unique_key("b:") is None
    clock.advance(timedelta(days=2))
    assert store.latest_unique_key("a:") == "a:1"
    assert store.prune_archive(timedelta(days=1)) == 1
    assert store.latest_unique_key("a:") is None


def test_unique_for_is_exact_to_the_microsecond(store: QueueStore, clock: ManualClock) -> None:
    """unique_for ends exactly unique_for after the holder finished, also when it finished a
    few microseconds before a whole second (SQLite's strftime would round that up)."""
    clock.advance(timedelta(microseconds=(999_900 - clock.now().microsecond) % 1_000_000))
    first = proletarian.enqueue(store, "t", None, unique_key="k", unique_for=timedelta(seconds=1))
    claim_one(store).succeed()
    clock.advance(timedelta(seconds=1) - timedelta(microseconds=1))
    assert proletarian.enqueue(store, "t", None, unique_key="k") == first
    clock.advance(timedelta(microseconds=1))
    assert proletarian.enqueue(store, "t", None, unique_key="k").created


def test_bulk_cancel_frees_the_keys(store: QueueStore) -> None:
    """cancel_queued_jobs frees the keys of the jobs it removes at once, as cancel does."""
    first = proletarian.enqueue(store, "t", None, unique_key="k", unique_for=HOUR)
    assert store.cancel_queued_jobs() == 1
    second = proletarian.enqueue(store, "t", None, unique_key="k")
    assert second != first
    assert second.created
