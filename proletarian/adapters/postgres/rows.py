"""Rows to Jobs: the mapping from the tables' columns to the inert Job value."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from proletarian.adapters.common import decode_meta
from proletarian.adapters.postgres.statements import JOB_COLUMNS
from proletarian.core.errors import SerializationError
from proletarian.core.job import Job, JobError, JobStatus, Priority
from proletarian.ports.serializer import Serializer

# Positions in a row of statements.JOB_COLUMNS, by name.
_POSITION = {name: i for i, name in enumerate(JOB_COLUMNS.split(", "))}
ID, QUEUE, JOB_TYPE, PAYLOAD = (_POSITION[n] for n in ("job_id", "queue", "job_type", "payload"))
PRIORITY, ATTEMPTS, ABANDONS = (_POSITION[n] for n in ("priority", "attempts", "abandons"))
ENQUEUED_AT, PROCESS_AT, META = (_POSITION[n] for n in ("enqueued_at", "process_at", "meta"))
ERROR_TYPE, ERROR_MESSAGE, ERROR_TRACEBACK = (
    _POSITION[n] for n in ("error_type", "error_message", "error_traceback")
)
# A claim's row (statements.CLAIM_COLUMNS) goes on with whether its last claim was abandoned.
CLAIM_ABANDONED = len(_POSITION)
# A get_job row (statements._GET_JOB) goes on with the archive's columns and whether it runs.
STATUS, STARTED_AT, FINISHED_AT, RUNNING = range(len(_POSITION), len(_POSITION) + 4)


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
) -> Job:
    return Job(
        id=str(row[ID]),
        queue=row[QUEUE],
        job_type=row[JOB_TYPE],
        payload=payload,
        priority=Priority(row[PRIORITY]),
        attempts=row[ATTEMPTS],
        abandons=row[ABANDONS],
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
