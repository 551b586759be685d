"""A threaded worker over each store: every job ends archived exactly as its policy says."""

from __future__ import annotations

import threading
from datetime import timedelta

import proletarian
from proletarian import Job, JobContext, JobStatus, NewJob, QueueWorker, RetryPolicy
from proletarian.adapters.clocks import SystemClock
from proletarian.testing import CapturingLog
from tests.contract.conftest import MakeStore


def test_four_threads_finish_every_job_by_policy(make_store: MakeStore) -> None:
    """Jobs that succeed, succeed after one retry, or always fail end SUCCEEDED or FAILED with
    exactly the attempts the policy allows."""
    store = make_store(clock=SystemClock())
    payloads = [{"i": i, "mode": ("ok", "flaky", "bad")[i % 3]} for i in range(120)]
    ids = proletarian.enqueue_many(store, [NewJob(job_type="t", payload=p) for p in payloads])
    seen: dict[int, int] = {}

    def handle(job_type: str, payload: dict[str, object]) -> None:
        i = int(str(payload["i"]))
        seen[i] = seen.get(i, 0) + 1
        if payload["mode"] == "bad" or (payload["mode"] == "flaky" and seen[i] == 1):
            raise RuntimeError(f"job {i} failed")

    log = CapturingLog()
    worker = QueueWorker(
        store,
        handle,
        threads=4,
        retry=RetryPolicy(retries=2),
        polling_interval=timedelta(milliseconds=50),
        log=log,
    )
    with worker:
        assert worker.wait_idle(timeout=60)
    for job_id, payload in zip(ids, payloads, strict=True):
        job = store.get_job(job_id)
        assert job is not None
        expected = {
            "ok": (JobStatus.SUCCEEDED, 1),
            "flaky": (JobStatus.SUCCEEDED, 2),
            "bad": (JobStatus.FAILED, 3),
        }[str(payload["mode"])]
        assert (job.status, job.attempts) == expected, payload
    assert len(log.of("job_failed")) == 40
    assert len(log.of("job_succeeded")) == 80


def test_a_hung_handler_is_cut_and_its_job_retried_while_the_queue_goes_on(
    make_store: MakeStore,
) -> None:
    """A handler that ignores its deadline (and holds `ctx.connection`, where the store has
    one) is cut after the grace: the attempt fails with JobTimeout, its writes are undone, the
    job is retried by its policy and succeeds; meanwhile a new thread takes the stuck one's
    place, so the other jobs run on a one-thread worker."""
    store = make_store(clock=SystemClock())
    hung = proletarian.enqueue(store, "t", "hang")
    others = proletarian.enqueue_many(store, [NewJob(job_type="t", payload=i) for i in range(5)])
    release = threading.Event()
    told: list[bool] = []

    def handle(job: Job, ctx: JobContext) -> None:
        if job.payload == "hang" and job.attempt == 1:
            ctx.connection  # noqa: B018  a transaction held open, where the store has one
            told.append(ctx.stopping.wait(timeout=30))
            release.wait(timeout=60)

    log = CapturingLog()
    worker = QueueWorker(
        store,
        handle,
        handler_mode="advanced",
        retry=RetryPolicy(retries=1),
        timeout=timedelta(milliseconds=200),
        timeout_grace=timedelta(milliseconds=200),
        polling_interval=timedelta(milliseconds=50),
        log=log,
    )
    try:
        with worker:
            assert worker.wait_idle(timeout=60)
            job = store.get_job(hung)
            assert job is not None
            # On PostgreSQL a claim may take the row in the instant the cut ends its holder
            # (see adapters/postgres/takeover.py): that run counts as an abandonment, not an
            # attempt, and the hung handler is cut once more.
            cuts = 1 + job.abandons
            assert told == [True] * cuts, "\n".join(f"{n} {d}" for n, d in log.events)
            assert [e["job_id"] for e in log.of("job_timed_out")] == [hung] * cuts
            assert [e["replaced"] for e in log.of("worker_thread_replaced")] == [True] * cuts
            assert (job.status, job.attempts) == (JobStatus.SUCCEEDED, 2)
            retried = log.of("job_retry_scheduled")
            assert [(e["job_id"], e["error_type"]) for e in retried] == [(hung, "JobTimeout")]
            for job_id in others:
                done = store.get_job(job_id)
                assert done is not None
                assert (done.status, done.attempts) == (JobStatus.SUCCEEDED, 1)
    finally:
        release.set()
