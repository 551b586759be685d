"""Carry a request's logging context into its jobs: the web request puts its request id in the
job's meta, and a worker middleware restores it around the handler, so every log line a job
writes names the request that caused it.

    python examples/meta_logging.py [path/to/jobs.db]

Without a path it uses a fresh file in a temporary directory.
"""

from __future__ import annotations

import contextvars
import logging
import sys
import tempfile
from pathlib import Path
from typing import Any

import proletarian
from proletarian import Job, JobContext, QueueWorker
from proletarian.adapters.sqlite import SQLiteStore
from proletarian.worker.context import CallNext

# The application's logging context: set per request in the web app, per job in the worker.
request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
log = logging.getLogger("app")


class RequestIdFilter(logging.Filter):
    """Puts the current request id on every record, for the format's %(request_id)s."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


def restore_request_id(job: Job, ctx: JobContext, call_next: CallNext) -> None:
    """Worker middleware: run the handler with the request id its job was enqueued under."""
    token = request_id.set(job.meta.get("request_id", "-"))
    try:
        call_next(job, ctx)
    finally:
        request_id.reset(token)


def handle_job(job_type: str, payload: Any) -> None:
    log.info("sending %s to %s", job_type, payload["to"])


def web_request(store: SQLiteStore, rid: str, to: str) -> None:
    """What a request handler does: log under its id, and pass the id on with the job."""
    token = request_id.set(rid)
    try:
        log.info("signing up %s", to)
        proletarian.enqueue(store, "welcome-email", {"to": to}, meta={"request_id": rid})
    finally:
        request_id.reset(token)


def main(path: Path) -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(logging.Formatter("[%(request_id)s] %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)

    store = SQLiteStore(path)
    web_request(store, "req-1", "ada@example.com")
    web_request(store, "req-2", "grace@example.com")
    proletarian.enqueue(store, "welcome-email", {"to": "nobody@example.com"})  # no request

    # drain() runs the due jobs on this thread, in enqueue order.
    worker = QueueWorker(store, handle_job, middleware=[restore_request_id])
    worker.drain()
    log.info("done")
    store.close()


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(Path(tmp) / "jobs.db")
