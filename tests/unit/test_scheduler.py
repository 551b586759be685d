"""The scheduler on MemoryStore and a manual clock: each tick once, catch-up after downtime,
and a worker that runs its schedules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from proletarian import ConfigurationError, Job, JobContext, QueueWorker, Schedule, Scheduler
from proletarian.testing import CapturingLog, ManualClock, MemoryStore

START = datetime(2030, 1, 1, 9, 0, 30, tzinfo=UTC)
HOURLY = Schedule(job_type="report", cron="0 * * * *", payload={"kind": "hourly"}, name="hourly")


def scheduler(store: MemoryStore, *schedules: Schedule) -> tuple[Scheduler, CapturingLog]:
    log = CapturingLog()
    return Scheduler(store, schedules or [HOURLY], log=log), log


def ticks_of(store: MemoryStore, ids: list[str]) -> list[str]:
    jobs = [store.get_job(job_id) for job_id in ids]
    return [job.meta["tick"] for job in jobs if job is not None]


def test_a_new_schedule_starts_with_its_next_tick() -> None:
    clock = ManualClock(START)
    store = MemoryStore(clock=clock)
    run, _ = scheduler(store)
    assert run.run_pending() == []  # 09:00 passed before the schedule was first seen
    clock.set(START.replace(hour=10, minute=0, second=0))
    created = run.run_pending()
    assert ticks_of(store, created) == ["2030-01-01T10:00:00+00:00"]
    job = store.get_job(created[0])
    assert job is not None
    assert (job.job_type, job.payload) == ("report", {"kind": "hourly"})
    assert job.meta["schedule"] == "hourly"
    assert run.run_pending() == []


def test_two_schedulers_enqueue_each_tick_once() -> None:
    """The second scheduler to reach a tick finds its key taken, also after the tick's job ran."""
    clock = ManualClock(START)
    store = MemoryStore(clock=clock)
    first, _ = scheduler(store)
    second, second_log = scheduler(store)
    first.run_pending(), second.run_pending()
    clock.set(START.replace(hour=10, minute=0, second=1))
    assert len(first.run_pending()) == 1
    QueueWorker(store, lambda job_type, payload: None).drain()
    assert second.run_pending() == []
    taken = [e["tick"] for e in second_log.of("schedule_tick_taken")]
    assert taken == ["2030-01-01T10:00:00+00:00"]


def test_a_restarted_scheduler_catches_up_from_the_latest_tick_in_the_store() -> None:
    clock = ManualClock(START.replace(hour=9, minute=59, second=59))
    store = MemoryStore(clock=clock)
    before, _ = scheduler(store, Schedule(job_type="t", cron="0 * * * *", catch_up=2, name="s"))
    before.run_pending()
    clock.advance(1)
    assert len(before.run_pending()) == 1  # 10:00
    clock.set(START.replace(hour=13, minute=30))  # down through 11:00, 12:00 and 13:00
    after, _ = scheduler(store, Schedule(job_type="t", cron="0 * * * *", catch_up=2, name="s"))
    created = after.run_pending()
    assert ticks_of(store, created) == ["2030-01-01T12:00:00+00:00", "2030-01-01T13:00:00+00:00"]


def test_a_tick_a_clock_ahead_enqueued_does_not_hide_the_ticks_before_it() -> None:
    """A scheduler whose clock runs ahead enqueued 12:00; one started on the true clock (10:30)
    still enqueues 11:00 when it comes, and finds 12:00 taken."""
    clock = ManualClock(START.replace(hour=10, minute=30))
    store = MemoryStore(clock=clock)
    ahead_clock = ManualClock(START.replace(hour=11, minute=59))
    ahead = Scheduler(store, [HOURLY], log=CapturingLog(), clock=ahead_clock)
    ahead.run_pending()
    ahead_clock.advance(60)
    assert ticks_of(store, ahead.run_pending()) == ["2030-01-01T12:00:00+00:00"]
    true, _ = scheduler(store)
    assert true.run_pending() == []
    clock.set(START.replace(hour=11, minute=0))
    assert ticks_of(store, true.run_pending()) == ["2030-01-01T11:00:00+00:00"]
    clock.set(START.replace(hour=12, minute=0))
    assert true.run_pending() == []


def test_scheduler_errors_name_the_problem() -> None:
    store = MemoryStore()
    with pytest.raises(ConfigurationError, match="two schedules are named 'hourly'"):
        Scheduler(store, [HOURLY, HOURLY], log=CapturingLog())
    with pytest.raises(ConfigurationError, match=r"proletarian\.Schedule"):
        Scheduler(store, ["0 * * * *"], log=CapturingLog())  # type: ignore[list-item]


def test_a_worker_runs_its_schedules_and_their_jobs() -> None:
    clock = ManualClock(datetime.now(UTC))
    store = MemoryStore(clock=clock)
    ran: list[str] = []

    def handle(job: Job, ctx: JobContext) -> None:
        ran.append(job.meta["tick"])

    every = Schedule(job_type="t", every=timedelta(seconds=1), name="pulse")
    worker = QueueWorker(
        store,
        handle,
        handler_mode="advanced",
        schedules=[every],
        polling_interval=timedelta(milliseconds=20),
    )
    with worker:
        clock.advance(1)
        deadline = datetime.now(UTC) + timedelta(seconds=10)
        while not ran and datetime.now(UTC) < deadline:
            worker.wait_idle(timeout=0.1)
    assert len(ran) == 1
