"""A worker process for the chaos soaks, for every kind of store:
`python -m tests.fault.soak_worker URL JOURNAL_DIR [--threads N] [--retries N]
[--fail-percent P] [--work SECONDS] [--lease SECONDS] [--options JSON]`.

The store is `proletarian.open_store(URL, **options)`; "{pid}" in URL is replaced by this
process's id, so a test can tell its connections apart on the server (PostgreSQL
application_name, Redis client_name).

Everything the test needs to account for each handler run goes to `JOURNAL_DIR/<pid>.log`, one
line per fact, written with O_APPEND so lines survive a SIGKILL and never interleave:

  ready                           the worker runs (SIGTERM now stops it gracefully)
  run <job id> <attempt>          a handler call began
  <event> <job id> <attempt>      job_succeeded, job_retry_scheduled or job_failed: the store
                                  call recording that outcome returned
  abandoned <job id> <attempt>    a reclaimed job with no attempt left is failed without a run
  fault <event>                   a worker thread's claim-and-run failed: on the store
                                  (store_unavailable, claim_lost), which may have cut short the
                                  run that thread had begun, or on anything else (worker_error)
  interrupted                     a thread stopped on a BaseException (never expected)
  stopped <ok|stragglers>         after SIGTERM, whether every thread stopped in time

A handler call raises SoakFailure when `fails(job id, attempt)` says so (about `fail-percent`
of calls, decided by a hash, so a test can predict each job's outcome), and on every attempt of
a job whose payload is {"doomed": true}. Exit status 0 after a graceful stop.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from proletarian import Job, JobContext, QueueWorker, RetryPolicy, StoreUnavailable, open_store
from proletarian.ports.store import QueueStore

OUTCOMES = frozenset({"job_succeeded", "job_retry_scheduled", "job_failed"})
# Events a worker thread logs when one claim-and-run ended on a store error.
FAULTS = frozenset({"store_unavailable", "claim_lost", "worker_error"})


class SoakFailure(Exception):
    """The failure a soak handler raises on purpose."""


def fails(job_id: str, attempt: int, percent: int) -> bool:
    """Whether attempt `attempt` of the job raises: a hash, so the test can predict it."""
    digest = hashlib.sha256(f"{job_id}/{attempt}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 100 < percent


def expected_outcome(job_id: str, *, doomed: bool, retries: int, percent: int) -> tuple[str, int]:
    """(status, attempts) a job ends with when no attempt is lost to a crash: the first attempt
    that does not raise succeeds; after retries + 1 raising attempts it fails."""
    for attempt in range(1, retries + 2):
        if not doomed and not fails(job_id, attempt, percent):
            return "succeeded", attempt
    return "failed", retries + 1


class Journal:
    """Appends lines to one file; safe from several threads (one write(2) per line)."""

    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def write(self, line: str) -> None:
        os.write(self._fd, f"{line}\n".encode())

    def close(self) -> None:
        os.close(self._fd)


def opened(url: str, options: dict[str, Any]) -> QueueStore:
    """The store, retried while the server can't be reached: PostgresStore.connect fails fast,
    and a worker the chaos loop starts may come up during a server restart. A supervisor
    (systemd's Restart=on-failure) would do the same for a real worker."""
    deadline = time.monotonic() + 120
    while True:
        try:
            return open_store(url, **options)
        except StoreUnavailable:
            if time.monotonic() > deadline:
                raise
            threading.Event().wait(0.2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("journal_dir", type=Path)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--retries", type=int, default=3)
    parser.add_argument("--fail-percent", type=int, default=5)
    parser.add_argument("--work", type=float, default=0.002, help="seconds each handler takes")
    parser.add_argument("--lease", type=float, default=None, help="lease seconds (leased stores)")
    parser.add_argument("--options", default="{}", help="JSON object of store options")
    args = parser.parse_args()

    journal = Journal(args.journal_dir / f"{os.getpid()}.log")
    options: dict[str, Any] = json.loads(args.options)
    if args.lease is not None:
        options["lease"] = timedelta(seconds=args.lease)
    store = opened(args.url.replace("{pid}", str(os.getpid())), options)

    def handle(job: Job, ctx: JobContext) -> None:
        journal.write(f"run {job.id} {job.attempt}")
        ctx.stopping.wait(args.work)  # a little work, so kills land mid-run
        doomed = isinstance(job.payload, dict) and job.payload.get("doomed") is True
        if doomed or fails(job.id, job.attempt, args.fail_percent):
            raise SoakFailure(f"attempt {job.attempt} fails on purpose")

    def log(event: str, data: Mapping[str, Any]) -> None:
        if event in OUTCOMES:
            journal.write(f"{event} {data['job_id']} {data['attempt']}")
        elif event == "job_abandoned":
            journal.write(f"abandoned {data['job_id']} {data['attempt']}")
        elif event in FAULTS and "worker_id" in data:
            # The heartbeat reports lost leases too, without a worker_id: those runs are
            # counted once, by the thread whose outcome call then fails.
            journal.write(f"fault {event}")
        elif event == "worker_interrupted":
            journal.write("interrupted")

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    worker = QueueWorker(
        store,
        handle,
        threads=args.threads,
        handler_mode="advanced",
        retry=RetryPolicy(retries=args.retries),
        polling_interval=timedelta(milliseconds=100),
        shutdown_timeout=timedelta(seconds=20),
        log=log,
    )
    worker.start()
    journal.write("ready")
    stop.wait()
    stopped = worker.stop()
    journal.write(f"stopped {'ok' if stopped else 'stragglers'}")
    store.close()
    journal.close()
    sys.exit(0 if stopped else 1)


if __name__ == "__main__":
    main()
