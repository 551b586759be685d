"""The operators' part of the QueueStore contract: listing jobs, bulk actions, throughput and
the worker registry, on every store."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

import proletarian
from proletarian import ConfigurationError, JobError, JobStatus
from proletarian.core.inspection import DEAD_AFTER_BEATS, WorkerInfo
from proletarian.ports.store import QueueStore
from proletarian.testing import ManualClock

ERROR = JobError(type="ValueError", message="boom", traceback="Traceback ...\nValueError: boom\n")


def finish(store: QueueStore, *, fail: bool) -> str:
    claim = store.claim(["default", "other"], worker_id="w")
    assert claim is not None
    if fail:
        claim.fail(ERROR)
    else:
        claim.succeed()
    return str(claim.job.id)


def ids(page: Any) -> list[str]:
    return [job.id for job in page.jobs]


def test_list_jobs_pages_newest_first_over_queued_and_archived(store: QueueStore) -> None:
    """Jobs come newest first, queued and archived together, a page at a time, each page
    continuing from the last id of the one before."""
    made = [proletarian.enqueue(store, "t", {"n": n}) for n in range(5)]
    finish(store, fail=False)  # the oldest job is now archived
    first = store.list_jobs(limit=2)
    assert ids(first) == made[:2:-1][:2] == [made[4], made[3]]
    assert first.next_before == made[3]
    second = store.list_jobs(limit=2, before=first.next_before)
    assert ids(second) == [made[2], made[1]]
    third = store.list_jobs(limit=2, before=second.next_before)
    assert ids(third) == [made[0]]
    assert third.next_before is None
    assert third.jobs[0].status is JobStatus.SUCCEEDED
    assert third.jobs[0].payload == {"n": 0}


def test_list_jobs_filters_by_status_queue_and_type(store: QueueStore, clock: ManualClock) -> None:
    """Each filter narrows the listing; the queued statuses are computed as get_job does."""
    failed = proletarian.enqueue(store, "a", None)
    finish(store, fail=True)
    succeeded = proletarian.enqueue(store, "b", None)
    finish(store, fail=False)
    running = proletarian.enqueue(store, "a", None)
    claim = store.claim(["default"], worker_id="w")
    assert claim is not None
    assert claim.job.id == running
    ready = proletarian.enqueue(store, "b", None, queue="other")
    later = proletarian.enqueue(store, "a", None, process_in=timedelta(hours=1))
    try:
        assert ids(store.list_jobs(status=JobStatus.FAILED)) == [failed]
        assert ids(store.list_jobs(status=JobStatus.SUCCEEDED)) == [succeeded]
        assert ids(store.list_jobs(status=JobStatus.RUNNING)) == [running]
        assert ids(store.list_jobs(status=JobStatus.READY)) == [ready]
        assert ids(store.list_jobs(status=JobStatus.SCHEDULED)) == [later]
        assert ids(store.list_jobs(queue="other")) == [ready]
        assert ids(store.list_jobs(job_type="a")) == [later, running, failed]
        assert ids(store.list_jobs(job_type="a", status=JobStatus.FAILED)) == [failed]
        assert ids(store.list_jobs(queue="nowhere")) == []
        [job] = store.list_jobs(status=JobStatus.FAILED).jobs
        assert job.error == ERROR
    finally:
        claim.abandon()


@pytest.mark.parametrize(
    "bad",
    [
        {"limit": 0},
        {"limit": 1001},
        {"limit": "5"},
        {"before": ""},
        {"status": "failed"},
        {"queue": ""},
    ],
)
def test_list_jobs_refuses_bad_arguments(store: QueueStore, bad: dict[str, Any]) -> None:
    """A bad limit, cursor, status or filter is a ConfigurationError."""
    with pytest.raises(ConfigurationError):
        store.list_jobs(**bad)


def test_a_cursor_past_every_id_lists_from_the_newest(store: QueueStore) -> None:
    """A cursor later than every id lists from the newest job."""
    proletarian.enqueue(store, "t", None)
    assert len(store.list_jobs(before="ffffffff-ffff-7fff-bfff-ffffffffffff").jobs) == 1


def test_retry_failed_jobs_puts_back_the_matching_failed_jobs(store: QueueStore) -> None:
    """Bulk retry takes failed jobs matching the filters back to their queue and counts them."""
    for job_type in ("a", "a", "b"):
        proletarian.enqueue(store, job_type, None)
        finish(store, fail=True)
    proletarian.enqueue(store, "a", None)
    finish(store, fail=False)
    assert store.retry_failed_jobs(job_type="a") == 2
    assert len(store.list_jobs(status=JobStatus.READY).jobs) == 2
    assert store.retry_failed_jobs(queue="other") == 0
    assert store.retry_failed_jobs() == 1
    assert store.list_jobs(status=JobStatus.FAILED).jobs == ()


def test_retry_failed_jobs_goes_past_one_batch(store: QueueStore) -> None:
    """More failed jobs than one batch are all retried."""
    from proletarian.core import inspection

    count = inspection.BULK_BATCH + 3
    store.enqueue_many([proletarian.NewJob("t", None) for _ in range(count)])
    for _ in range(count):
        finish(store, fail=True)
    assert store.retry_failed_jobs() == count
    assert store.cancel_queued_jobs() == count


def test_cancel_queued_jobs_leaves_running_jobs(store: QueueStore) -> None:
    """Bulk cancel removes matching queued jobs, scheduled ones too, but never a running one."""
    running = proletarian.enqueue(store, "a", None)
    claim = store.claim(["default"], worker_id="w")
    assert claim is not None
    try:
        proletarian.enqueue(store, "a", None)
        proletarian.enqueue(store, "a", None, process_in=timedelta(hours=1))
        kept = proletarian.enqueue(store, "b", None)
        assert store.cancel_queued_jobs(job_type="a") == 2
        assert sorted(ids(store.list_jobs())) == sorted([running, kept])
    finally:
        claim.abandon()


def test_throughput_counts_finished_jobs_per_minute(store: QueueStore, clock: ManualClock) -> None:
    """Succeeded and failed jobs are counted in the minute they were archived; minutes with
    none count zero, and older minutes are left out."""
    clock.set(clock.now().replace(minute=30, second=10))
    proletarian.enqueue(store, "t", None)
    finish(store, fail=False)  # 00:30, outside a 2-minute window at 00:32
    clock.advance(timedelta(minutes=1))
    for fail in (False, True, True):
        proletarian.enqueue(store, "t", None)
        finish(store, fail=fail)
    clock.advance(timedelta(minutes=1, seconds=40))
    proletarian.enqueue(store, "t", None)
    finish(store, fail=False)
    counts = store.throughput(2)
    assert [(c.minute.minute, c.succeeded, c.failed) for c in counts] == [(31, 1, 2), (32, 1, 0)]
    assert [c.succeeded for c in store.throughput(5)] == [0, 0, 1, 1, 1]
    with pytest.raises(ConfigurationError):
        store.throughput(0)


def worker(clock: ManualClock, worker_id: str = "w1", **changes: Any) -> WorkerInfo:
    values: dict[str, Any] = {
        "id": worker_id,
        "host": "box-1",
        "pid": 4242,
        "queues": ("default", "emails"),
        "threads": 4,
        "version": "1.2.3",
        "started_at": clock.now(),
        "last_seen": clock.now(),
        "heartbeat_interval": timedelta(seconds=10),
    }
    return WorkerInfo(**{**values, **changes})


def test_a_registered_worker_is_listed_and_heartbeats(
    store: QueueStore, clock: ManualClock
) -> None:
    """A worker is listed as registered; a heartbeat moves its last_seen and running jobs."""
    info = worker(clock)
    store.register_worker(info)
    assert store.workers() == [info]
    later = clock.advance(timedelta(seconds=10))
    assert store.heartbeat_worker("w1", ["job-1", "job-2"], later)
    [seen] = store.workers()
    assert (seen.last_seen, seen.running) == (later, ("job-1", "job-2"))
    assert seen.started_at == info.started_at
    assert seen.queues == ("default", "emails")
    assert store.heartbeat_worker("w1", [], later)
    assert store.workers()[0].running == ()
    store.unregister_worker("w1")
    store.unregister_worker("w1")
    assert store.workers() == []
    assert not store.heartbeat_worker("w1", [], later)


def test_registering_again_replaces_the_entry(store: QueueStore, clock: ManualClock) -> None:
    """A worker that registers again under its id (after it was removed as dead, say) has one
    entry, the new one."""
    store.register_worker(worker(clock, threads=1))
    store.register_worker(worker(clock, threads=8))
    assert [w.threads for w in store.workers()] == [8]


def test_dead_workers_are_reported_and_removed(store: QueueStore, clock: ManualClock) -> None:
    """A worker that missed DEAD_AFTER_BEATS heartbeats is dead: reported so, then removed;
    a live one stays."""
    store.register_worker(worker(clock, "quiet"))
    store.register_worker(worker(clock, "alive", heartbeat_interval=timedelta(seconds=60)))
    now = clock.advance(DEAD_AFTER_BEATS * timedelta(seconds=10))
    assert [w.id for w in store.workers() if w.is_dead(now)] == ["quiet"]
    assert store.remove_dead_workers(now) == 1
    assert [w.id for w in store.workers()] == ["alive"]
    assert store.remove_dead_workers(now) == 0
