"""The QueueStore contract: every store adapter must pass every test here."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import proletarian
from proletarian import (
    ConfigurationError,
    JobError,
    JobStatus,
    NewJob,
    Priority,
    SerializationError,
)
from proletarian.adapters.serializers import JsonSerializer
from proletarian.ports.store import QueueStore, Renewable
from proletarian.testing import ManualClock
from tests.contract.conftest import MakeStore, fixtures_of

ERROR = JobError(type="ValueError", message="boom", traceback="Traceback ...\nValueError: boom\n")


def claim_one(store: QueueStore, queues: tuple[str, ...] = ("default",)) -> Any:
    claim = store.claim(queues, worker_id="w")
    assert claim is not None
    return claim


def test_enqueued_job_can_be_read_back(store: QueueStore, clock: ManualClock) -> None:
    """An enqueued job is READY, with its fields as given and no attempts yet."""
    job_id = proletarian.enqueue(
        store,
        "send",
        {"to": "a@b.c", "n": [1, 2.5, None, True]},
        queue="emails",
        priority=Priority.HIGH,
        meta={"tenant": "acme"},
    )
    job = store.get_job(job_id)
    assert job is not None
    assert (job.id, job.queue, job.job_type) == (job_id, "emails", "send")
    assert job.payload == {"to": "a@b.c", "n": [1, 2.5, None, True]}
    assert job.priority is Priority.HIGH
    assert job.meta == {"tenant": "acme"}
    assert job.status is JobStatus.READY
    assert job.attempts == 0
    assert job.enqueued_at == clock.now() == job.process_at


def die(store_kind: str, claim: Any, clock: ManualClock) -> None:
    """The worker holding `claim` dies: a lease runs out, a transaction is cut by the server.
    Then a minute passes (a store may hold back a job whose worker died, as MySQL does)."""
    if isinstance(claim, Renewable):
        clock.advance(claim.lease)
    else:
        fixtures_of(store_kind).kill_claim(claim)
    clock.advance(timedelta(minutes=1))


def test_a_claim_whose_worker_died_is_counted_as_abandoned(
    make_store: MakeStore, store_kind: str, clock: ManualClock
) -> None:
    """The next claim of a job whose worker died holding it counts an abandonment (not a
    finished attempt), committed before the job is handed out again; a claim given back alive
    counts none, and the archive keeps the count."""
    store = make_store()
    job_id = proletarian.enqueue(store, "t", None)
    die(store_kind, claim_one(store), clock)
    again = claim_one(store)
    assert (again.job.id, again.job.attempt, again.job.abandons) == (job_id, 1, 1)
    die(store_kind, again, clock)
    third = claim_one(store)
    assert (third.job.attempt, third.job.abandons) == (1, 2)
    third.abandon()
    fourth = claim_one(store)
    assert (fourth.job.attempt, fourth.job.abandons) == (1, 2)
    fourth.succeed()
    job = store.get_job(job_id)
    assert job is not None
    assert (job.status, job.attempts, job.abandons) == (JobStatus.SUCCEEDED, 1, 2)


def test_unknown_job_is_none(store: QueueStore) -> None:
    """get_job of an id never enqueued is None."""
    assert store.get_job("0190d2a0-0000-7000-8000-000000000000") is None


def test_claim_gives_the_job_and_holds_it(store: QueueStore) -> None:
    """A claimed job is RUNNING on attempt 1, and no second claim can take it."""
    job_id = proletarian.enqueue(store, "t", {"a": 1})
    claim = claim_one(store)
    assert claim.job.id == job_id
    assert claim.job.payload == {"a": 1}
    assert claim.job.attempt == 1
    assert claim.decode_error is None
    assert claim.job.abandons == 0
    assert store.claim(["default"], worker_id="other") is None
    running = store.get_job(job_id)
    assert running is not None
    assert running.status is JobStatus.RUNNING
    claim.succeed()


def test_claim_on_empty_queue_is_none(store: QueueStore) -> None:
    """Claiming from a queue with no jobs gives None."""
    assert store.claim(["default"], worker_id="w") is None


def test_claim_order_is_priority_then_due_time_then_fifo(
    store: QueueStore, clock: ManualClock
) -> None:
    """Jobs are claimed by priority first, then by due time, then in enqueue order."""
    low = proletarian.enqueue(store, "t", 1, priority=Priority.LOW)
    normal_a = proletarian.enqueue(store, "t", 2)
    normal_b = proletarian.enqueue(store, "t", 3)
    clock.advance(1)
    critical = proletarian.enqueue(store, "t", 4, priority=Priority.CRITICAL)
    earlier = proletarian.enqueue(store, "t", 5, process_at=clock.now() - timedelta(hours=1))
    high = proletarian.enqueue(store, "t", 6, priority=Priority.HIGH)
    order = []
    while (claim := store.claim(["default"], worker_id="w")) is not None:
        order.append(claim.job.id)
        claim.succeed()
    assert order == [critical, high, normal_a, normal_b, earlier, low]


def test_urgent_job_not_yet_due_does_not_hide_a_due_one(
    store: QueueStore, clock: ManualClock
) -> None:
    """A high-priority job scheduled for later leaves a due normal job claimable now."""
    proletarian.enqueue(
        store, "t", None, priority=Priority.CRITICAL, process_in=timedelta(minutes=1)
    )
    due = proletarian.enqueue(store, "t", None, priority=Priority.LOW)
    claim = claim_one(store)
    assert claim.job.id == due
    claim.succeed()
    assert store.claim(["default"], worker_id="w") is None


def test_scheduled_job_waits_for_its_time(store: QueueStore, clock: ManualClock) -> None:
    """A job scheduled in the future is not claimed before its time, and is SCHEDULED."""
    job_id = proletarian.enqueue(store, "t", None, process_in=timedelta(seconds=30))
    job = store.get_job(job_id)
    assert job is not None
    assert job.status is JobStatus.SCHEDULED
    assert job.process_at == clock.now() + timedelta(seconds=30)
    clock.advance(29)
    assert store.claim(["default"], worker_id="w") is None
    clock.advance(1)
    assert claim_one(store).job.id == job_id


def test_process_at_in_the_past_means_now(store: QueueStore, clock: ManualClock) -> None:
    """process_at in the past is stored as the enqueue time and claimable at once."""
    job_id = proletarian.enqueue(store, "t", None, process_at=clock.now() - timedelta(days=1))
    job = store.get_job(job_id)
    assert job is not None
    assert job.process_at == clock.now()
    assert claim_one(store).job.id == job_id


def test_claim_takes_only_the_given_queues(store: QueueStore) -> None:
    """A claim never returns a job of a queue it did not ask for; several queues may be asked."""
    a = proletarian.enqueue(store, "t", None, queue="a")
    b = proletarian.enqueue(store, "t", None, queue="b")
    assert store.claim(["c"], worker_id="w") is None
    claim = claim_one(store, ("b",))
    assert claim.job.id == b
    claim.succeed()
    claim = claim_one(store, ("c", "a"))
    assert claim.job.id == a
    claim.succeed()


def test_succeed_archives(store: QueueStore, clock: ManualClock) -> None:
    """Success moves the job to the archive as SUCCEEDED with start and finish times."""
    job_id = proletarian.enqueue(store, "t", {"x": 1})
    claim = claim_one(store)
    started = clock.now()
    clock.advance(2)
    claim.succeed()
    job = store.get_job(job_id)
    assert job is not None
    assert job.status is JobStatus.SUCCEEDED
    assert job.attempts == 1
    assert job.payload == {"x": 1}
    assert job.error is None
    assert job.started_at == started
    assert job.finished_at == clock.now()
    assert store.claim(["default"], worker_id="w") is None


def test_retry_puts_the_job_back_with_the_attempt_counted(
    store: QueueStore, clock: ManualClock
) -> None:
    """retry_at records the error and attempt; the job is claimable again only at `when`."""
    job_id = proletarian.enqueue(store, "t", None)
    claim_one(store).retry_at(clock.now() + timedelta(seconds=10), ERROR)
    job = store.get_job(job_id)
    assert job is not None
    assert job.status is JobStatus.SCHEDULED
    assert job.attempts == 1
    assert job.error == ERROR
    assert store.claim(["default"], worker_id="w") is None
    clock.advance(10)
    claim = claim_one(store)
    assert claim.job.attempt == 2
    claim.succeed()


def test_fail_archives_with_the_error(store: QueueStore) -> None:
    """fail moves the job to the archive as FAILED with the error's type, message, traceback."""
    job_id = proletarian.enqueue(store, "t", None)
    claim_one(store).fail(ERROR)
    job = store.get_job(job_id)
    assert job is not None
    assert job.status is JobStatus.FAILED
    assert job.error == ERROR
    assert job.attempts == 1
    assert store.claim(["default"], worker_id="w") is None


def test_abandon_gives_the_job_back_uncounted(store: QueueStore) -> None:
    """An abandoned claim leaves the job as it was: claimable, attempt not counted."""
    job_id = proletarian.enqueue(store, "t", None)
    claim_one(store).abandon()
    job = store.get_job(job_id)
    assert job is not None
    assert job.status is JobStatus.READY
    assert job.attempts == 0
    claim = claim_one(store)
    assert claim.job.attempt == 1
    claim.succeed()


def test_enqueue_many_writes_all_in_order(store: QueueStore) -> None:
    """enqueue_many returns one id per job, in order, and every job is claimable."""
    jobs = [NewJob(job_type="t", payload={"i": i}) for i in range(50)]
    ids = proletarian.enqueue_many(store, jobs)
    assert len(ids) == len(set(ids)) == 50
    seen = []
    while (claim := store.claim(["default"], worker_id="w")) is not None:
        seen.append((claim.job.id, claim.job.payload["i"]))
        claim.succeed()
    assert seen == [(job_id, i) for i, job_id in enumerate(ids)]


def test_enqueue_many_of_nothing(store: QueueStore) -> None:
    """enqueue_many of an empty list writes nothing and returns no ids."""
    assert proletarian.enqueue_many(store, []) == []


def test_unserializable_payload_writes_nothing(store: QueueStore) -> None:
    """A payload that can't be encoded raises SerializationError and no job is written."""
    with pytest.raises(SerializationError, match=r"payload\['when'\] is a datetime"):
        proletarian.enqueue(store, "t", {"when": datetime.now(UTC)})
    good = NewJob(job_type="t", payload=1)
    bad = NewJob(job_type="t", payload={1, 2})
    with pytest.raises(SerializationError):
        proletarian.enqueue_many(store, [good, bad])
    assert store.stats() == {}
    assert store.claim(["default"], worker_id="w") is None


def test_conn_of_another_driver_is_refused(store: QueueStore, foreign_conn: object) -> None:
    """A conn= of the wrong kind raises ConfigurationError naming it, and writes nothing."""
    with pytest.raises(ConfigurationError, match="conn="):
        proletarian.enqueue(store, "t", None, conn=foreign_conn)
    assert store.stats() == {}


class BrokenLoads(JsonSerializer):
    def loads(self, data: str) -> Any:
        raise SerializationError("cannot decode this")


def test_undecodable_payload_is_reported_on_the_claim(make_store: MakeStore) -> None:
    """A stored payload that can't be decoded gives a claim with decode_error, which can fail."""
    store = make_store(serializer=BrokenLoads())
    job_id = proletarian.enqueue(store, "t", {"a": 1})
    claim = claim_one(store)
    assert claim.job.payload is None
    assert claim.decode_error is not None
    assert "cannot decode this" in claim.decode_error.message
    claim.fail(claim.decode_error)
    job = store.get_job(job_id)
    assert job is not None
    assert job.status is JobStatus.FAILED


def test_stats_count_every_state(store: QueueStore, clock: ManualClock) -> None:
    """stats counts ready, scheduled, running, succeeded and failed jobs per queue, and the age
    of the oldest ready job."""
    proletarian.enqueue(store, "t", None, queue="q", priority=Priority.CRITICAL)  # succeeds
    proletarian.enqueue(store, "t", None, queue="q", priority=Priority.CRITICAL)  # fails
    proletarian.enqueue(store, "t", None, queue="q", priority=Priority.HIGH)  # runs
    proletarian.enqueue(store, "t", None, queue="q")  # ready
    proletarian.enqueue(store, "t", None, queue="q", process_in=timedelta(hours=1))
    proletarian.enqueue(store, "t", None, queue="other")
    claim_one(store, ("q",)).succeed()
    claim_one(store, ("q",)).fail(ERROR)
    running = claim_one(store, ("q",))
    clock.advance(5)
    stats = store.stats()
    assert set(stats) == {"q", "other"}
    q = stats["q"]
    assert (q.ready, q.scheduled, q.running, q.succeeded, q.failed) == (1, 1, 1, 1, 1)
    assert q.oldest_ready_age == timedelta(seconds=5)
    assert stats["other"].ready == 1
    running.succeed()


def test_cancel_removes_only_waiting_jobs(store: QueueStore) -> None:
    """cancel removes a queued job that has not started, and refuses a running or unknown one."""
    waiting = proletarian.enqueue(store, "t", None, process_in=timedelta(minutes=1))
    running = proletarian.enqueue(store, "t", None)
    claim = claim_one(store)
    assert store.cancel(waiting) is True
    assert store.get_job(waiting) is None
    assert store.cancel(running) is False
    assert store.cancel(waiting) is False
    claim.succeed()
    assert store.cancel(running) is False


def test_retry_failed_requeues_a_failed_job(store: QueueStore) -> None:
    """retry_failed puts a failed job back, due now with fresh attempts; not a succeeded one."""
    failed = proletarian.enqueue(store, "t", {"k": "v"})
    claim_one(store).fail(ERROR)
    done = proletarian.enqueue(store, "t", None)
    claim_one(store).succeed()
    assert store.retry_failed(done) is False
    assert store.retry_failed(failed) is True
    assert store.retry_failed(failed) is False
    job = store.get_job(failed)
    assert job is not None
    assert job.status is JobStatus.READY
    assert job.attempts == 0
    claim = claim_one(store)
    assert (claim.job.id, claim.job.payload) == (failed, {"k": "v"})
    claim.succeed()


def test_prune_archive_deletes_old_archived_jobs(store: QueueStore, clock: ManualClock) -> None:
    """prune_archive deletes archived jobs finished before the cutoff and counts them."""
    old = proletarian.enqueue(store, "t", None)
    claim_one(store).succeed()
    clock.advance(timedelta(days=8))
    recent = proletarian.enqueue(store, "t", None)
    claim_one(store).fail(ERROR)
    queued = proletarian.enqueue(store, "t", None, process_in=timedelta(days=30))
    assert store.prune_archive(timedelta(days=7)) == 1
    assert store.get_job(old) is None
    assert store.get_job(recent) is not None
    assert store.get_job(queued) is not None


def test_prune_archive_with_a_limit_takes_the_oldest_first(
    store: QueueStore, clock: ManualClock
) -> None:
    """A limited prune deletes at most `limit` jobs, the oldest finished first."""
    ids = []
    for _ in range(5):
        ids.append(proletarian.enqueue(store, "t", None))
        claim_one(store).succeed()
        clock.advance(60)
    assert store.prune_archive(timedelta(0), limit=2) == 2
    assert [store.get_job(job_id) is None for job_id in ids] == [True, True, False, False, False]
    assert store.prune_archive(timedelta(0), limit=10) == 3
    assert store.prune_archive(timedelta(0), limit=10) == 0
    with pytest.raises(ConfigurationError, match="limit"):
        store.prune_archive(timedelta(0), limit=0)


def test_install_schema_is_idempotent(store: QueueStore) -> None:
    """install_schema can run again on an installed store without harm."""
    proletarian.enqueue(store, "t", None)
    store.install_schema()
    store.install_schema()
    assert store.stats()["default"].ready == 1


def test_concurrent_claims_take_each_job_once(store: QueueStore) -> None:
    """Threads claiming at once never get the same job."""
    ids = set(
        proletarian.enqueue_many(store, [NewJob(job_type="t", payload=i) for i in range(200)])
    )
    taken: list[str] = []
    lock = threading.Lock()

    def take() -> None:
        while claim := store.claim(["default"], worker_id=threading.current_thread().name):
            with lock:
                taken.append(claim.job.id)
            claim.succeed()

    threads = [threading.Thread(target=take) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(taken) == sorted(ids)
    assert store.stats()["default"].succeeded == 200
