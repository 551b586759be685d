"""A store that keeps nothing and claims nothing, but records every call: for unit tests of code
that enqueues, and of a worker's idle behaviour."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import attrs

from proletarian.adapters.clocks import SystemClock
from proletarian.adapters.common import encode
from proletarian.adapters.ids import Uuid7Ids
from proletarian.adapters.serializers import JsonSerializer
from proletarian.core import inspection
from proletarian.core.errors import ConfigurationError
from proletarian.core.inspection import JobFilter, JobPage, MinuteCounts, WorkerInfo
from proletarian.core.job import Job, JobId, JobStatus, NewJob, QueueStats
from proletarian.core.pruning import prune_cutoff, prune_limit
from proletarian.core.unique import first_of_each_key
from proletarian.ports.clock import Clock
from proletarian.ports.ids import JobIdStrategy
from proletarian.ports.serializer import Serializer
from proletarian.ports.store import Claim


@attrs.frozen
class Call:
    """One call made to a NullStore.

    Attributes:
        method: The method's name. `enqueue` is recorded as "enqueue_many" of one job.
        args: Its arguments in order, e.g. `(jobs, conn)` for "enqueue_many" (`jobs` a tuple
            of `NewJob`).
    """

    method: str
    args: tuple[Any, ...] = ()


class NullStore:
    """A store that keeps nothing: enqueue validates and serializes like a real store (so bad
    payloads still fail), then drops the job; claim always finds nothing. For unit tests of
    code that enqueues, and of a worker's idle behaviour. Thread-safe.

    Args:
        serializer: Encodes payloads, so a payload it can't encode still raises. Default:
            `JsonSerializer()`.
        job_ids: Makes the ids enqueue returns. Default: `Uuid7Ids()`; `DatabaseIds` is
            refused at enqueue.
        clock: The store's clock. Default: `SystemClock()`.

    Attributes:
        calls: Every call made to the store, in order, as `Call` values.
    """

    def __init__(
        self,
        *,
        serializer: Serializer | None = None,
        job_ids: JobIdStrategy | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.serializer: Serializer = serializer or JsonSerializer()
        self.job_ids: JobIdStrategy = job_ids or Uuid7Ids()
        self.clock: Clock = clock or SystemClock()
        self.calls: list[Call] = []
        self._lock = threading.Lock()

    def _record(self, method: str, *args: Any) -> None:
        with self._lock:
            self.calls.append(Call(method, args))

    def calls_to(self, method: str) -> list[Call]:
        """The calls of one method, e.g. `store.calls_to("enqueue_many")`, in order."""
        with self._lock:
            return [call for call in self.calls if call.method == method]

    def enqueue(self, job: NewJob, *, conn: Any | None = None) -> JobId:
        return self.enqueue_many([job], conn=conn)[0]

    def enqueue_many(self, jobs: Sequence[NewJob], *, conn: Any | None = None) -> list[JobId]:
        """Keeps no key table: a unique key is never held, except by an earlier job of the
        same call (whose id the later one gets, with `created` False)."""
        now = self.clock.now()
        rows = [encode(job, serializer=self.serializer, ids=self.job_ids, now=now) for job in jobs]
        ids = [row.id for row in rows]
        if any(job_id is None for job_id in ids):
            raise ConfigurationError("NullStore cannot use database-generated ids")
        self._record("enqueue_many", tuple(jobs), conn)
        firsts = first_of_each_key(jobs)
        return [
            JobId(str(ids[first]), created=first == index) for index, first in enumerate(firsts)
        ]

    def claim(self, queues: Sequence[str], *, worker_id: str) -> Claim | None:
        self._record("claim", tuple(queues), worker_id)
        return None

    def get_job(self, job_id: str) -> Job | None:
        self._record("get_job", job_id)
        return None

    def stats(self) -> dict[str, QueueStats]:
        self._record("stats")
        return {}

    def retry_failed(self, job_id: str) -> bool:
        self._record("retry_failed", job_id)
        return False

    def cancel(self, job_id: str) -> bool:
        self._record("cancel", job_id)
        return False

    def prune_archive(self, older_than: timedelta, *, limit: int | None = None) -> int:
        prune_cutoff(older_than, self.clock.now())
        prune_limit(limit)
        self._record("prune_archive", older_than, limit)
        return 0

    def latest_unique_key(self, prefix: str) -> str | None:
        self._record("latest_unique_key", prefix)
        return None

    def list_jobs(
        self,
        *,
        status: JobStatus | None = None,
        queue: str | None = None,
        job_type: str | None = None,
        limit: int = 50,
        before: str | None = None,
    ) -> JobPage:
        JobFilter(status=status, queue=queue, job_type=job_type)
        inspection.page_limit(limit)
        inspection.cursor(before)
        self._record("list_jobs", status, queue, job_type, limit, before)
        return JobPage(jobs=(), next_before=None)

    def retry_failed_jobs(self, *, queue: str | None = None, job_type: str | None = None) -> int:
        JobFilter(queue=queue, job_type=job_type)
        self._record("retry_failed_jobs", queue, job_type)
        return 0

    def cancel_queued_jobs(self, *, queue: str | None = None, job_type: str | None = None) -> int:
        JobFilter(queue=queue, job_type=job_type)
        self._record("cancel_queued_jobs", queue, job_type)
        return 0

    def throughput(self, minutes: int = 15) -> list[MinuteCounts]:
        self._record("throughput", minutes)
        return inspection.by_minute((), self.clock.now(), minutes)

    def register_worker(self, info: WorkerInfo) -> None:
        self._record("register_worker", info)

    def heartbeat_worker(
        self, worker_id: str, running_job_ids: Sequence[str], now: datetime
    ) -> bool:
        """True: the NullStore keeps no registry, so no worker is ever missing from it."""
        self._record("heartbeat_worker", worker_id, tuple(running_job_ids), now)
        return True

    def unregister_worker(self, worker_id: str) -> None:
        self._record("unregister_worker", worker_id)

    def workers(self) -> list[WorkerInfo]:
        self._record("workers")
        return []

    def remove_dead_workers(self, now: datetime) -> int:
        self._record("remove_dead_workers", now)
        return 0

    def install_schema(self) -> None:
        self._record("install_schema")

    def close(self) -> None:
        self._record("close")
