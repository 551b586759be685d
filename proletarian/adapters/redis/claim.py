"""A leased claim on a job in Redis."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import attrs

from proletarian.adapters.redis.codec import dump_error, load_payload, micros, to_job
from proletarian.core.errors import ClaimLost
from proletarian.core.job import JobError, JobStatus

if TYPE_CHECKING:
    from proletarian.adapters.redis.store import RedisStore

LOST = 0


class RedisClaim:
    """A job held under a lease by one worker thread. Each outcome is one script that first
    checks the lease is still this claim's (ClaimLost otherwise). A lease that lapsed while no
    other worker took the job still lets its holder record the outcome.

    An outcome re-sent by redis-py after a dropped connection lost its reply is recognised and
    not applied twice."""

    connection: None = None

    def __init__(
        self, store: RedisStore, job: Mapping[str, str], token: str, now: datetime
    ) -> None:
        self._store = store
        self._token = token
        self._started_at = now
        payload, self.decode_error = load_payload(store.serializer, job["payload"])
        self.job = attrs.evolve(to_job(job, payload, now), status=JobStatus.RUNNING)

    @property
    def lease(self) -> timedelta:
        return self._store.lease

    def renew(self) -> None:
        until = self._store.clock.now() + self._store.lease
        self._run("renew", micros(until))

    def succeed(self) -> None:
        self._finish(JobStatus.SUCCEEDED, None)

    def fail(self, error: JobError) -> None:
        self._finish(JobStatus.FAILED, error)

    def _finish(self, status: JobStatus, error: JobError | None) -> None:
        store = self._store
        retention = -1 if store.archive_retention is None else store.archive_retention
        finished = micros(store.clock.now())
        started = micros(self._started_at)
        self._run("finish", status.value, started, finished, dump_error(error), retention)

    def retry_at(self, when: datetime, error: JobError) -> None:
        self._run("retry", micros(when), dump_error(error), micros(self._store.clock.now()))

    def interrupt(self) -> None:
        """Nothing is held for the handler: outcomes need only the lease's token."""

    def abandon(self) -> None:
        self._run("abandon", micros(self._store.clock.now()))

    def _run(self, script: str, *args: str | int) -> None:
        job = self.job
        if int(self._store._call(script, job.id, job.queue, self._token, *args)) == LOST:
            raise ClaimLost(
                f"job {job.id} is no longer held by this claim (its lease expired and another "
                "worker took it, or it was cancelled)"
            )

    def __repr__(self) -> str:
        return f"<RedisClaim job={self.job.id!r} queue={self.job.queue!r} token={self._token!r}>"
