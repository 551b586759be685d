"""What every store does the same way before touching storage: encode a new job into the plain
values a row (or hash) holds, and refuse a `conn=` of the wrong kind."""

from __future__ import annotations

import json
import secrets
import warnings
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

import attrs

from proletarian.core.errors import ConfigurationError, SerializationError
from proletarian.core.job import JobError, JobStatus, NewJob
from proletarian.core.names import unstorable
from proletarian.ports.ids import JobIdStrategy
from proletarian.ports.serializer import Serializer

DEFAULT_LEASE = timedelta(seconds=30)


@attrs.frozen(kw_only=True)
class Row:
    """A new job as stored values. `id` is None when the database assigns it."""

    id: str | None
    queue: str
    job_type: str
    payload: str
    priority: int
    enqueued_at: datetime
    process_at: datetime
    meta: str


def encode(job: NewJob, *, serializer: Serializer, ids: JobIdStrategy, now: datetime) -> Row:
    """Serialize first, so a payload that can't be encoded fails before anything is written."""
    if not isinstance(job, NewJob):
        raise ConfigurationError(f"expected a proletarian.NewJob, got {type(job).__name__}")
    payload = serializer.dumps(job.payload)
    # Checked here for every serializer, so no store writes what another would refuse.
    if not isinstance(payload, str):
        raise SerializationError(
            f"{type(serializer).__name__}.dumps returned a {type(payload).__name__}, not a str"
        )
    problem = unstorable(payload)
    if problem is not None:
        raise SerializationError(f"the serialized payload contains {problem}")
    return Row(
        id=ids.new_id(),
        queue=job.queue,
        job_type=job.job_type,
        payload=payload,
        priority=job.priority.value,
        enqueued_at=now,
        process_at=job.due_at(now),
        meta=encode_meta(job.meta),
    )


def encode_meta(meta: Mapping[str, str]) -> str:
    return json.dumps(dict(meta), separators=(",", ":")) if meta else ""


def decode_meta(text: str | None) -> dict[str, str]:
    if not text:
        return {}
    value = json.loads(text)
    return {str(k): str(v) for k, v in value.items()}


def deprecated(old: str, new: str) -> None:
    """Warn that `old` is a spelling kept for callers of an earlier release: use `new`."""
    warnings.warn(f"{old} is deprecated: use {new}", DeprecationWarning, stacklevel=3)


def check_conn(conn: Any, expected: tuple[type, ...] | type, store: str) -> None:
    """Refuse a caller's connection of another driver: a job written there would never be seen."""
    if conn is not None and not isinstance(conn, expected):
        names = expected if isinstance(expected, tuple) else (expected,)
        wanted = " or ".join(f"{t.__module__}.{t.__qualname__}" for t in names)
        raise ConfigurationError(
            f"{store} needs conn= to be a {wanted}, got {type(conn).__module__}."
            f"{type(conn).__qualname__}"
        )


def new_token(worker_id: str) -> str:
    """A claim token: which worker holds the job, and which of its claims it is."""
    return f"{worker_id}/{secrets.token_hex(6)}"


def queued_status(process_at: datetime, locked_until: datetime | None, now: datetime) -> JobStatus:
    """The status of a job still on a queue, given its lease (if any) and the time."""
    if locked_until is not None and locked_until > now:
        return JobStatus.RUNNING
    return JobStatus.SCHEDULED if process_at > now else JobStatus.READY


def error_params(error: JobError | None) -> tuple[str | None, str | None, str | None]:
    """An outcome's error columns: type, message and traceback, or three NULLs."""
    if error is None:
        return (None, None, None)
    return (error.type, error.message, error.traceback)


def utc_naive(value: datetime) -> datetime:
    """For columns that store UTC without a zone (MySQL DATETIME, SQLite text)."""
    offset = value.utcoffset()
    return (value - offset if offset else value).replace(tzinfo=None)


def prune_in_batches(delete: Callable[[int], int], limit: int | None, batch_size: int) -> int:
    """Call `delete(n)` (delete up to n, return how many) in batches until `limit` (all when
    None; checked by `core.pruning.prune_limit`) is reached or a batch comes back short;
    returns the total deleted."""
    left = limit
    total = 0
    while left is None or left > 0:
        batch = batch_size if left is None else min(left, batch_size)
        deleted = delete(batch)
        total += deleted
        if left is not None:
            left -= deleted
        if deleted < batch:
            break
    return total
