"""Job hashes as Redis holds them, to and from proletarian's values.

Timestamps are integer microseconds since the Unix epoch (UTC): exact, comparable in Lua, and
usable as sorted-set scores. Values come back as bytes from a client built by the store, or as
str from a caller's client with `decode_responses=True`; both are accepted.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from proletarian.adapters.common import decode_meta, queued_status
from proletarian.core.errors import SerializationError
from proletarian.core.job import Job, JobError, JobStatus, Priority
from proletarian.ports.serializer import Serializer

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


def micros(value: datetime) -> int:
    return (value - EPOCH) // MICROSECOND


def from_micros(value: str | int) -> datetime:
    return EPOCH + int(value) * MICROSECOND


def text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def fields(flat: Sequence[bytes | str]) -> dict[str, str]:
    """A hash from its HGETALL form as a Lua script returns it: [field, value, field, ...]."""
    items = [text(v) for v in flat]
    return dict(zip(items[::2], items[1::2], strict=True))


def dump_error(error: JobError | None) -> str:
    if error is None:
        return ""
    return json.dumps(
        {"type": error.type, "message": error.message, "traceback": error.traceback},
        separators=(",", ":"),
    )


def load_error(value: str | None) -> JobError | None:
    if not value:
        return None
    data = json.loads(value)
    return JobError(type=data["type"], message=data["message"], traceback=data["traceback"])


def load_payload(serializer: Serializer, value: str) -> tuple[Any, JobError | None]:
    """The decoded payload, or None and the decode error for a payload that can't be read."""
    try:
        return serializer.loads(value), None
    except SerializationError as exc:
        return None, JobError(type="SerializationError", message=str(exc))


def to_job(job: Mapping[str, str], payload: Any, now: datetime) -> Job:
    """A job from its hash; the status follows the lease's expiry, as in MemoryStore."""
    leased = "locked_by" in job
    if "status" in job:
        status = JobStatus(job["status"])
    else:
        locked_until = from_micros(job["locked_until"]) if leased else None
        status = queued_status(from_micros(job["process_at"]), locked_until, now)
    return Job(
        id=job["id"],
        queue=job["queue"],
        job_type=job["job_type"],
        payload=payload,
        priority=Priority(int(job["priority"])),
        attempts=int(job["attempts"]),
        abandons=int(job.get("abandons", 0)),
        enqueued_at=from_micros(job["enqueued_at"]),
        process_at=from_micros(job["process_at"]),
        status=status,
        meta=decode_meta(job.get("meta")),
        error=load_error(job.get("error")),
        started_at=from_micros(job["started_at"]) if "started_at" in job else None,
        finished_at=from_micros(job["finished_at"]) if "finished_at" in job else None,
    )
