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
# A unique key is an index key on every SQL store: 255 characters fit MySQL's index limit.
MAX_UNIQUE_KEY_LENGTH = 255
# A key held for longer than this after its job finished is a mistake (and would overflow).
MAX_UNIQUE_FOR = timedelta(days=3650)


class JobId(str):
    """A job's id as `enqueue` returns it: a `str` (use it anywhere an id goes), that also says
    whether this call created the job.

    Attributes:
        created: True when the call created a job; False when the job's `unique_key` was held
            and the id is that of the job holding it (nothing was written).
    """

    created: bool

    def __new__(cls, value: str, *, created: bool = True) -> JobId:
        job_id = super().__new__(cls, value)
        job_id.created = created
        return job_id

    def __getnewargs_ex__(self) -> tuple[tuple[str], dict[str, bool]]:
        return (str(self),), {"created": self.created}


class Priority(enum.Enum):
    """How urgent a job is. Among the due jobs of a queue, a more urgent one is claimed first:
    CRITICAL, then HIGH, NORMAL (the default) and LOW; within a priority, the earlier due job.
    The stores keep the value (0 to 3; lower is more urgent)."""

    CRITICAL = 0
    HIGH = 1
    NORMAL = 2
    LOW = 3


class JobStatus(enum.Enum):
    """Where a job is, as `store.get_job` reports it. The value is the text the archive's
    `status` column and `proletarian status` use."""

    READY = "ready"
    """Queued and due: the next claim of its queue may take it."""
    SCHEDULED = "scheduled"
    """Queued, due later (`process_at`, `process_in`, or a retry's delay)."""
    RUNNING = "running"
    """Claimed: a worker holds it (a claim's transaction or an unexpired lease)."""
    SUCCEEDED = "succeeded"
    """Archived after its handler returned."""
    FAILED = "failed"
    """Archived after its last attempt failed, or after too many abandoned attempts."""


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
    """What went wrong in an attempt, as stored with the job.

    Each text is made storable when the error is built, so no store can refuse it: NUL and
    lone surrogates are escaped, and an over-long text is cut in the middle.

    Attributes:
        type: The exception's qualified class name (at most 255 characters), e.g.
            `ConnectionError` or `JobTimeout`.
        message: `str()` of the exception (at most 10,000 characters).
        traceback: The formatted traceback (at most 100,000 characters), or "".
    """

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


def _check_unique_key(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is None:
        return
    names.text(value, what="unique_key")
    if not value or len(value) > MAX_UNIQUE_KEY_LENGTH:
        raise ConfigurationError(
            f"unique_key {value[:40]!r} must be 1 to {MAX_UNIQUE_KEY_LENGTH} characters"
        )


def _check_unique_for(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, timedelta):
        raise ConfigurationError(f"unique_for must be a timedelta, got {value!r}")
    if not timedelta(0) <= value <= MAX_UNIQUE_FOR:
        raise ConfigurationError(
            f"unique_for must be between 0 and {MAX_UNIQUE_FOR.days} days, got {value}"
        )


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
    """A job to enqueue with `enqueue_many`; `enqueue` builds one from its arguments. The fields
    are checked when it is built: ConfigurationError names the first bad one.

    Every store holds times in UTC up to the end of year 9999: a later due time raises
    ConfigurationError (for `process_in`, when the store enqueues the job).

    Args:
        job_type: What the handler dispatches on, e.g. "send-email". Not empty, at most 255
            characters, no NUL or lone surrogate.
        payload: The job's data, encoded by the store's serializer (JSON by default) when
            the job is enqueued.
        queue: The queue a worker takes it from; the same rules as `job_type`.
        priority: Among due jobs of the queue, more urgent ones are claimed first.
        process_at: When the job becomes due (timezone-aware); a time in the past means now.
        process_in: How long from enqueueing until the job is due; negative means now. Give
            `process_at` or `process_in`, not both; neither means now.
        meta: A small map of strings (at most 32 items, each key and value together at most
            1,024 characters) stored with the job: request ids, trace ids, the tenant.
            Handlers see it as `job.meta`.
        unique_key: While a job with this key is scheduled, ready or running (and for
            `unique_for` after it finished), enqueueing the key again creates nothing and
            returns that job's id (`JobId.created` is False). Any text of 1 to 255 characters
            with no NUL or lone surrogate, compared exactly (case and spaces count). See
            docs/unique-jobs.md.
        unique_for: How long the key stays held after the job succeeded or failed; 0 (the
            default) frees it when the job finishes. A cancelled job frees it at once. Only
            with `unique_key`.
    """

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
    unique_key: str | None = attrs.field(default=None, validator=_check_unique_key, kw_only=True)
    unique_for: timedelta = attrs.field(
        default=timedelta(0), validator=_check_unique_for, kw_only=True
    )

    def __attrs_post_init__(self) -> None:
        if self.process_at is not None and self.process_in is not None:
            raise ConfigurationError("give process_at or process_in, not both")
        if self.unique_key is None and self.unique_for != timedelta(0):
            raise ConfigurationError("unique_for needs a unique_key")
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
    """A job as a store holds it: what a handler in advanced mode gets, and what
    `store.get_job` returns. An inert value: changing the job means a store call.

    Attributes:
        id: The job's id, as `enqueue` returned it.
        queue: The queue it was enqueued on.
        job_type: The type given at enqueue.
        payload: The decoded payload, or None when it could not be decoded (the job then
            fails with a SerializationError, without running).
        priority: Its priority.
        attempts: Attempts that ended with an outcome (success, retry or failure).
        abandons: Attempts that ended without one: the worker died (perhaps killed by this
            very job) or lost the store while running it.
        enqueued_at: When it was enqueued (aware, UTC).
        process_at: When it is, or became, due (aware, UTC).
        status: Where it is: ready, scheduled, running, or archived as succeeded or failed.
        meta: The string map given at enqueue.
        error: The last attempt's error, once one failed; None otherwise.
        started_at: When the last attempt started; set on archived jobs.
        finished_at: When it was archived; set on archived jobs.
    """

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
        """The attempt a handler is running, 1-based: `attempts + 1`."""
        return self.attempts + 1


@attrs.frozen(kw_only=True)
class QueueStats:
    """Counts for one queue, as `store.stats()` reports them.

    Attributes:
        ready: Queued jobs that are due and not claimed.
        scheduled: Queued jobs due later.
        running: Jobs claimed by a worker now.
        succeeded: Archived jobs that succeeded (those not yet pruned).
        failed: Archived jobs that failed (those not yet pruned).
        oldest_ready_age: How long the oldest due job has waited since it became due; None
            when no job is ready.
    """

    ready: int = 0
    scheduled: int = 0
    running: int = 0
    succeeded: int = 0
    failed: int = 0
    oldest_ready_age: timedelta | None = None
