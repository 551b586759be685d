"""Liveness of the worker: whatever raises between a claim and its outcome, the claim ends and
the queue goes on."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

import proletarian
from proletarian import JobError, JobStatus, QueueWorker, StoreError
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
def test_an_outcome_the_store_refuses_becomes_a_minimal_failure(retries: int) -> None:
    """When the store refuses a retry or failure record, a minimal failure record is written
    instead: the job ends, once, and the queue goes on."""
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
    assert worker.drain() == 2
    assert runs == ["poison", "fine"]
    assert final(store, poisoned) == (JobStatus.FAILED, "OutcomeRefused")
    assert final(store, healthy) == (JobStatus.SUCCEEDED, None)
    assert [event["error"] for event in log.of("outcome_refused")] == ["value refused"]


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
