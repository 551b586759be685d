"""The short commands: enqueue and prune (status and the other reads are in inspection.py,
retry and cancel in bulk.py). Each returns an exit status."""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta

from proletarian.cli import table
from proletarian.cli.errors import OK
from proletarian.cli.session import opened, store_url
from proletarian.cli.values import json_payload
from proletarian.core.job import NewJob, Priority


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
