"""A threaded worker over each store: every job ends archived exactly as its policy says."""

from __future__ import annotations

from datetime import timedelta

import proletarian
from proletarian import JobStatus, NewJob, QueueWorker, RetryPolicy
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
