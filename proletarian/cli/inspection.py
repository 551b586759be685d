"""The read commands: status (once, or redrawn with --watch), jobs, show and workers. Each
prints a table for people, or JSON with --json for scripts."""

from __future__ import annotations

import argparse
import sys
import time

from proletarian.cli import render, table
from proletarian.cli.errors import OK, CliError
from proletarian.cli.session import opened, store_url
from proletarian.core.job import JobStatus
from proletarian.core.urls import redact
from proletarian.ports.store import QueueStore

STATUS_HEADERS = ("queue", "ready", "scheduled", "running", "succeeded", "failed", "oldest ready")
# Moves the cursor home and clears the screen below it: each --watch frame replaces the last.
REDRAW = "\x1b[H\x1b[J"


def status(args: argparse.Namespace) -> int:
    """One row per queue: queued jobs by state, archived jobs by outcome, and how long the
    oldest due job has waited. --watch redraws it every N seconds with throughput per minute;
    --json prints counts and throughput once."""
    url = store_url(args)
    with opened(url, existing=True) as store:
        if args.json:
            print(render.as_json(_status_data(store, args.minutes)))
            return OK
        if args.watch is None:
            print(_status_text(store, url))
            return OK
        frames = 0
        try:
            while args.frames is None or frames < args.frames:
                if frames:
                    time.sleep(args.watch)
                frame = _status_text(store, url)
                counts = store.throughput(args.minutes)
                frame += "\n\n" + render.throughput_table(counts)
                now = store.clock.now()
                alive = sum(not w.is_dead(now) for w in store.workers())
                stamp = now.strftime("%Y-%m-%d %H:%M:%S UTC")
                header = (
                    f"every {args.watch:g}s  {stamp}  workers alive: {alive}  (Ctrl-C to stop)\n\n"
                )
                sys.stdout.write(REDRAW + header + frame + "\n")
                sys.stdout.flush()
                frames += 1
        except KeyboardInterrupt:
            # Ctrl-C is how a watch ends.
            print()
    return OK


def _status_data(store: QueueStore, minutes: int) -> dict[str, object]:
    return {
        "queues": render.stats_data(store.stats()),
        "throughput": render.throughput_data(store.throughput(minutes)),
    }


def _status_text(store: QueueStore, url: str) -> str:
    stats = store.stats()
    if not stats:
        return f"no jobs in {redact(url)}"
    rows = [
        (
            render.cell(queue),
            str(s.ready),
            str(s.scheduled),
            str(s.running),
            str(s.succeeded),
            str(s.failed),
            table.age(s.oldest_ready_age),
        )
        for queue, s in sorted(stats.items())
    ]
    return table.render(STATUS_HEADERS, rows)


def jobs(args: argparse.Namespace) -> int:
    """A page of jobs, newest first, filtered; the next page with --before."""
    url = store_url(args)
    with opened(url, existing=True) as store:
        page = store.list_jobs(
            status=None if args.status is None else JobStatus(args.status),
            queue=args.queue,
            job_type=args.job_type,
            limit=args.limit,
            before=args.before,
        )
        now = store.clock.now()
    if args.json:
        data = {
            "jobs": [render.job_data(job) for job in page.jobs],
            "next_before": page.next_before,
        }
        print(render.as_json(data))
        return OK
    if not page.jobs:
        print("no jobs match")
        return OK
    print(render.jobs_table(page.jobs, now))
    if page.next_before is not None:
        print(f"more: add --before {render.cell(page.next_before)}")
    return OK


def show(args: argparse.Namespace) -> int:
    """One job whole: its fields, meta, payload, and the last error with its traceback."""
    url = store_url(args)
    with opened(url, existing=True) as store:
        job = store.get_job(args.job_id)
    if job is None:
        raise CliError(f"no job with id {render.cell(args.job_id)!r}")
    print(render.as_json(render.job_data(job)) if args.json else render.job_text(job))
    return OK


def workers(args: argparse.Namespace) -> int:
    """The worker registry: each worker, alive or dead, and the jobs it runs; or, with
    --remove-dead, remove the dead ones."""
    url = store_url(args)
    with opened(url, existing=True) as store:
        if args.remove_dead:
            removed = store.remove_dead_workers(store.clock.now())
            print(f"removed {removed} dead worker{'' if removed == 1 else 's'}")
            return OK
        found = store.workers()
        now = store.clock.now()
    if args.json:
        print(render.as_json({"workers": [render.worker_data(w, now) for w in found]}))
        return OK
    if not found:
        print("no workers registered")
        return OK
    print(render.workers_table(found, now))
    return OK
