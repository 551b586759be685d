"""A worker process over the test MariaDB tables, for tests that kill or run several processes:
`python -m tests.fault.mysql_worker --tables JOB ARCHIVED_JOB EFFECT [--threads N] [--hang]`.

It prints "ready" as its worker starts. Every handler first records its run in the effect
table through `ctx.connection`, so the row commits only with the job's success. A job whose
payload action is "hang" then prints "started <job id>" and never returns when the worker was
given --hang (it succeeds otherwise). SIGTERM stops the worker gracefully; the exit status is 0
if every thread stopped in time.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from datetime import timedelta

import pymysql

from proletarian import Job, JobContext, QueueWorker
from proletarian.adapters.mysql import MySQLStore
from tests.fixtures.servers import MYSQL_URL


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tables", nargs=3, required=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--hang", action="store_true")
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

    store = MySQLStore.connect(
        MYSQL_URL, job_table=job_table, archived_job_table=archived_job_table
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
