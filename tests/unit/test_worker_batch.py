"""The queue worker's batch mode over MemoryStore, with a manual clock and no sleeps."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import proletarian
from proletarian import ConfigurationError, JobStatus, NewJob, QueueWorker, StoreUnavailable
from proletarian.adapters.memory import MemoryClaim, MemoryStore
from proletarian.adapters.null import NullStore
from proletarian.testing import CapturingLog, ManualClock


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore(clock=ManualClock())


def state(store: MemoryStore, job_id: str) -> tuple[JobStatus, int]:
    job = store.get_job(job_id)
    assert job is not None
    return job.status, job.attempts


@pytest.mark.parametrize("size", [0, -1, 1.5, True, "4"])
def test_batch_size_must_be_a_positive_int(store: MemoryStore, size: Any) -> None:
    """batch_size is refused unless it is an int of at least 1."""
    with pytest.raises(ConfigurationError, match="batch_size"):
        QueueWorker(store, lambda t, p: None, batch_size=size)


def test_batch_mode_needs_a_store_that_claims_batches() -> None:
    """batch_size > 1 over a store without claim_batch is refused when the worker is built."""
    with pytest.raises(ConfigurationError, match="claims batches"):
        QueueWorker(NullStore(), lambda t, p: None, batch_size=2)
    QueueWorker(NullStore(), lambda t, p: None, batch_size=1)


def test_drain_runs_batches_and_counts_jobs(store: MemoryStore) -> None:
    """drain in batch mode runs every due job once, in claim order, and returns the count."""
    store.enqueue_many([NewJob(job_type="t", payload=i) for i in range(7)])
    ran: list[int] = []
    worker = QueueWorker(store, lambda t, p: ran.append(p), batch_size=3)
    assert worker.drain() == 7
    assert ran == list(range(7))


def test_batches_claim_at_most_batch_size_jobs(store: MemoryStore) -> None:
    """Each batch holds at most batch_size jobs: the rest wait on the queue meanwhile."""
    ids = proletarian.enqueue_many(store, [NewJob(job_type="t", payload=i) for i in range(5)])
    seen: list[JobStatus] = []

    def handle(job_type: str, payload: int) -> None:
        if payload == 0:
            seen.extend(state(store, job_id)[0] for job_id in ids)

    QueueWorker(store, handle, batch_size=2).drain()
    assert seen == [JobStatus.RUNNING] * 2 + [JobStatus.READY] * 3


def test_process_next_job_stays_strict(store: MemoryStore) -> None:
    """process_next_job runs exactly one job in batch mode too."""
    proletarian.enqueue_many(store, [NewJob(job_type="t", payload=i) for i in range(3)])
    ran: list[int] = []
    worker = QueueWorker(store, lambda t, p: ran.append(p), batch_size=3)
    assert worker.process_next_job() is True
    assert ran == [0]


def test_each_job_of_a_batch_gets_its_own_outcome(store: MemoryStore) -> None:
    """A failing job in a batch fails alone; the others succeed and on_failed sees it."""
    ok, bad, after = proletarian.enqueue_many(
        store, [NewJob(job_type="t", payload=p) for p in ("ok", "bad", "after")]
    )
    failures: list[str] = []

    def handle(job_type: str, payload: str) -> None:
        if payload == "bad":
            raise ValueError("bad job")

    worker = QueueWorker(
        store, handle, batch_size=5, on_failed=lambda job, exc: failures.append(job.id)
    )
    assert worker.drain() == 3
    assert [state(store, job_id)[0] for job_id in (ok, bad, after)] == [
        JobStatus.SUCCEEDED,
        JobStatus.FAILED,
        JobStatus.SUCCEEDED,
    ]
    assert failures == [bad]


def test_interrupt_gives_back_the_jobs_not_finished(store: MemoryStore) -> None:
    """A KeyboardInterrupt mid-batch abandons that job and the ones not reached, uncounted;
    on a leased store the jobs that finished before it keep their outcome."""
    done, stop, later = proletarian.enqueue_many(
        store, [NewJob(job_type="t", payload=p) for p in ("done", "stop", "later")]
    )

    def handle(job_type: str, payload: str) -> None:
        if payload == "stop":
            raise KeyboardInterrupt

    worker = QueueWorker(store, handle, batch_size=3)
    with pytest.raises(KeyboardInterrupt):
        worker.drain()
    assert state(store, done) == (JobStatus.SUCCEEDED, 1)
    assert state(store, stop) == (JobStatus.READY, 0)
    assert state(store, later) == (JobStatus.READY, 0)


class FlakyStore(MemoryStore):
    """The outcome of the job whose payload is "flaky" can't be sent once, as if the server were
    out of reach for a moment."""

    def __init__(self) -> None:
        super().__init__(clock=ManualClock())
        self.failed = False

    def claim_batch(self, queues: Any, *, worker_id: str, limit: int) -> list[MemoryClaim]:
        claims = super().claim_batch(queues, worker_id=worker_id, limit=limit)
        for claim in claims:
            if claim.job.payload == "flaky":
                claim.succeed = self.unavailable_once(claim.succeed)  # type: ignore[method-assign]
        return claims

    def unavailable_once(self, succeed: Callable[[], None]) -> Callable[[], None]:
        def send() -> None:
            if not self.failed:
                self.failed = True
                raise StoreUnavailable("server gone")
            succeed()

        return send


def test_an_outcome_that_could_not_be_sent_is_sent_again_while_the_lease_holds() -> None:
    """A leased claim's outcome that met an unreachable store is sent again (the job is not
    abandoned, so not run twice); the outage is reported and the batch goes on."""
    store = FlakyStore()
    ids = proletarian.enqueue_many(
        store, [NewJob(job_type="t", payload=p) for p in ("first", "flaky", "last")]
    )
    log = CapturingLog()
    worker = QueueWorker(store, lambda t, p: None, batch_size=3, log=log, threads=1)
    with worker:
        assert worker.wait_idle(10)
    assert [state(store, job_id) for job_id in ids] == [(JobStatus.SUCCEEDED, 1)] * 3
    assert [event["during"] for event in log.of("store_unavailable")] == ["outcome"]
