"""The leased claim of a MemoryStore job. Its collaborators, the store's shared state among
them, are passed in; nothing here reads the store."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from proletarian.adapters.common import new_token
from proletarian.adapters.memory.state import Record, State, to_job
from proletarian.core.errors import SerializationError
from proletarian.core.job import JobError, JobStatus
from proletarian.ports.clock import Clock
from proletarian.ports.serializer import Serializer


def lease_job(
    state: State,
    *,
    serializer: Serializer,
    clock: Clock,
    lease: timedelta,
    queues: Sequence[str],
    worker_id: str,
) -> MemoryClaim | None:
    """Lease the most urgent due job of `queues`, first giving back the jobs whose lease
    expired (each such attempt counted abandoned)."""
    now = clock.now()
    with state.lock:
        state.release_expired(now)
        record = state.take_next(queues, now)
        if record is None:
            return None
        token = record.locked_by = new_token(worker_id)
        record.locked_until = now + lease
        state.leased(record)
        decode_error: JobError | None = None
        payload: Any = None
        try:
            payload = serializer.loads(record.payload)
        except SerializationError as exc:
            decode_error = JobError(type="SerializationError", message=str(exc))
        return MemoryClaim(
            state,
            record,
            token,
            clock=clock,
            lease=lease,
            started_at=now,
            payload=payload,
            decode_error=decode_error,
        )


class MemoryClaim:
    """A leased claim on a MemoryStore job."""

    connection: None = None

    def __init__(
        self,
        state: State,
        record: Record,
        token: str,
        *,
        clock: Clock,
        lease: timedelta,
        started_at: datetime,
        payload: Any,
        decode_error: JobError | None,
    ) -> None:
        self._state = state
        self._record = record
        self._token = token
        self._clock = clock
        self._lease = lease
        self._started_at = started_at
        self.decode_error = decode_error
        # One Job, built with the payload decoded here: no second decode, no evolve.
        self.job = to_job(record, payload=payload, status=JobStatus.RUNNING)

    @property
    def lease(self) -> timedelta:
        return self._lease

    def renew(self) -> None:
        state = self._state
        with state.lock:
            state.holding(self._record, self._token)
            self._record.locked_until = self._clock.now() + self._lease
            state.leased(self._record)

    def succeed(self) -> None:
        self._archive(JobStatus.SUCCEEDED, None)

    def fail(self, error: JobError) -> None:
        self._archive(JobStatus.FAILED, error)

    def _archive(self, status: JobStatus, error: JobError | None) -> None:
        state = self._state
        now = self._clock.now()
        with state.lock:
            state.holding(self._record, self._token)
            record = state.jobs.pop(self._record.id)
            record.attempts += 1
            record.locked_by = record.locked_until = None
            record.status, record.error = status, error
            record.started_at, record.finished_at = self._started_at, now
            state.archive[record.id] = record

    def retry_at(self, when: datetime, error: JobError) -> None:
        state = self._state
        with state.lock:
            state.holding(self._record, self._token)
            record = self._record
            record.attempts += 1
            record.locked_by = record.locked_until = None
            record.process_at, record.error = when, error
            state.push(record)
        state.wake({record.queue})

    def interrupt(self) -> None:
        """Nothing is held for the handler: outcomes need only the lease's token."""

    def abandon(self) -> None:
        state = self._state
        with state.lock:
            state.holding(self._record, self._token)
            record = self._record
            record.locked_by = record.locked_until = None
            state.push(record)
        state.wake({record.queue})
