"""A worker process over the test MariaDB tables, for tests that kill or run several processes:
`python -m tests.fault.mysql_worker --tables JOB ARCHIVED_JOB EFFECT [--threads N] [--hang]
[--crash-delay SECONDS]`.

It prints "ready" as its worker starts, and "<event> <job id>" for job_succeeded, job_failed and
job_abandoned. Every handler first records its run in the effect table through
`ctx.connection`, so the row commits only with the job's success. A job whose payload action is
"hang" then prints "started <job id>" and never returns when the worker was given --hang (it
succeeds otherwise); one whose action is "kill" prints "started <job id>" and SIGKILLs this
very process. SIGTERM stops the worker gracefully; the exit status is 0 if every thread stopped
in time.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import pymysql

from proletarian import Job, JobContext, QueueWorker
from proletarian.adapters.mysql import MySQLStore
from tests.fixtures.servers import MYSQL_URL


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tables", nargs=3, required=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--hang", action="store_true")
    parser.add_argument("--crash-delay", type=float, default=10.0)
    args = parser.parse_args()
    job_table, archived_job_table, effect_table = args.tables

    def handle(job: Job, ctx: JobContext) -> None:
        conn = ctx.connection
        assert isinstance(conn, pymysql.connections.Connection)
        with conn.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO `{effect_table}` (job_id, pid) VALUES (%s, %s)", (job.id, os.getpid())
            )
        if args.hang and job.payload["action"] == "hang":
            print(f"started {job.id}", flush=True)
            threading.Event().wait()
        if job.payload["action"] == "kill":
            print(f"started {job.id}", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)

    def log(event: str, data: Mapping[str, Any]) -> None:
        if event in ("job_succeeded", "job_failed", "job_abandoned"):
            print(f"{event} {data['job_id']}", flush=True)

    store = MySQLStore.connect(
        MYSQL_URL,
        job_table=job_table,
        archived_job_table=archived_job_table,
        crash_delay=timedelta(seconds=args.crash_delay),
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    worker = QueueWorker(
        store,
        handle,
        threads=args.threads,
        handler_mode="advanced",
        polling_interval=timedelta(milliseconds=50),
        shutdown_timeout=timedelta(seconds=10),
        log=log,
    )
    # "ready" first: a job due already may print its lines (or kill this process) at once.
    print("ready", flush=True)
    worker.start()
    stop.wait()
    stopped = worker.stop()
    store.close()
    sys.exit(0 if stopped else 1)


if __name__ == "__main__":
    main()
