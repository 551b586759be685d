"""Liveness of the worker: whatever raises between a claim and its outcome, the claim ends and
the queue goes on."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

import pytest

import proletarian
from proletarian import (
    ConfigurationError,
    Handlers,
    Job,
    JobContext,
    JobError,
    JobStatus,
    QueueWorker,
    StoreError,
)
from proletarian.adapters.memory import MemoryClaim, MemoryStore
from proletarian.testing import CapturingLog, ManualClock


def final(store: MemoryStore, job_id: str) -> tuple[JobStatus, str | None]:
    job = store.get_job(job_id)
    assert job is not None
    return job.status, None if job.error is None else job.error.type


class Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no text for you")


def test_an_exception_whose_str_raises_still_fails_the_job() -> None:
    """An exception whose __str__ raises is recorded as the failure (saying its text could not
    be rendered) and the claim ends: the job is not left running."""
    store = MemoryStore(clock=ManualClock())
    job_id = proletarian.enqueue(store, "t", None)

    def handler(job_type: str, payload: Any) -> None:
        raise Unprintable

    assert QueueWorker(store, handler).drain() == 1
    job = store.get_job(job_id)
    assert job is not None
    assert job.status is JobStatus.FAILED
    assert job.error is not None
    assert job.error.type == "Unprintable"
    assert "could not be rendered" in job.error.message


def test_error_text_a_database_refuses_is_stored_escaped() -> None:
    """A handler error holding NUL and a lone surrogate is archived with them escaped."""
    store = MemoryStore(clock=ManualClock())
    job_id = proletarian.enqueue(store, "t", None)

    def handler(job_type: str, payload: Any) -> None:
        raise ValueError("bad \x00 byte and \ud800 half")

    QueueWorker(store, handler).drain()
    job = store.get_job(job_id)
    assert job is not None
    assert job.error is not None
    assert job.error.message == "bad \\x00 byte and \\ud800 half"


class RefusingStore(MemoryStore):
    """Refuses to record any error that mentions "poison", as a database refuses a value."""

    def claim(self, queues: Any, *, worker_id: str) -> MemoryClaim | None:
        claim = super().claim(queues, worker_id=worker_id)
        if claim is not None:
            claim.retry_at = self.refusing(claim.retry_at)  # type: ignore[method-assign]
            claim.fail = self.refusing(claim.fail)  # type: ignore[method-assign]
        return claim

    @staticmethod
    def refusing(outcome: Callable[..., None]) -> Callable[..., None]:
        def write(*args: Any) -> None:
            error = args[-1]
            assert isinstance(error, JobError)
            if "poison" in error.message:
                raise StoreError("value refused")
            outcome(*args)

        return write


@pytest.mark.parametrize("retries", [0, 2])
def test_an_outcome_the_store_refuses_is_written_again_with_a_small_error(retries: int) -> None:
    """When the store refuses a retry or failure record, the same outcome is written with a
    small OutcomeRefused error instead: the job is retried by its policy and finally fails,
    each attempt recorded once, and the queue goes on."""
    store = RefusingStore(clock=ManualClock())
    poisoned = proletarian.enqueue(store, "t", "poison")
    healthy = proletarian.enqueue(store, "t", "fine")
    runs: list[str] = []
    log = CapturingLog()

    def handler(job_type: str, payload: str) -> None:
        runs.append(payload)
        if payload == "poison":
            raise ValueError("poison inside")

    worker = QueueWorker(store, handler, retry=proletarian.RetryPolicy(retries=retries), log=log)
    assert worker.drain() == 2 + retries
    assert runs == ["poison", "fine"] + ["poison"] * retries
    assert final(store, poisoned) == (JobStatus.FAILED, "OutcomeRefused")
    job = store.get_job(poisoned)
    assert job is not None
    assert job.attempts == retries + 1
    assert job.error is not None
    assert "ValueError" in job.error.message
    assert final(store, healthy) == (JobStatus.SUCCEEDED, None)
    assert [event["error"] for event in log.of("outcome_refused")] == ["value refused"] * (
        retries + 1
    )


class RefusingEverything(MemoryStore):
    """Refuses the first two outcome writes of each claim, whatever they hold."""

    def claim(self, queues: Any, *, worker_id: str) -> MemoryClaim | None:
        claim = super().claim(queues, worker_id=worker_id)
        if claim is not None:
            refusals = iter([True, True])
            for name in ("succeed", "retry_at", "fail"):
                setattr(claim, name, self.refusing(getattr(claim, name), refusals))
        return claim

    @staticmethod
    def refusing(outcome: Callable[..., None], refusals: Any) -> Callable[..., None]:
        def write(*args: Any) -> None:
            if next(refusals, False):
                raise StoreError("refused")
            outcome(*args)

        return write


def test_a_success_refused_twice_ends_as_a_small_failure() -> None:
    """A success the store refuses, and refuses again, ends as a small OutcomeRefused failure:
    the claim ends, and on_failed hears of it with the store's error."""
    store = RefusingEverything(clock=ManualClock())
    job_id = proletarian.enqueue(store, "t", None)
    failed: list[BaseException] = []
    worker = QueueWorker(store, lambda t, p: None, on_failed=lambda job, exc: failed.append(exc))
    assert worker.drain() == 1
    assert final(store, job_id) == (JobStatus.FAILED, "OutcomeRefused")
    assert [type(exc) for exc in failed] == [StoreError]


def test_a_handler_interrupt_lets_no_sibling_claim_the_job() -> None:
    """After a handler raises SystemExit, the job it gives back is not claimed again by an idle
    sibling thread of the stopping worker."""
    store = MemoryStore()
    job_id = proletarian.enqueue(store, "t", "exit")
    runs: list[object] = []
    raised = threading.Event()

    def handler(job_type: str, payload: object) -> None:
        runs.append(payload)
        raised.set()
        raise SystemExit(3)

    with QueueWorker(store, handler, threads=4, log=CapturingLog()) as worker:
        assert raised.wait(timeout=10)
    assert runs == ["exit"]
    assert isinstance(worker.interrupted, SystemExit)
    assert final(store, job_id) == (JobStatus.READY, None)


def test_a_handler_that_heeds_its_deadline_finishes_normally() -> None:
    """At the timeout the handler's ctx.stopping is set and ctx.deadline says when that was
    due; a handler that returns then is not cut, and its outcome is its own."""
    store = MemoryStore()
    job_id = proletarian.enqueue(store, "t", None)
    seen: list[object] = []

    def handle(job: Job, ctx: JobContext) -> None:
        seen.append(ctx.deadline is not None and ctx.deadline > job.enqueued_at)
        seen.append(ctx.stopping.wait(timeout=30))

    log = CapturingLog()
    worker = QueueWorker(
        store, handle, handler_mode="advanced", timeout=timedelta(milliseconds=100), log=log
    )
    with worker:
        assert worker.wait_idle(timeout=30)
    assert seen == [True, True]
    assert final(store, job_id) == (JobStatus.SUCCEEDED, None)
    assert not log.of("job_timed_out")


def test_a_cut_handler_that_returns_later_records_nothing_more() -> None:
    """A handler cut by its timeout (the job failed as JobTimeout) that returns afterwards,
    even with success, changes nothing: the outcome was taken out of its thread's hands."""
    store = MemoryStore()
    job_id = proletarian.enqueue(store, "t", None)
    release = threading.Event()
    returned = threading.Event()

    def handle(job_type: str, payload: object) -> None:
        release.wait(timeout=30)

    log = CapturingLog()

    def sink(event: str, data: Mapping[str, Any]) -> None:
        log(event, data)
        if event == "cut_job_returned":
            returned.set()

    worker = QueueWorker(
        store,
        handle,
        timeout=timedelta(milliseconds=50),
        timeout_grace=timedelta(milliseconds=50),
        log=sink,
    )
    with worker:
        assert worker.wait_idle(timeout=30)
        assert final(store, job_id) == (JobStatus.FAILED, "JobTimeout")
        release.set()
        assert returned.wait(timeout=30)
    assert final(store, job_id) == (JobStatus.FAILED, "JobTimeout")
    assert len(log.of("job_failed")) == 1
    assert not log.of("job_succeeded")


def test_handlers_give_each_job_type_its_own_timeout() -> None:
    """A timeout registered for a job type applies to it instead of the worker's."""
    store = MemoryStore()
    slow = proletarian.enqueue(store, "slow", None)
    quick = proletarian.enqueue(store, "quick", None)
    handlers = Handlers()
    release = threading.Event()

    @handlers.register("slow", timeout=timedelta(milliseconds=50))
    def _slow(payload: object) -> None:
        release.wait(timeout=30)

    @handlers.register("quick")
    def _quick(payload: object) -> None:
        release.wait(timeout=0.3)

    worker = QueueWorker(
        store,
        handlers,
        threads=2,
        timeout=timedelta(seconds=30),
        timeout_grace=timedelta(milliseconds=50),
        log=CapturingLog(),
    )
    try:
        with worker:
            assert worker.wait_idle(timeout=30)
            assert final(store, slow) == (JobStatus.FAILED, "JobTimeout")
            assert final(store, quick) == (JobStatus.SUCCEEDED, None)
    finally:
        release.set()


@pytest.mark.parametrize(
    "kwargs",
    [{"timeout": timedelta(0)}, {"timeout": 5}, {"timeout_grace": timedelta(seconds=-1)}],
)
def test_bad_timeouts_are_refused(kwargs: dict[str, Any]) -> None:
    """A timeout must be a positive timedelta (or None); so must the grace."""
    with pytest.raises(ConfigurationError, match="timeout"):
        QueueWorker(MemoryStore(), lambda t, p: None, **kwargs)


def test_timeouts_in_batch_mode_are_refused() -> None:
    """A batch shares one transaction, so a timeout is refused with batch_size > 1."""
    with pytest.raises(ConfigurationError, match="batch_size=1"):
        QueueWorker(MemoryStore(), lambda t, p: None, batch_size=5, timeout=timedelta(1))
