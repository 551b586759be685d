"""What operators read and act on: a page of jobs, a filter, a worker in the registry, and
throughput per minute. Values only; the stores fill them and the CLI (and a dashboard) show
them. Every rule about them that needs no storage lives here, so the stores agree."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

import attrs

from proletarian.core import names
from proletarian.core.errors import ConfigurationError
from proletarian.core.job import Job, JobStatus, aware

# A page of jobs is at most this long: a page is one indexed range read, never the archive.
MAX_PAGE = 1000
# Bulk actions touch at most this many jobs per transaction, so the aftermath of an outage
# never holds one huge transaction (or, on Redis, one long script).
BULK_BATCH = 500
# A worker missing this many heartbeats in a row is dead: one late heartbeat (a long GC pause,
# a slow store) is not enough.
DEAD_AFTER_BEATS = 3
# How far back throughput may look: an hour of minutes is what a terminal or a page shows.
MAX_THROUGHPUT_MINUTES = 24 * 60

QUEUED = frozenset({JobStatus.READY, JobStatus.SCHEDULED, JobStatus.RUNNING})
ARCHIVED = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED})


def _optional_label(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None:
        names.label(value, what=attribute.name)


def _check_status(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and not isinstance(value, JobStatus):
        raise ConfigurationError(f"status must be a proletarian.JobStatus, got {value!r}")


@attrs.frozen(kw_only=True)
class JobFilter:
    """Which jobs a listing or a bulk action takes: every given field must match.

    Attributes:
        status: One status, or None for all of them.
        queue: One queue, or None for all.
        job_type: One job type, or None for all.
    """

    status: JobStatus | None = attrs.field(default=None, validator=_check_status)
    queue: str | None = attrs.field(default=None, validator=_optional_label)
    job_type: str | None = attrs.field(default=None, validator=_optional_label)

    @property
    def wants_queued(self) -> bool:
        return self.status is None or self.status in QUEUED

    @property
    def wants_archived(self) -> bool:
        return self.status is None or self.status in ARCHIVED

    def matches(self, job: Job) -> bool:
        return (
            (self.status is None or job.status is self.status)
            and (self.queue is None or job.queue == self.queue)
            and (self.job_type is None or job.job_type == self.job_type)
        )


def page_limit(limit: int) -> int:
    """A page's length: 1 to MAX_PAGE."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        raise ConfigurationError(f"limit must be an int from 1 to {MAX_PAGE}, got {limit!r}")
    return limit


def cursor(before: str | None) -> str | None:
    """A page cursor is the last job id of the page before; checked as text, since each store
    reads its own kind of id."""
    if before is not None and (not isinstance(before, str) or not before):
        raise ConfigurationError(
            f"before must be a job id from a page's next_before, got {before!r}"
        )
    return before


@attrs.frozen(kw_only=True)
class JobPage:
    """A page of `list_jobs`: jobs newest first (by id: enqueue order for time-ordered ids
    such as the default UUIDv7 and database sequences).

    Attributes:
        jobs: The jobs of this page.
        next_before: Pass it as `before=` for the next page; None on the last page.
    """

    jobs: tuple[Job, ...]
    next_before: str | None


def newest_first(
    jobs: Iterable[Job], limit: int, key: Callable[[Job], Any] | None = None
) -> JobPage:
    """The page of the newest `limit` of `jobs`, by `key(job)` (the id, or the id as the
    store's column orders it), newest first. `jobs` are a store's filtered candidates, up to
    `limit + 1` from each of its tables: one more than the page says there is a next page."""
    order = sorted(jobs, key=key or (lambda job: job.id), reverse=True)
    page = tuple(order[:limit])
    more = len(order) > limit
    return JobPage(jobs=page, next_before=page[-1].id if more and page else None)


def _check_time(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    aware(value, what=attribute.name)


def _positive_interval(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, timedelta) or value <= timedelta(0):
        raise ConfigurationError(f"{attribute.name} must be a positive timedelta, got {value!r}")


def _labels(value: Iterable[str]) -> tuple[str, ...]:
    """A sequence of names as a tuple; a lone string would become its characters."""
    if isinstance(value, str):
        raise ConfigurationError(f"expected a sequence of names, got the string {value!r}")
    return tuple(value)


@attrs.frozen(kw_only=True)
class WorkerInfo:
    """One running worker as the registry holds it.

    Attributes:
        id: The worker's id (`QueueWorker(worker_id=...)`), unique among running workers.
        host: The machine it runs on.
        pid: Its process id there.
        queues: The queues it takes jobs from.
        threads: Its worker threads.
        version: The proletarian version it runs.
        started_at: When it registered (aware, UTC).
        last_seen: Its last heartbeat (aware, UTC).
        heartbeat_interval: How often it heartbeats; it is dead after DEAD_AFTER_BEATS missed.
        running: The ids of the jobs it was running at its last heartbeat.
    """

    id: str = attrs.field(validator=attrs.validators.instance_of(str))
    host: str
    pid: int
    queues: tuple[str, ...] = attrs.field(converter=_labels)
    threads: int
    version: str
    started_at: datetime = attrs.field(validator=_check_time)
    last_seen: datetime = attrs.field(validator=_check_time)
    heartbeat_interval: timedelta = attrs.field(validator=_positive_interval)
    running: tuple[str, ...] = attrs.field(default=(), converter=_labels)

    def __attrs_post_init__(self) -> None:
        if not self.id:
            raise ConfigurationError("a worker id must not be empty")

    def dead_at(self) -> datetime:
        """When the worker counts as dead if it heartbeats no more."""
        return self.last_seen + DEAD_AFTER_BEATS * self.heartbeat_interval

    def is_dead(self, now: datetime) -> bool:
        return now >= self.dead_at()


def dead_workers(workers: Sequence[WorkerInfo], now: datetime) -> list[str]:
    """The ids of the workers that missed DEAD_AFTER_BEATS heartbeats by `now`."""
    return [worker.id for worker in workers if worker.is_dead(now)]


@attrs.frozen(kw_only=True)
class MinuteCounts:
    """Jobs finished in one minute.

    Attributes:
        minute: The minute's start (aware, UTC, seconds zero).
        succeeded: Jobs archived as succeeded in that minute.
        failed: Jobs archived as failed in that minute.
    """

    minute: datetime
    succeeded: int = 0
    failed: int = 0


def throughput_minutes(minutes: int) -> int:
    if (
        isinstance(minutes, bool)
        or not isinstance(minutes, int)
        or not 1 <= minutes <= MAX_THROUGHPUT_MINUTES
    ):
        raise ConfigurationError(
            f"minutes must be an int from 1 to {MAX_THROUGHPUT_MINUTES}, got {minutes!r}"
        )
    return minutes


def minute_of(value: datetime) -> datetime:
    return value.replace(second=0, microsecond=0)


def throughput_since(now: datetime, minutes: int) -> datetime:
    """The first instant counted: the start of the oldest of the last `minutes` minutes, the
    current (partial) minute included."""
    return minute_of(now) - timedelta(minutes=throughput_minutes(minutes) - 1)


def by_minute(
    counts: Iterable[tuple[datetime, str, int]], now: datetime, minutes: int
) -> list[MinuteCounts]:
    """Every minute of the last `minutes`, oldest first, from (minute start, status, count)
    rows; minutes with no row count zero."""
    first = throughput_since(now, minutes)
    found: dict[datetime, dict[str, int]] = {}
    for minute, status, count in counts:
        found.setdefault(minute_of(minute), {})[status] = int(count)
    return [
        MinuteCounts(
            minute=minute,
            succeeded=found.get(minute, {}).get(JobStatus.SUCCEEDED.value, 0),
            failed=found.get(minute, {}).get(JobStatus.FAILED.value, 0),
        )
        for minute in (first + timedelta(minutes=i) for i in range(minutes))
    ]
