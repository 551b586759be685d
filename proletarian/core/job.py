"""The job as an inert value: what was enqueued, and what became of it."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs

from proletarian.core import names
from proletarian.core.errors import ConfigurationError

MAX_META_ITEMS = 32
MAX_META_LENGTH = 1024


class Priority(enum.Enum):
    """How urgent a job is. A lower value is claimed first: CRITICAL > HIGH > NORMAL > LOW."""

    CRITICAL = 0
    HIGH = 1
    NORMAL = 2
    LOW = 3


class JobStatus(enum.Enum):
    READY = "ready"
    SCHEDULED = "scheduled"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


# The most of an error the stores keep: a type name as long as a job type, a message of a few
# screens, and a traceback deep enough for any real stack; the rest is cut in the middle.
MAX_ERROR_TYPE = 255
MAX_ERROR_MESSAGE = 10_000
MAX_ERROR_TRACEBACK = 100_000


def _error_type(value: str) -> str:
    return names.storable(value, MAX_ERROR_TYPE)


def _error_message(value: str) -> str:
    return names.storable(value, MAX_ERROR_MESSAGE)


def _error_traceback(value: str) -> str:
    return names.storable(value, MAX_ERROR_TRACEBACK)


@attrs.frozen(kw_only=True)
class JobError:
    """What went wrong in one attempt: the exception type, its message and the traceback text.
    Each is made storable when the error is built (see `names.storable`), so no store can refuse
    to record it."""

    type: str = attrs.field(converter=_error_type)
    message: str = attrs.field(converter=_error_message)
    traceback: str = attrs.field(default="", converter=_error_traceback)


def aware(value: datetime | None, *, what: str) -> datetime | None:
    """Refuse naive datetimes: proletarian stores UTC and cannot guess a naive value's zone."""
    if value is not None and not isinstance(value, datetime):
        raise ConfigurationError(f"{what} must be a datetime, got {type(value).__name__}")
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise ConfigurationError(f"{what} must be timezone-aware, got naive {value.isoformat()}")
    return value


def _check_aware(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    aware(value, what=attribute.name)


def _check_process_at(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    """An aware datetime that UTC, which every store holds, can represent."""
    if aware(value, what=attribute.name) is None:
        return
    try:
        value.astimezone(UTC)
    except OverflowError:
        # Only a zone's offset can push a representable time out of range in UTC: a zone west
        # of UTC pushes it later, one east of it earlier.
        west = value.utcoffset() < timedelta(0)
        side = "later than the year 9999" if west else "earlier than the year 1"
        raise ConfigurationError(f"{attribute.name} {value.isoformat()} is {side} in UTC") from None


def _check_label(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    names.label(value, what=attribute.name)


def _check_priority(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, Priority):
        raise ConfigurationError(f"priority must be a proletarian.Priority, got {value!r}")


def check_meta(meta: Mapping[str, str]) -> dict[str, str]:
    """A job's meta is a small map of strings to strings (request ids, trace ids, tenants)."""
    if not isinstance(meta, Mapping):
        raise ConfigurationError(f"meta must be a mapping of str to str, got {type(meta).__name__}")
    if len(meta) > MAX_META_ITEMS:
        raise ConfigurationError(f"meta has {len(meta)} items; at most {MAX_META_ITEMS} allowed")
    for key, value in meta.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise ConfigurationError(f"meta must map str to str, got {key!r}: {value!r}")
        names.text(key, what="meta key")
        names.text(value, what=f"meta value of {key!r}")
        if len(key) + len(value) > MAX_META_LENGTH:
            raise ConfigurationError(f"meta item {key[:40]!r} is over {MAX_META_LENGTH} chars")
    return dict(meta)


@attrs.frozen
class NewJob:
    """A job to enqueue: `NewJob("send-email", payload, queue=..., ...)`. `process_at` in the
    past means now; give it or `process_in`, not both. Every store holds times in UTC up to the
    end of year 9999: a later due time raises ConfigurationError (for `process_in`, from
    `due_at`, when the store enqueues)."""

    job_type: str = attrs.field(validator=_check_label)
    payload: Any
    queue: str = attrs.field(default="default", validator=_check_label, kw_only=True)
    priority: Priority = attrs.field(
        default=Priority.NORMAL, validator=_check_priority, kw_only=True
    )
    process_at: datetime | None = attrs.field(
        default=None, validator=_check_process_at, kw_only=True
    )
    process_in: timedelta | None = attrs.field(default=None, kw_only=True)
    meta: Mapping[str, str] = attrs.field(factory=dict, converter=check_meta, kw_only=True)

    def __attrs_post_init__(self) -> None:
        if self.process_at is not None and self.process_in is not None:
            raise ConfigurationError("give process_at or process_in, not both")
        if self.process_in is not None and not isinstance(self.process_in, timedelta):
            raise ConfigurationError(f"process_in must be a timedelta, got {self.process_in!r}")

    def due_at(self, now: datetime) -> datetime:
        """When the job becomes claimable, given the current time."""
        if self.process_in is not None:
            try:
                return now + max(self.process_in, timedelta(0))
            except OverflowError:
                raise ConfigurationError(
                    f"process_in {self.process_in} from {now.isoformat()} is later than the "
                    "year 9999"
                ) from None
        if self.process_at is not None and self.process_at > now:
            return self.process_at
        return now


@attrs.frozen(kw_only=True)
class Job:
    """A job as a store holds it. `attempts` counts finished attempts; `attempt` is the current,
    1-based one (the attempt a handler is running). `abandons` counts the attempts that ended
    without an outcome: the worker died (perhaps killed by this very job) or lost the store while
    running it."""

    id: str
    queue: str
    job_type: str
    payload: Any
    priority: Priority = Priority.NORMAL
    attempts: int = 0
    abandons: int = 0
    enqueued_at: datetime = attrs.field(validator=_check_aware)
    process_at: datetime = attrs.field(validator=_check_aware)
    status: JobStatus = JobStatus.READY
    meta: Mapping[str, str] = attrs.field(factory=dict)
    error: JobError | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None

    @property
    def attempt(self) -> int:
        return self.attempts + 1


@attrs.frozen(kw_only=True)
class QueueStats:
    """Counts for one queue; `oldest_ready_age` is how long the oldest due job has waited."""

    ready: int = 0
    scheduled: int = 0
    running: int = 0
    succeeded: int = 0
    failed: int = 0
    oldest_ready_age: timedelta | None = None
