"""Rows to Jobs: the mapping from the tables' columns to the inert Job value."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from proletarian.adapters.common import decode_meta
from proletarian.core.errors import SerializationError
from proletarian.core.job import Job, JobError, JobStatus, Priority
from proletarian.ports.serializer import Serializer

# Positions in a row of statements.JOB_COLUMNS, then get_job's extra columns.
ID, QUEUE, JOB_TYPE, PAYLOAD, PRIORITY, ATTEMPTS, ENQUEUED_AT, PROCESS_AT, META = range(9)
ERROR_TYPE, ERROR_MESSAGE, ERROR_TRACEBACK = 9, 10, 11
STATUS, STARTED_AT, FINISHED_AT, RUNNING, LEASED = 12, 13, 14, 15, 16
# A claim's row (statements.CLAIM_COLUMNS) ends with whether a leased claim held the job last.
RECLAIMED = 12


def decoded(serializer: Serializer, row: tuple[Any, ...]) -> tuple[Any, JobError | None]:
    """The payload, or None and the decode error for a payload the serializer can't read."""
    try:
        return serializer.loads(row[PAYLOAD]), None
    except SerializationError as exc:
        return None, JobError(type="SerializationError", message=str(exc))


def to_job(
    row: tuple[Any, ...],
    *,
    payload: Any,
    status: JobStatus,
    archived: bool = False,
    counted: bool = False,
) -> Job:
    """`counted`: the row's attempts include the running one (a leased claim counts it when it
    claims); a Job's `attempts` never do."""
    return Job(
        id=str(row[ID]),
        queue=row[QUEUE],
        job_type=row[JOB_TYPE],
        payload=payload,
        priority=Priority(row[PRIORITY]),
        attempts=row[ATTEMPTS] - 1 if counted else row[ATTEMPTS],
        enqueued_at=utc(row[ENQUEUED_AT]),
        process_at=utc(row[PROCESS_AT]),
        status=status,
        meta=decode_meta(row[META]),
        error=error_of(row),
        started_at=utc(row[STARTED_AT]) if archived else None,
        finished_at=utc(row[FINISHED_AT]) if archived else None,
    )


def status_of(row: tuple[Any, ...], now: datetime) -> JobStatus:
    """The status of a get_job row: archived, locked by an open claim, or waiting."""
    if row[STATUS] is not None:
        return JobStatus(row[STATUS])
    if row[RUNNING]:
        return JobStatus.RUNNING
    return JobStatus.SCHEDULED if row[PROCESS_AT] > now else JobStatus.READY


def error_of(row: tuple[Any, ...]) -> JobError | None:
    if row[ERROR_TYPE] is None:
        return None
    return JobError(
        type=row[ERROR_TYPE], message=row[ERROR_MESSAGE] or "", traceback=row[ERROR_TRACEBACK] or ""
    )


def utc(value: datetime) -> datetime:
    """psycopg gives timestamptz in the session's time zone; jobs show UTC."""
    return value.astimezone(UTC)
