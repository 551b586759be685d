"""A worker process over the PostgreSQL test schema, for tests that kill or run several
processes: `python -m tests.fault.postgres_worker [--threads N] [--hang]`.

It prints "ready" as its worker starts, "started <job id>" when a handler begins, and
"job_succeeded <job id> <attempt>" after each success is committed. Handlers (advanced mode)
record the run through ctx.connection, in the job's own transaction:
`INSERT INTO <test schema>.run (job_id, pid)`, so a run row exists exactly when the job's
success committed. With --hang, a job whose payload is {"hang": true} never returns.
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

from proletarian import Job, JobContext, QueueWorker
from proletarian.adapters.postgres import PostgresStore
from tests.fixtures.postgres import SCHEMA, TEST_URL

_print_lock = threading.Lock()


def say(line: str) -> None:
    with _print_lock:
        print(line, flush=True)


def log(event: str, data: Mapping[str, Any]) -> None:
    if event == "job_succeeded":
        say(f"job_succeeded {data['job_id']} {data['attempt']}")


def handler(hang: bool) -> Any:
    def handle(job: Job, ctx: JobContext) -> None:
        say(f"started {job.id}")
        if hang and job.payload.get("hang"):
            threading.Event().wait()
        assert isinstance(ctx.connection, psycopg.Connection)
        ctx.connection.execute(
            f"INSERT INTO {SCHEMA}.run (job_id, pid) VALUES (%s, %s)", (job.id, os.getpid())
        )

    return handle


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--hang", action="store_true")
    args = parser.parse_args()
    store = PostgresStore.connect(TEST_URL, schema=SCHEMA, max_size=args.threads + 1)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    worker = QueueWorker(
        store,
        handler(args.hang),
        threads=args.threads,
        handler_mode="advanced",
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
