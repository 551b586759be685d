"""A leased claim on a job in Redis. Its collaborators, the store's way of running a script
among them, are passed in; nothing here reads the store."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

import attrs

from proletarian.adapters.common import new_token
from proletarian.adapters.redis.codec import dump_error, fields, load_payload, micros, to_job
from proletarian.core.errors import ClaimLost
from proletarian.core.job import JobError, JobStatus
from proletarian.ports.clock import Clock
from proletarian.ports.serializer import Serializer

LOST = 0


class Call(Protocol):
    """Runs one of the store's scripts (see scripts.NAMES) with its prefix and these arguments,
    redis-py's errors translated; its result as the script returns it."""

    def __call__(self, script: str, *args: str | int) -> Any: ...


def lease_job(
    call: Call,
    *,
    serializer: Serializer,
    clock: Clock,
    lease: timedelta,
    archive_retention: int | None,
    queues: Sequence[str],
    worker_id: str,
) -> RedisClaim | None:
    """Lease the most urgent ready job of `queues` with one script (see RedisStore.claim)."""
    if not queues:
        return None
    now = clock.now()
    token = new_token(worker_id)
    found = call("claim", micros(now), micros(now + lease), token, *queues)
    if found is None:
        return None
    job = fields(found)
    payload, decode_error = load_payload(serializer, job["payload"])
    return RedisClaim(
        call,
        job,
        token,
        clock=clock,
        lease=lease,
        archive_retention=archive_retention,
        started_at=now,
        payload=payload,
        decode_error=decode_error,
    )


class RedisClaim:
    """A job held under a lease by one worker thread. Each outcome is one script that first
    checks the lease is still this claim's (ClaimLost otherwise). A lease that lapsed while no
    other worker took the job still lets its holder record the outcome.

    An outcome re-sent by redis-py after a dropped connection lost its reply is recognised and
    not applied twice."""

    connection: None = None

    def __init__(
        self,
        call: Call,
        job: Mapping[str, str],
        token: str,
        *,
        clock: Clock,
        lease: timedelta,
        archive_retention: int | None,
        started_at: datetime,
        payload: Any,
        decode_error: JobError | None,
    ) -> None:
        self._call = call
        self._token = token
        self._clock = clock
        self._lease = lease
        self._archive_retention = archive_retention
        self._started_at = started_at
        self.decode_error = decode_error
        self.job = attrs.evolve(to_job(job, payload, started_at), status=JobStatus.RUNNING)

    @property
    def lease(self) -> timedelta:
        return self._lease

    def renew(self) -> None:
        until = self._clock.now() + self._lease
        self._run("renew", micros(until))

    def succeed(self) -> None:
        self._finish(JobStatus.SUCCEEDED, None)

    def fail(self, error: JobError) -> None:
        self._finish(JobStatus.FAILED, error)

    def _finish(self, status: JobStatus, error: JobError | None) -> None:
        retention = -1 if self._archive_retention is None else self._archive_retention
        finished = micros(self._clock.now())
        started = micros(self._started_at)
        self._run("finish", status.value, started, finished, dump_error(error), retention)

    def retry_at(self, when: datetime, error: JobError) -> None:
        self._run("retry", micros(when), dump_error(error), micros(self._clock.now()))

    def interrupt(self) -> None:
        """Nothing is held for the handler: outcomes need only the lease's token."""

    def abandon(self) -> None:
        self._run("abandon", micros(self._clock.now()))

    def _run(self, script: str, *args: str | int) -> None:
        job = self.job
        if int(self._call(script, job.id, job.queue, self._token, *args)) == LOST:
            raise ClaimLost(
                f"job {job.id} is no longer held by this claim (its lease expired and another "
                "worker took it, or it was cancelled)"
            )

    def __repr__(self) -> str:
        return f"<RedisClaim job={self.job.id!r} queue={self.job.queue!r} token={self._token!r}>"
