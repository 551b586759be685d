"""`proletarian demo`: enqueue sample jobs into a fresh SQLite file and work them off with live
progress, then print what happened per job type. Needs no server."""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any, TextIO

from proletarian.cli import table
from proletarian.cli.demo_jobs import JOB_TYPES, QUEUES, RETRY, Outcome, expected, handlers, plan
from proletarian.cli.errors import INTERRUPTED, OK, CliError
from proletarian.cli.session import opened, with_options
from proletarian.core.errors import StoreError
from proletarian.core.urls import redact
from proletarian.ports.store import QueueStore
from proletarian.worker.queue_worker import QueueWorker

BATCH = 500
# Events that mean something went wrong outside the sample jobs' planned failures.
TROUBLE = {"store_unavailable", "worker_error", "claim_lost", "job_abandoned", "on_failed_error"}


class Tally:
    """The event sink of the demo's worker: counts outcomes per job type. Thread-safe."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.outcomes = {job_type: Outcome() for job_type in JOB_TYPES}
        self.handler_seconds = dict.fromkeys(JOB_TYPES, 0.0)
        self.finished = 0
        self.trouble: list[str] = []
        self._changed = threading.Condition()

    def __call__(self, event: str, data: Mapping[str, Any]) -> None:
        with self._changed:
            outcome = self.outcomes.get(data.get("job_type", ""))
            if event in TROUBLE:
                self.trouble.append(f"{event}: {data.get('error', '')}")
            elif outcome is None:
                return
            elif event == "job_succeeded":
                outcome.jobs += 1
                outcome.succeeded += 1
                self.finished += 1
                self.handler_seconds[data["job_type"]] += data.get("duration", 0.0)
            elif event == "job_failed":
                outcome.jobs += 1
                outcome.failed += 1
                self.finished += 1
            elif event == "job_retry_scheduled":
                outcome.retries += 1
            self._changed.notify_all()

    def wait_finished(self, timeout: float) -> bool:
        """True once every job has an outcome; False if `timeout` seconds pass first."""
        with self._changed:
            return self._changed.wait_for(lambda: self.finished >= self.total, timeout)

    def counts(self) -> tuple[int, int, int]:
        """Finished jobs, retries and failures so far."""
        with self._changed:
            retries = sum(o.retries for o in self.outcomes.values())
            failed = sum(o.failed for o in self.outcomes.values())
            return self.finished, retries, failed


class Progress:
    """One status line: redrawn in place on a terminal, printed once a second otherwise."""

    def __init__(self, out: TextIO, total: int) -> None:
        self.out = out
        self.total = total
        self.tty = out.isatty()
        self.interval = 0.1 if self.tty else 1.0
        # Starts with (now, 0 jobs): build it just before the worker starts.
        self._samples: deque[tuple[float, int]] = deque([(time.monotonic(), 0)])
        self._width = 0

    def show(self, finished: int, retries: int, failed: int, depth: str) -> None:
        now = time.monotonic()
        self._samples.append((now, finished))
        # The rate over the last two seconds, so it follows the work rather than the average.
        while len(self._samples) > 2 and now - self._samples[0][0] > 2.0:
            self._samples.popleft()
        then, before = self._samples[0]
        rate = (finished - before) / (now - then) if now > then else 0.0
        line = (
            f"processed {finished}/{self.total}  {rate:,.0f} jobs/s  retries {retries}  "
            f"failed {failed}  queue depth {depth}"
        )
        if self.tty:
            self.out.write("\r" + line.ljust(self._width))
            self._width = len(line)
        else:
            self.out.write(line + "\n")
        self.out.flush()

    def close(self) -> None:
        if self.tty and self._width:
            self.out.write("\n")
            self.out.flush()


def run_demo(args: argparse.Namespace) -> int:
    """Exit 0 when every job ended as planned; 1 if the run timed out or its totals differ from
    the plan; 130 on Ctrl-C (after the worker finished its running jobs and the summary)."""
    out = sys.stdout
    if args.url:
        url = with_options(args.url, args)
    else:
        path = (Path(args.path) if args.path else _temp_database()).resolve()
        url = with_options(f"sqlite:///{path}", args)
        print(f"demo database: {path}", file=out)
    jobs = plan(args.jobs, args.seed)
    with opened(url) as store:
        store.install_schema()
        _refuse_earlier_demo(store, url)
        for start in range(0, len(jobs), BATCH):
            store.enqueue_many(jobs[start : start + BATCH])
        print(_plan_line(jobs), file=out, flush=True)
        tally = Tally(len(jobs))
        interrupted, elapsed = _work(store, tally, args.threads, args.timeout, out)
        print(file=out)
        print(_summary(tally, elapsed, args.threads), file=out)
        print(_archive_line(store), file=out)
    for trouble in tally.trouble[:5]:
        print(f"proletarian: warning: {trouble}", file=sys.stderr)
    if interrupted:
        return INTERRUPTED
    if tally.finished < tally.total:
        raise CliError(
            f"demo timed out after {args.timeout:g}s with {tally.total - tally.finished} "
            "jobs unfinished"
        )
    if tally.outcomes != expected(jobs):
        raise CliError("the demo's totals differ from its plan; see the warnings above")
    if not args.url:
        print(f"look inside: proletarian status --url {url}", file=out)
    return OK


def _work(
    store: QueueStore, tally: Tally, threads: int, timeout: float, out: TextIO
) -> tuple[bool, float]:
    """Run a worker until every job has an outcome, `timeout` passes or Ctrl-C; then stop it
    (running jobs finish). Returns whether Ctrl-C stopped it, and the seconds it ran."""
    worker = QueueWorker(
        store,
        handlers(),
        queue=list(QUEUES.values()),
        threads=threads,
        # Retries are due within a second; SQLite has no notifications to wake the worker.
        polling_interval=timedelta(seconds=0.05),
        retry=RETRY,
        log=tally,
    )
    progress = Progress(out, tally.total)
    started = time.monotonic()
    deadline = started + timeout
    interrupted = False
    worker.start()
    try:
        while not tally.wait_finished(min(progress.interval, deadline - time.monotonic())):
            progress.show(*tally.counts(), _depth(store))
            if time.monotonic() >= deadline:
                break
    except KeyboardInterrupt:
        interrupted = True
    finally:
        elapsed = time.monotonic() - started
        worker.stop()
    progress.show(*tally.counts(), _depth(store))
    progress.close()
    return interrupted, elapsed


def _temp_database() -> Path:
    # Kept after the run so the user can look inside with `proletarian status`.
    return Path(tempfile.mkdtemp(prefix="proletarian-demo-")) / "demo.db"


def _refuse_earlier_demo(store: QueueStore, url: str) -> None:
    used = sorted(set(QUEUES.values()) & set(store.stats()))
    if used:
        raise CliError(
            f"{redact(url)} already holds jobs on {', '.join(used)}; "
            "run the demo on a new database (another --path)"
        )


def _plan_line(jobs: list[Any]) -> str:
    outcomes = expected(jobs)
    delayed = sum(1 for job in jobs if job.process_in is not None)
    high = sum(1 for job in jobs if job.priority.name == "HIGH")
    flaky = sum(1 for job in jobs if job.payload["simulate"]["fails"] in ("once", "twice"))
    broken = sum(o.failed for o in outcomes.values())
    return (
        f"enqueued {len(jobs)} jobs on {len(QUEUES)} queues: {delayed} delayed 1-2s, "
        f"{high} high priority, {flaky} fail then succeed on retry, {broken} always fail "
        f"({RETRY.max_attempts} attempts)"
    )


def _depth(store: QueueStore) -> str:
    try:
        stats = store.stats()
    except StoreError:
        return "?"
    queued = [stats[q] for q in QUEUES.values() if q in stats]
    depth = sum(s.ready + s.scheduled + s.running for s in queued)
    scheduled = sum(s.scheduled for s in queued)
    return f"{depth} ({scheduled} scheduled)"


def _summary(tally: Tally, elapsed: float, threads: int) -> str:
    headers = ("job type", "jobs", "succeeded", "failed", "retries", "mean success")
    rows = []
    total = Outcome()
    for job_type, outcome in tally.outcomes.items():
        finished = outcome.jobs
        total.succeeded += outcome.succeeded
        total.failed += outcome.failed
        total.retries += outcome.retries
        mean = tally.handler_seconds[job_type] / outcome.succeeded if outcome.succeeded else 0.0
        rows.append(
            (
                job_type,
                str(finished),
                str(outcome.succeeded),
                str(outcome.failed),
                str(outcome.retries),
                f"{mean * 1000:.1f} ms" if outcome.succeeded else "-",
            )
        )
    finished = total.succeeded + total.failed
    rows.append(
        ("total", str(finished), str(total.succeeded), str(total.failed), str(total.retries), "")
    )
    rate = finished / elapsed if elapsed > 0 else 0.0
    return (
        table.render(headers, rows)
        + f"\n\n{finished} jobs in {elapsed:.1f}s: {rate:,.0f} jobs/s on {threads} threads"
    )


def _archive_line(store: QueueStore) -> str:
    stats = store.stats()
    queues = [stats[q] for q in QUEUES.values() if q in stats]
    succeeded = sum(s.succeeded for s in queues)
    failed = sum(s.failed for s in queues)
    waiting = sum(s.ready + s.scheduled + s.running for s in queues)
    return f"the store's archive: {succeeded} succeeded, {failed} failed; {waiting} still queued"
