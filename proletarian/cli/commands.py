"""The short commands: enqueue, status, retry, cancel and prune. Each returns an exit status."""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta

from proletarian.cli import table
from proletarian.cli.errors import OK, CliError
from proletarian.cli.session import opened, store_url
from proletarian.cli.values import json_payload
from proletarian.core.job import JobStatus, NewJob, Priority
from proletarian.core.urls import redact

STATUS_HEADERS = ("queue", "ready", "scheduled", "running", "succeeded", "failed", "oldest ready")


def enqueue(args: argparse.Namespace) -> int:
    """Enqueue one job (committed at once) and print its id."""
    url = store_url(args)
    payload = json_payload(args.payload)
    job = NewJob(
        job_type=args.job_type,
        payload=payload,
        queue=args.queue,
        priority=Priority[args.priority.upper()],
        process_in=timedelta(seconds=args.delay) if args.delay else None,
    )
    with opened(url, existing=True) as store:
        print(store.enqueue(job))
    return OK


def status(args: argparse.Namespace) -> int:
    """Print one row per queue: queued jobs by state, archived jobs by outcome, and how long
    the oldest due job has waited."""
    url = store_url(args)
    with opened(url, existing=True) as store:
        stats = store.stats()
    if not stats:
        print(f"no jobs in {redact(url)}")
        return OK
    rows = [
        (
            queue,
            str(s.ready),
            str(s.scheduled),
            str(s.running),
            str(s.succeeded),
            str(s.failed),
            table.age(s.oldest_ready_age),
        )
        for queue, s in sorted(stats.items())
    ]
    print(table.render(STATUS_HEADERS, rows))
    return OK


def retry(args: argparse.Namespace) -> int:
    """Put an archived failed job back on its queue, due now, with its attempts reset."""
    url = store_url(args)
    with opened(url, existing=True) as store:
        if store.retry_failed(args.job_id):
            print(f"job {args.job_id} is queued again")
            return OK
        job = store.get_job(args.job_id)
    if job is None:
        raise CliError(f"no job with id {args.job_id!r}")
    raise CliError(f"job {args.job_id} is {job.status.value}; only failed jobs can be retried")


def cancel(args: argparse.Namespace) -> int:
    """Remove a queued job that has not started."""
    url = store_url(args)
    with opened(url, existing=True) as store:
        if store.cancel(args.job_id):
            print(f"job {args.job_id} cancelled")
            return OK
        job = store.get_job(args.job_id)
    if job is None:
        raise CliError(f"no job with id {args.job_id!r}")
    if job.status is JobStatus.RUNNING:
        raise CliError(f"job {args.job_id} is running; a running job can't be cancelled")
    raise CliError(f"job {args.job_id} has already finished ({job.status.value})")


def prune(args: argparse.Namespace) -> int:
    """Delete archived jobs that finished more than `--older-than` ago."""
    url = store_url(args)
    older_than: timedelta = args.older_than
    batch: int = args.batch
    deleted = 0
    with opened(url, existing=True) as store:
        # In batches, so a large archive never holds one long transaction and shows progress.
        while True:
            step = store.prune_archive(older_than, limit=batch)
            deleted += step
            if step < batch:
                break
            print(f"deleted {deleted} so far...", file=sys.stderr, flush=True)
    plural = "" if deleted == 1 else "s"
    print(f"deleted {deleted} archived job{plural} finished more than {table.span(older_than)} ago")
    return OK
