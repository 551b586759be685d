"""A worker process over a SQLite file, for tests that kill or run several processes:
`python -m tests.fault.sqlite_worker DB [--lease SECONDS] [--threads N]`.

It prints "ready" as its worker starts, then one line per job event, "<event> <job id> <attempt>"
(job_claimed, job_succeeded, job_retry_scheduled, job_failed, job_abandoned), each printed after
the store call it reports. Handlers act on the payload's "action":

  ok          succeed
  hold        print "holding <id> <attempt>", wait for a line on stdin, then succeed
  hang_first  on its first claim (no abandonment counted) print "started <id> <abandons>" and
              never return; later claims succeed
  kill        print "started <id> <abandons>" and SIGKILL this very process

Jobs get two attempts (retries=1). SIGTERM stops the worker gracefully.
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

from proletarian import Job, JobContext, QueueWorker, RetryPolicy
from proletarian.adapters.sqlite import SQLiteStore

EVENTS = {"job_claimed", "job_succeeded", "job_retry_scheduled", "job_failed", "job_abandoned"}
_print_lock = threading.Lock()


def say(line: str) -> None:
    with _print_lock:
        print(line, flush=True)


def log(event: str, data: Mapping[str, Any]) -> None:
    if event in EVENTS:
        say(f"{event} {data['job_id']} {data['attempt']}")


def handle(job: Job, ctx: JobContext) -> None:
    action = job.payload["action"]
    if action == "hold":
        say(f"holding {job.id} {job.attempt}")
        sys.stdin.readline()
    elif action == "hang_first" and job.abandons == 0:
        say(f"started {job.id} {job.abandons}")
        threading.Event().wait()
    elif action == "kill":
        say(f"started {job.id} {job.abandons}")
        os.kill(os.getpid(), signal.SIGKILL)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("db")
    parser.add_argument("--lease", type=float, default=1.0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    store = SQLiteStore(args.db, lease=timedelta(seconds=args.lease))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    worker = QueueWorker(
        store,
        handle,
        threads=args.threads,
        handler_mode="advanced",
        polling_interval=timedelta(milliseconds=50),
        shutdown_timeout=timedelta(seconds=5),
        retry=RetryPolicy(retries=1),
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
