"""A worker process for the chaos soaks, for every kind of store:
`python -m tests.fault.soak_worker URL JOURNAL_DIR [--threads N] [--retries N]
[--fail-percent P] [--work SECONDS] [--lease SECONDS] [--timeout SECONDS]
[--timeout-grace SECONDS] [--hang SECONDS] [--max-abandons N] [--options JSON]`.

The store is `proletarian.open_store(URL, **options)`; "{pid}" in URL is replaced by this
process's id, so a test can tell its connections apart on the server (PostgreSQL
application_name, Redis client_name). Options named in DURATIONS (`lease`, `crash_delay`) are
given in seconds and passed as timedeltas.

Everything the test needs to account for each handler run goes to `JOURNAL_DIR/<pid>.log`, one
line per fact, written with O_APPEND so lines survive a SIGKILL and never interleave:

  ready                           the worker runs (SIGTERM now stops it gracefully)
  run <job id> <attempt>          a handler call began
  <event> <job id> <attempt> <error type or ->
                                  job_succeeded, job_retry_scheduled or job_failed: the store
                                  call recording that outcome returned (for a cut handler, the
                                  cut's JobTimeout, recorded from another thread)
  abandoned <job id> <attempt>    a job abandoned max_abandons times is failed without a run
  kill_self <job id> <attempt>    a poison job's handler is about to SIGKILL this process
  timed_out <job id> <attempt>    a handler ran past its timeout and grace: it is being cut
  cut_returned <job id> <attempt> a cut handler returned at last; it recorded nothing
  fault <event>                   a worker thread's claim-and-run (or a cut) failed: on the
                                  store (store_unavailable, claim_lost, or cut_store_error: a cut
                                  that failed on the store, which the worker logs as
                                  worker_error), which may have cut short the run that thread had
                                  begun, or on anything else (worker_error, then the error)
  interrupted                     a thread stopped on a BaseException (never expected)
  stopped <ok|stragglers>         after SIGTERM, whether every thread stopped in time

What a handler does depends on the payload's "role":

  plain   raises SoakFailure when `fails(job id, attempt)` says so (about `fail-percent` of
          calls, decided by a hash, so a test can predict each job's outcome)
  doomed  raises SoakFailure on every attempt
  poison  SIGKILLs its own process, on every attempt
  hung    on attempt 1, blocks for `--hang` seconds ignoring ctx.stopping (so the worker's
          timeout cuts it, and the attempt fails with JobTimeout); later attempts succeed

Exit status 0 after a graceful stop.
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
ROLES = ("plain", "doomed", "poison", "hung")
STORE_ERRORS = tuple(f"{name}(" for name in ("StoreError", "StoreUnavailable", "ClaimLost"))
# Store options given in seconds on the command line, passed on as timedeltas.
DURATIONS = frozenset({"lease", "crash_delay"})


class SoakFailure(Exception):
    """The failure a soak handler raises on purpose."""


def fails(job_id: str, attempt: int, percent: int) -> bool:
    """Whether attempt `attempt` of the job raises: a hash, so the test can predict it."""
    digest = hashlib.sha256(f"{job_id}/{attempt}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 100 < percent


def attempt_fails(job_id: str, attempt: int, *, role: str, percent: int) -> bool:
    """Whether attempt `attempt` of a job of `role` ends failed when its worker lives: a
    doomed job's always does, a plain job's when `fails` says so, a hung job's first is cut
    (JobTimeout). A poison job's never ends: it kills its worker."""
    if role == "doomed":
        return True
    if role == "hung":
        return attempt == 1
    if role == "plain":
        return fails(job_id, attempt, percent)
    raise ValueError(f"a {role} job's attempts have no outcome")


def expected_outcome(
    job_id: str,
    *,
    role: str,
    retries: int,
    percent: int,
    cut: frozenset[int] = frozenset(),
) -> tuple[str, int]:
    """(status, attempts) a job of `role` ends with: the first attempt that does not fail
    succeeds; after retries + 1 failing attempts it fails. Crashed attempts are not attempts
    (they are counted apart, as abandons), so crashes don't change this. `cut` are attempts a
    timeout cut (failed with JobTimeout) that would not have failed otherwise: a worker paused
    past the timeout cuts whatever it was running."""
    for attempt in range(1, retries + 2):
        if attempt not in cut and not attempt_fails(job_id, attempt, role=role, percent=percent):
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


def store_error(data: Mapping[str, Any]) -> bool:
    """Whether an event's error (the exception's repr) is one of proletarian's store errors."""
    return str(data.get("error", "")).startswith(STORE_ERRORS)


def seconds(value: float | None) -> timedelta | None:
    return None if value is None else timedelta(seconds=value)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("journal_dir", type=Path)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--retries", type=int, default=3)
    parser.add_argument("--fail-percent", type=int, default=5)
    parser.add_argument("--work", type=float, default=0.002, help="seconds each handler takes")
    parser.add_argument("--lease", type=float, default=None, help="lease seconds (leased stores)")
    parser.add_argument("--timeout", type=float, default=None, help="the worker's job timeout")
    parser.add_argument("--timeout-grace", type=float, default=1.0)
    parser.add_argument("--hang", type=float, default=5.0, help="seconds a hung job blocks")
    parser.add_argument("--max-abandons", type=int, default=3)
    parser.add_argument("--options", default="{}", help="JSON object of store options")
    args = parser.parse_args()

    journal = Journal(args.journal_dir / f"{os.getpid()}.log")
    options: dict[str, Any] = json.loads(args.options)
    for name in DURATIONS & options.keys():
        options[name] = timedelta(seconds=options[name])
    if args.lease is not None:
        options["lease"] = timedelta(seconds=args.lease)
    store = opened(args.url.replace("{pid}", str(os.getpid())), options)

    def handle(job: Job, ctx: JobContext) -> None:
        journal.write(f"run {job.id} {job.attempt}")
        role = job.payload["role"]
        if role == "poison":
            journal.write(f"kill_self {job.id} {job.attempt}")
            os.kill(os.getpid(), signal.SIGKILL)
        if role == "hung" and job.attempt == 1:
            # Deaf to ctx.stopping, as a handler stuck in a call without a timeout would be.
            threading.Event().wait(args.hang)
            return
        ctx.stopping.wait(args.work)  # a little work, so kills land mid-run
        if attempt_fails(job.id, job.attempt, role=role, percent=args.fail_percent):
            raise SoakFailure(f"attempt {job.attempt} fails on purpose")

    def log(event: str, data: Mapping[str, Any]) -> None:
        if event in OUTCOMES:
            error_type = data.get("error_type") or "-"
            journal.write(f"{event} {data['job_id']} {data['attempt']} {error_type}")
        elif event == "job_abandoned":
            journal.write(f"abandoned {data['job_id']} {data['attempt']}")
        elif event == "job_timed_out":
            journal.write(f"timed_out {data['job_id']} {data['attempt']}")
        elif event == "cut_job_returned":
            journal.write(f"cut_returned {data['job_id']} {data['attempt']}")
        elif event == "worker_error" and "retry_in" not in data and store_error(data):
            # A cut that failed on the store. QueueWorker._cut logs every error but ClaimLost
            # as worker_error (no retry_in: no thread backs off), where a worker thread logs a
            # store error as store_unavailable; one is MySQL's cut of a claim whose connection
            # the server had killed already (KILL fails: 1094 Unknown thread id). A store
            # error either way, kept apart so the figures show how often it happens.
            journal.write(f"fault cut_store_error {data['error']!r}")
        elif event in FAULTS and "worker_id" in data and "during" not in data:
            # A thread's claim-and-run that failed. Not the heartbeat's lost leases (no
            # worker_id), nor a leased outcome sent again ("during"): the thread whose outcome
            # then fails for good reports it once more, and that run is counted once.
            detail = f" {data.get('error')!r}" if event == "worker_error" else ""
            journal.write(f"fault {event}{detail}")
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
        max_abandons=args.max_abandons,
        timeout=seconds(args.timeout),
        timeout_grace=timedelta(seconds=args.timeout_grace),
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
