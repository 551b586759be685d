"""Retries and failures: a flaky job that succeeds on its third attempt, and a broken one that
is archived as failed, with its error, after its last attempt.

    python examples/retries.py [path/to/jobs.db]

Without a path it uses a fresh file in a temporary directory.
"""

from __future__ import annotations

import sys
import tempfile
import threading
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import proletarian
from proletarian import Handlers, Job, JobContext, QueueWorker, RetryPolicy
from proletarian.adapters.sqlite import SQLiteStore

handlers = Handlers()


# This job type's own policy: 3 retries, waiting 0.1 s, then 0.2 s (the last delay repeats).
@handlers.register("fetch-page", retry=RetryPolicy(retries=3, delays=[0.1, 0.2]), with_context=True)
def fetch_page(job: Job, ctx: JobContext) -> None:
    if job.attempt < 3:
        raise ConnectionError(f"{job.payload['url']} timed out")
    print(f"fetch-page: fetched {job.payload['url']} on attempt {job.attempt}")


# No policy of its own: the worker's exponential backoff applies.
@handlers.register("parse-invoice")
def parse_invoice(payload: Any) -> None:
    raise ValueError(f"invoice {payload['number']} has no total")


class Events:
    """An event sink (`log=`): prints retries and failures, and notes when every job is done."""

    def __init__(self, jobs: int) -> None:
        self.remaining = jobs
        self.all_done = threading.Event()
        self._lock = threading.Lock()

    def __call__(self, event: str, data: Mapping[str, Any]) -> None:
        if event == "job_retry_scheduled":
            print(
                f"{data['job_type']}: attempt {data['attempt']} failed ({data['error']}), retrying"
            )
        elif event == "job_failed":
            print(
                f"{data['job_type']}: attempt {data['attempt']} failed ({data['error']}), giving up"
            )
        if event in ("job_succeeded", "job_failed"):
            with self._lock:
                self.remaining -= 1
                if self.remaining == 0:
                    self.all_done.set()


def on_failed(job: Job, exc: BaseException) -> None:
    print(f"on_failed: job {job.id} ({job.job_type}) is archived as failed: {exc!r}")


def main(path: Path) -> None:
    store = SQLiteStore(path)
    fetch = proletarian.enqueue(store, "fetch-page", {"url": "https://example.com/"})
    parse = proletarian.enqueue(store, "parse-invoice", {"number": "2024-017"})

    events = Events(jobs=2)
    worker = QueueWorker(
        store,
        handlers,
        # 2 retries, waiting about 0.05 s then 0.1 s (exponential, ±10 % jitter, capped at 1 s).
        retry=RetryPolicy.exponential(retries=2, base=0.05, cap=1.0),
        on_failed=on_failed,
        log=events,
        # SQLite sends no wake-ups: an idle worker polls. Poll often so short delays show.
        polling_interval=timedelta(milliseconds=50),
    )
    with worker:
        if not events.all_done.wait(timeout=10):
            raise SystemExit("jobs did not finish within 10 s")

    for job_id in (fetch, parse):
        job = store.get_job(job_id)
        assert job is not None
        error = f", last error {job.error.type}: {job.error.message}" if job.error else ""
        print(f"{job.job_type}: {job.status.value} after {job.attempts} attempts{error}")
    # A failed job can be put back on its queue, attempts reset: `proletarian retry JOB_ID`.
    store.close()


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as directory:
            main(Path(directory) / "jobs.db")
