"""The worker's entry in the registry: registered on start, kept by heartbeats, removed on stop,
and dead peers swept away."""

from __future__ import annotations

import os
import socket
from datetime import timedelta

import proletarian
from proletarian import QueueWorker
from proletarian.adapters.memory import MemoryStore
from proletarian.core.inspection import DEAD_AFTER_BEATS, WorkerInfo
from proletarian.testing import CapturingLog, ManualClock
from proletarian.worker.registry import SWEEP_EVERY, WorkerRegistration


def registration(store: MemoryStore, log: CapturingLog, running: list[str]) -> WorkerRegistration:
    return WorkerRegistration(
        store,
        log,
        worker_id="w1",
        queues=("default",),
        threads=2,
        running=lambda: list(running),
        interval=timedelta(hours=1),  # the thread never beats: the test does
    )


def test_a_running_worker_is_in_the_registry_until_it_stops() -> None:
    """Once started, the worker is registered with what an operator needs; stop() removes it.
    (The test waits on the registration's `started`: the registry's own thread registers, so
    that start() never waits on the store.)"""
    store = MemoryStore()
    log = CapturingLog()
    with QueueWorker(store, lambda t, p: None, queue=["a", "b"], threads=3, log=log) as worker:
        assert worker._registration is not None
        assert worker._registration.started.wait(10)
        [info] = store.workers()
        assert (info.id, info.queues, info.threads) == (worker.worker_id, ("a", "b"), 3)
        assert (info.host, info.pid) == (socket.gethostname(), os.getpid())
        assert info.version
        assert info.running == ()
        assert not info.is_dead(store.clock.now())
    assert store.workers() == []
    assert log.of("worker_registered") == [
        {"worker_id": worker.worker_id, "heartbeat_interval": 10.0}
    ]


def test_a_heartbeat_records_the_time_and_the_running_jobs() -> None:
    """Each heartbeat moves last_seen to the store's time and lists the running jobs."""
    clock = ManualClock()
    store = MemoryStore(clock=clock)
    running: list[str] = []
    entry = registration(store, CapturingLog(), running)
    entry.start()
    assert entry.started.wait(10)
    try:
        running += ["job-1", "job-2"]
        later = clock.advance(timedelta(seconds=10))
        entry.beat()
        [info] = store.workers()
        assert (info.last_seen, info.running) == (later, ("job-1", "job-2"))
    finally:
        entry.stop(10)
    assert store.workers() == []


def test_a_worker_removed_as_dead_registers_again() -> None:
    """After a long pause another worker may remove this one as dead; its next heartbeat finds
    no entry and registers again."""
    store = MemoryStore()
    log = CapturingLog()
    entry = registration(store, log, [])
    entry.start()
    assert entry.started.wait(10)
    try:
        store.unregister_worker("w1")
        entry.beat()
        assert [w.id for w in store.workers()] == ["w1"]
        assert len(log.of("worker_registered")) == 2
    finally:
        entry.stop(10)


def test_dead_workers_are_swept_on_start_and_every_few_heartbeats() -> None:
    """A worker that missed its heartbeats is removed by a live one: when it starts, and every
    SWEEP_EVERY heartbeats."""
    clock = ManualClock()
    store = MemoryStore(clock=clock)
    log = CapturingLog()

    def dead(worker_id: str) -> WorkerInfo:
        long_ago = clock.now() - DEAD_AFTER_BEATS * timedelta(seconds=10)
        return WorkerInfo(
            id=worker_id,
            host="gone",
            pid=1,
            queues=("default",),
            threads=1,
            version="0",
            started_at=long_ago,
            last_seen=long_ago,
            heartbeat_interval=timedelta(seconds=10),
        )

    store.register_worker(dead("old-1"))
    entry = registration(store, log, [])
    entry.start()
    assert entry.started.wait(10)
    try:
        assert [w.id for w in store.workers()] == ["w1"]
        store.register_worker(dead("old-2"))
        for _ in range(SWEEP_EVERY - 1):
            entry.beat()
        assert [w.id for w in store.workers()] == ["old-2", "w1"]
        entry.beat()
        assert [w.id for w in store.workers()] == ["w1"]
        assert [d["count"] for d in log.of("dead_workers_removed")] == [1, 1]
    finally:
        entry.stop(10)


def test_running_jobs_are_those_the_worker_holds_now() -> None:
    """While a handler runs, the worker's heartbeat lists its job."""
    store = MemoryStore()
    job_id = proletarian.enqueue(store, "t", None)
    seen: list[tuple[str, ...]] = []

    def handle(job: proletarian.Job, ctx: proletarian.JobContext) -> None:
        assert worker._registration is not None
        worker._registration.beat()
        seen.append(store.workers()[0].running)

    worker = QueueWorker(store, handle, handler_mode="advanced")
    with worker:
        assert worker.wait_idle(timeout=10)
    assert seen == [(job_id,)]
