"""A worker process over the PostgreSQL test schema, for tests that kill or run several
processes: `python -m tests.fault.postgres_worker [--threads N] [--hang] [--lease SECONDS]
[--retries N]`.

It prints "ready" as its worker starts, "started <job id>" when a handler begins, and
"<event> <job id> <attempt>" after each job_succeeded, job_failed or job_abandoned. Handlers
(advanced mode) record the run through ctx.connection, in the job's own transaction:
`INSERT INTO <test schema>.run (job_id, pid)`, so a run row exists exactly when the job's
success committed. With --hang, a job whose payload is {"hang": true} never returns; a job
whose payload is {"kill": true} SIGKILLs this very process. --lease makes the store's claims
leases of that many seconds; --retries gives jobs that many retries (default none).
SIGTERM stops the worker gracefully.
"""

from __future__ import annotations

import argparse
import os
import signal
import threading
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import psycopg

from proletarian import Job, JobContext, QueueWorker, RetryPolicy
from proletarian.adapters.postgres import PostgresStore
from tests.fixtures.postgres import SCHEMA, TEST_URL

_print_lock = threading.Lock()


def say(line: str) -> None:
    with _print_lock:
        print(line, flush=True)


def log(event: str, data: Mapping[str, Any]) -> None:
    if event in ("job_succeeded", "job_failed", "job_abandoned"):
        say(f"{event} {data['job_id']} {data['attempt']}")


def handler(hang: bool) -> Any:
    def handle(job: Job, ctx: JobContext) -> None:
        say(f"started {job.id}")
        if hang and job.payload.get("hang"):
            threading.Event().wait()
        if job.payload.get("kill"):
            os.kill(os.getpid(), signal.SIGKILL)
        assert isinstance(ctx.connection, psycopg.Connection)
        ctx.connection.execute(
            f"INSERT INTO {SCHEMA}.run (job_id, pid) VALUES (%s, %s)", (job.id, os.getpid())
        )

    return handle


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--hang", action="store_true")
    parser.add_argument("--lease", type=float, default=None)
    parser.add_argument("--retries", type=int, default=0)
    args = parser.parse_args()
    lease = None if args.lease is None else timedelta(seconds=args.lease)
    store = PostgresStore.connect(TEST_URL, schema=SCHEMA, max_size=args.threads + 1, lease=lease)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    worker = QueueWorker(
        store,
        handler(args.hang),
        threads=args.threads,
        handler_mode="advanced",
        retry=RetryPolicy(retries=args.retries),
        polling_interval=timedelta(milliseconds=200),
        shutdown_timeout=timedelta(seconds=5),
        log=log,
    )
    # "ready" first: a job due already may print its lines (or kill this process) at once.
    say("ready")
    worker.start()
    stop.wait()
    worker.stop()
    store.close()


if __name__ == "__main__":
    main()
