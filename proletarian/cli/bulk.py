"""retry and cancel: one job by id, or every job matching a filter (the aftermath of an
outage). A bulk action says how many jobs it will touch and asks first, unless --yes; with no
terminal to ask on, it refuses rather than guess."""

from __future__ import annotations

import argparse
import sys

from proletarian.cli import render
from proletarian.cli.errors import OK, CliError, UsageError
from proletarian.cli.session import opened, store_url
from proletarian.core.inspection import MAX_PAGE
from proletarian.core.job import JobStatus
from proletarian.ports.store import QueueStore


def retry(args: argparse.Namespace) -> int:
    """Put a failed job back on its queue, or with --all-failed every failed job matching
    --queue and --type, due now, with its attempts reset."""
    url = store_url(args)
    _one_or_all(args, "--all-failed", args.all_failed)
    with opened(url, existing=True) as store:
        if args.all_failed:
            if not _confirmed(store, args, JobStatus.FAILED, "retry"):
                return OK
            count = store.retry_failed_jobs(queue=args.queue, job_type=args.job_type)
            print(f"{_jobs(count)} queued again")
            return OK
        if store.retry_failed(args.job_id):
            print(f"job {render.cell(args.job_id)} is queued again")
            return OK
        job = store.get_job(args.job_id)
    if job is None:
        raise CliError(f"no job with id {render.cell(args.job_id)!r}")
    raise CliError(f"job {args.job_id} is {job.status.value}; only failed jobs can be retried")


def cancel(args: argparse.Namespace) -> int:
    """Remove a queued job that has not started, or with --all-queued every queued job
    matching --queue and --type that is not running."""
    url = store_url(args)
    _one_or_all(args, "--all-queued", args.all_queued)
    with opened(url, existing=True) as store:
        if args.all_queued:
            if not _confirmed(store, args, None, "cancel"):
                return OK
            count = store.cancel_queued_jobs(queue=args.queue, job_type=args.job_type)
            print(f"{_jobs(count)} cancelled")
            return OK
        if store.cancel(args.job_id):
            print(f"job {render.cell(args.job_id)} cancelled")
            return OK
        job = store.get_job(args.job_id)
    if job is None:
        raise CliError(f"no job with id {render.cell(args.job_id)!r}")
    if job.status is JobStatus.RUNNING:
        raise CliError(f"job {args.job_id} is running; a running job can't be cancelled")
    raise CliError(f"job {args.job_id} has already finished ({job.status.value})")


def _one_or_all(args: argparse.Namespace, flag: str, everything: bool) -> None:
    if everything and args.job_id is not None:
        raise UsageError(f"give a JOB_ID or {flag}, not both")
    if not everything and args.job_id is None:
        raise UsageError(f"give a JOB_ID, or {flag} (with --queue and --type to narrow it)")
    if not everything and (args.queue is not None or args.job_type is not None or args.yes):
        raise UsageError(f"--queue, --type and --yes go with {flag}")


def _confirmed(
    store: QueueStore, args: argparse.Namespace, status: JobStatus | None, verb: str
) -> bool:
    """Count the jobs the action would touch and ask; True to go on. The count is read a page
    at a time (keyset pages of the listing), so it never holds the store for long; the action
    then takes the jobs matching at that time."""
    if args.yes:
        return True
    count = _count(store, args, status)
    what = _describe(args, status)
    if count == 0:
        print(f"no {what} to {verb}")
        return False
    if not sys.stdin.isatty():
        raise UsageError(
            f"{verb} {_jobs(count)} ({what}): no terminal to confirm on; pass --yes to go ahead"
        )
    answer = input(f"{verb} {_jobs(count)} ({what})? [y/N] ")
    if answer.strip().lower() not in ("y", "yes"):
        print("nothing done")
        return False
    return True


def _count(store: QueueStore, args: argparse.Namespace, status: JobStatus | None) -> int:
    statuses = [status] if status is not None else [JobStatus.READY, JobStatus.SCHEDULED]
    total = 0
    for wanted in statuses:
        before = None
        while True:
            page = store.list_jobs(
                status=wanted,
                queue=args.queue,
                job_type=args.job_type,
                limit=MAX_PAGE,
                before=before,
            )
            total += len(page.jobs)
            if page.next_before is None:
                break
            before = page.next_before
    return total


def _describe(args: argparse.Namespace, status: JobStatus | None) -> str:
    what = "failed jobs" if status is JobStatus.FAILED else "queued jobs not running"
    if args.queue is not None:
        what += f" of queue {render.cell(args.queue)!r}"
    if args.job_type is not None:
        what += f" of type {render.cell(args.job_type)!r}"
    return what


def _jobs(count: int) -> str:
    return f"{count} job" if count == 1 else f"{count} jobs"
