"""The rows the store reads, and the mapping from them to the inert Job value.

Each row type's fields are its select list (statements.py builds it with `select_list`), and
its row factory makes it from the values in that order, so a column is read by its name and
can't be taken for another. Rows that carry more than the job nest the job's columns as `job`:
each select list names the job's columns once, whatever follows them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple, TypeVar

from psycopg.rows import RowFactory, RowMaker

from proletarian.adapters.common import decode_meta
from proletarian.core.errors import SerializationError
from proletarian.core.job import Job, JobError, JobStatus, Priority
from proletarian.ports.serializer import Serializer

R = TypeVar("R")


class JobRow(NamedTuple):
    """A job's columns, as both tables have them."""

    job_id: Any
    queue: str
    job_type: str
    payload: str
    priority: int
    attempts: int
    abandons: int
    enqueued_at: datetime
    process_at: datetime
    meta: str | None
    error_type: str | None
    error_message: str | None
    error_traceback: str | None


JOB_COLUMNS: tuple[str, ...] = JobRow._fields


class ClaimRow(NamedTuple):
    """A transactional claim's row: the job, and whether its last claim was abandoned."""

    job: JobRow
    abandoned: bool


class FoundRow(NamedTuple):
    """A get_job row: the job, the archive's columns (None while it is queued), and whether a
    claim holds it."""

    job: JobRow
    status: str | None
    started_at: datetime | None
    finished_at: datetime | None
    running: bool


class StatsRow(NamedTuple):
    """One queue's counts, as stats reads them."""

    queue: str
    ready: int
    scheduled: int
    running: int
    succeeded: int
    failed: int
    oldest_ready: datetime | None


def select_list(fields: Sequence[str], values: Mapping[str, str]) -> str:
    """The SQL select list of a row type's `fields`: each field's value (an SQL expression)
    from `values`, in the fields' order. ValueError unless `values` names every field once."""
    if set(values) != set(fields):
        raise ValueError(f"select list for {list(fields)} given values for {list(values)}")
    return ", ".join(values[name] for name in fields)


def _after_job(make: Callable[[Iterable[Any]], R]) -> RowFactory[R]:
    """The row factory of a row type whose first field is the job's columns, nested."""
    width = len(JOB_COLUMNS)

    def make_row(values: Sequence[Any]) -> R:
        return make((JobRow._make(values[:width]), *values[width:]))

    def factory(cursor: Any) -> RowMaker[R]:
        return make_row

    return factory


def job_rows(cursor: Any) -> RowMaker[JobRow]:
    return JobRow._make


def stats_rows(cursor: Any) -> RowMaker[StatsRow]:
    return StatsRow._make


claim_rows = _after_job(ClaimRow._make)
found_rows = _after_job(FoundRow._make)


def decoded(serializer: Serializer, row: JobRow) -> tuple[Any, JobError | None]:
    """The payload, or None and the decode error for a payload the serializer can't read."""
    try:
        return serializer.loads(row.payload), None
    except SerializationError as exc:
        return None, JobError(type="SerializationError", message=str(exc))


def to_job(
    row: JobRow,
    *,
    payload: Any,
    status: JobStatus,
    started_at: datetime | None = None,
    finished_at: datetime | None = None,
) -> Job:
    return Job(
        id=str(row.job_id),
        queue=row.queue,
        job_type=row.job_type,
        payload=payload,
        priority=Priority(row.priority),
        attempts=row.attempts,
        abandons=row.abandons,
        enqueued_at=utc(row.enqueued_at),
        process_at=utc(row.process_at),
        status=status,
        meta=decode_meta(row.meta),
        error=error_of(row),
        started_at=None if started_at is None else utc(started_at),
        finished_at=None if finished_at is None else utc(finished_at),
    )


def found_job(row: FoundRow, payload: Any, now: datetime) -> Job:
    """The job of a get_job row, archived, held by a claim, or waiting."""
    if row.status is not None:
        status = JobStatus(row.status)
    elif row.running:
        status = JobStatus.RUNNING
    else:
        status = JobStatus.SCHEDULED if row.job.process_at > now else JobStatus.READY
    return to_job(
        row.job,
        payload=payload,
        status=status,
        started_at=row.started_at,
        finished_at=row.finished_at,
    )


def error_of(row: JobRow) -> JobError | None:
    if row.error_type is None:
        return None
    return JobError(
        type=row.error_type,
        message=row.error_message or "",
        traceback=row.error_traceback or "",
    )


def utc(value: datetime) -> datetime:
    """psycopg gives timestamptz in the session's time zone; jobs show UTC."""
    return value.astimezone(UTC)
