"""`proletarian schedules` lists schedules with their next ticks and the latest one enqueued;
`proletarian scheduler` runs them in a process of their own, until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
from datetime import datetime
from itertools import islice
from zoneinfo import ZoneInfo

from proletarian.cli import table
from proletarian.cli.errors import OK
from proletarian.cli.loading import load_schedules
from proletarian.cli.session import opened, store_url
from proletarian.cli.signals import StopSignals
from proletarian.cli.worker import configure_logging
from proletarian.core.schedule import Schedule
from proletarian.worker.log import logging_events
from proletarian.worker.scheduler import Scheduler

HEADERS = ("schedule", "when", "catch-up", "queue", "last enqueued", "next")


def list_schedules(args: argparse.Namespace) -> int:
    """One row per schedule: when it ticks, its latest tick in the store, and its next ticks
    (in the schedule's time zone)."""
    schedules = load_schedules(args.schedules)
    url = store_url(args)
    with opened(url, existing=True) as store:
        scheduler = Scheduler(store, schedules, log=logging_events)
        now = store.clock.now()
        latest = {s.name: scheduler.latest_tick(s) for s in schedules}
    rows = [
        (
            schedule.name,
            _when(schedule),
            str(schedule.catch_up),
            schedule.queue,
            _local(schedule, latest[schedule.name]),
            ", ".join(_local(schedule, t) for t in islice(schedule.ticks_after(now), args.next)),
        )
        for schedule in schedules
    ]
    print(table.render(HEADERS, rows, left=len(HEADERS)))
    return OK


def run_scheduler(args: argparse.Namespace) -> int:
    """Enqueue the schedules' ticks until a stop signal; exit 0."""
    schedules = load_schedules(args.schedules)
    url = store_url(args)
    configure_logging(args.log_level, args.log_format)
    with opened(url, existing=True) as store:
        scheduler = Scheduler(store, schedules, log=logging_events)
        with StopSignals() as signals:
            scheduler.start()
            signals.wait(lambda: False)
            scheduler.stop()
    return OK


def _when(schedule: Schedule) -> str:
    if schedule.cron is not None:
        return f"{schedule.cron} ({schedule.timezone})"
    return f"every {table.span(schedule.every)}" if schedule.every is not None else "-"


def _local(schedule: Schedule, tick: datetime | None) -> str:
    if tick is None:
        return "-"
    zone = ZoneInfo(schedule.timezone if schedule.cron is not None else "UTC")
    return f"{tick.astimezone(zone):%Y-%m-%d %H:%M:%S %Z}"
