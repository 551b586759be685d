"""MemoryStore: jobs in this process's memory, in the State its claims share with it."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import attrs

from proletarian.adapters import url_options as read
from proletarian.adapters.clocks import SystemClock
from proletarian.adapters.common import (
    DEFAULT_LEASE,
    check_conn,
    encode,
    queued_status,
)
from proletarian.adapters.ids import Uuid7Ids
from proletarian.adapters.memory.claim import MemoryClaim, lease_job
from proletarian.adapters.memory.state import KeyEntry, Record, State, to_job
from proletarian.adapters.serializers import JsonSerializer
from proletarian.core import inspection
from proletarian.core.checks import positive_duration
from proletarian.core.errors import ConfigurationError, SerializationError
from proletarian.core.inspection import JobFilter, JobPage, MinuteCounts, WorkerInfo
from proletarian.core.job import Job, JobId, JobStatus, NewJob, QueueStats
from proletarian.core.pruning import prune_cutoff, prune_limit
from proletarian.core.unique import first_of_each_key, key_prefix
from proletarian.core.urls import query
from proletarian.ports.clock import Clock
from proletarian.ports.ids import JobIdStrategy
from proletarian.ports.serializer import Serializer

# What a memory:// URL's query may set: the store's keyword arguments under their own names.
URL_OPTIONS = read.UrlOptions("memory", {"lease": read.seconds})


class MemoryTransaction:
    """What `MemoryStore.transaction()` yields: jobs enqueued with `conn=` this object appear
    only when its block ends without an exception."""

    def __init__(self) -> None:
        # The jobs enqueued in it, added to the store when it commits.
        self.pending: list[Record] = []
        # The keys they took, with the entry each replaced, to put back if it rolls back.
        self.taken: list[tuple[str, KeyEntry | None]] = []


class MemoryStore:
    """Jobs in this process's memory, for tests and prototypes: claims, leases, ordering and
    errors behave as on the database stores (it passes the same contract suite), with no
    server. Not durable: the jobs live as long as the object. Thread-safe. For an outbox in
    tests, enqueue with `conn=` a `transaction()`.

    Args:
        serializer: Encodes payloads (kept encoded, as a database keeps them). Default:
            `JsonSerializer()`.
        job_ids: Makes job ids. Default: `Uuid7Ids()`; `DatabaseIds` is refused at enqueue.
        clock: The time source for due times and leases: a `ManualClock` lets tests move
            time. Default: `SystemClock()`.
        lease: How long a claim holds its job before another worker may take it (default
            30 s).
    """

    def __init__(
        self,
        *,
        serializer: Serializer | None = None,
        job_ids: JobIdStrategy | None = None,
        clock: Clock | None = None,
        lease: timedelta = DEFAULT_LEASE,
    ) -> None:
        positive_duration(lease, what="lease")
        self.serializer: Serializer = serializer or JsonSerializer()
        self.job_ids: JobIdStrategy = job_ids or Uuid7Ids()
        self.clock: Clock = clock or SystemClock()
        self.lease = lease
        self._state = State()  # shared with the claims
        self._workers: dict[str, WorkerInfo] = {}  # the registry, guarded by the state's lock

    @classmethod
    def connect(cls, url: str, **options: Any) -> MemoryStore:
        """A new, empty store for `memory://`, whose query may set `lease` (seconds); keyword
        options win over it. Nothing else in the URL is read."""
        from_url, _ = URL_OPTIONS.read(query(url))
        return cls(**{**from_url, **options})

    # -- enqueue -------------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[MemoryTransaction]:
        """A stand-in for the application's transaction: commits when the block ends without an
        exception, discards its jobs otherwise."""
        txn = MemoryTransaction()
        state = self._state
        try:
            yield txn
        except BaseException:
            with state.lock:
                # Rolled back: the keys its jobs took are given back, as a database would.
                for key, previous in reversed(txn.taken):
                    state.drop_key(state.keys[key].job_id)
                    if previous is not None:
                        state.keys[key] = previous
                        state.key_of[previous.job_id] = key
                state.pending.difference_update(r.id for r in txn.pending)
            raise
        with state.lock:
            for record in txn.pending:
                state.pending.discard(record.id)
                state.add(record)
        state.wake({r.queue for r in txn.pending})

    def enqueue(self, job: NewJob, *, conn: Any | None = None) -> JobId:
        return self.enqueue_many([job], conn=conn)[0]

    def enqueue_many(self, jobs: Sequence[NewJob], *, conn: Any | None = None) -> list[JobId]:
        """Unique keys are taken under the store's lock. A job enqueued in a `transaction()`
        holds its key from the call until the transaction ends (a database would make a second
        enqueue of the key wait for the first transaction instead: here it gets the pending
        job's id at once); a rollback frees it."""
        check_conn(conn, MemoryTransaction, "MemoryStore")
        now = self.clock.now()
        firsts = first_of_each_key(jobs)
        records = [self._record(job, now) for job in jobs]
        state = self._state
        ids: list[JobId] = []
        written: list[Record] = []
        with state.lock:
            for index, (job, record) in enumerate(zip(jobs, records, strict=True)):
                if firsts[index] != index:
                    ids.append(JobId(ids[firsts[index]], created=False))
                    continue
                if job.unique_key is not None:
                    previous = state.keys.get(job.unique_key)
                    holder = state.take_key(job.unique_key, record.id, job.unique_for, now)
                    if holder is not None:
                        ids.append(JobId(holder, created=False))
                        continue
                    if conn is not None:
                        conn.taken.append((job.unique_key, previous))
                ids.append(JobId(record.id))
                written.append(record)
                if conn is not None:
                    state.pending.add(record.id)
                else:
                    state.add(record)
        if conn is not None:
            conn.pending.extend(written)
        else:
            state.wake({r.queue for r in written})
        return ids

    def _record(self, job: NewJob, now: datetime) -> Record:
        row = encode(job, serializer=self.serializer, ids=self.job_ids, now=now)
        if row.id is None:
            raise ConfigurationError("MemoryStore cannot use database-generated ids")
        return Record(
            id=row.id,
            queue=row.queue,
            job_type=row.job_type,
            payload=row.payload,
            priority=row.priority,
            enqueued_at=row.enqueued_at,
            process_at=row.process_at,
            meta=dict(job.meta),
        )

    # -- claim ---------------------------------------------------------------------------------

    def claim(self, queues: Sequence[str], *, worker_id: str) -> MemoryClaim | None:
        return lease_job(
            self._state,
            serializer=self.serializer,
            clock=self.clock,
            lease=self.lease,
            queues=queues,
            worker_id=worker_id,
        )

    def claim_batch(
        self, queues: Sequence[str], *, worker_id: str, limit: int
    ) -> list[MemoryClaim]:
        """Up to `limit` claims in claim order, each an independent lease: outcomes apply as
        they come, and abandoning one gives back that job alone."""
        claims: list[MemoryClaim] = []
        while len(claims) < limit:
            claim = self.claim(queues, worker_id=worker_id)
            if claim is None:
                break
            claims.append(claim)
        return claims

    # -- inspection and operations -------------------------------------------------------------

    def get_job(self, job_id: str) -> Job | None:
        now = self.clock.now()
        state = self._state
        with state.lock:
            record = state.jobs.get(job_id) or state.archive.get(job_id)
            if record is None:
                return None
            return self._job(record, now)

    def _job(self, record: Record, now: datetime) -> Job:
        try:
            payload = self.serializer.loads(record.payload)
        except SerializationError:
            payload = None
        status = record.status or queued_status(record.process_at, record.locked_until, now)
        return to_job(record, payload=payload, status=status)

    def list_jobs(
        self,
        *,
        status: JobStatus | None = None,
        queue: str | None = None,
        job_type: str | None = None,
        limit: int = 50,
        before: str | None = None,
    ) -> JobPage:
        """Reads every job in memory: there is no index to keep."""
        wanted = JobFilter(status=status, queue=queue, job_type=job_type)
        count = inspection.page_limit(limit)
        after = inspection.cursor(before)
        now = self.clock.now()
        with self._state.lock:
            records = [*self._state.jobs.values(), *self._state.archive.values()]
            jobs = [self._job(r, now) for r in records if after is None or r.id < after]
        return inspection.newest_first([j for j in jobs if wanted.matches(j)], count)

    def retry_failed_jobs(self, *, queue: str | None = None, job_type: str | None = None) -> int:
        """One job at a time, each under the lock on its own, as `retry_failed`."""
        wanted = JobFilter(status=JobStatus.FAILED, queue=queue, job_type=job_type)
        with self._state.lock:
            ids = [r.id for r in self._state.archive.values() if _matches(wanted, r)]
        return sum(self.retry_failed(job_id) for job_id in ids)

    def cancel_queued_jobs(self, *, queue: str | None = None, job_type: str | None = None) -> int:
        wanted = JobFilter(queue=queue, job_type=job_type)
        with self._state.lock:
            ids = [r.id for r in self._state.jobs.values() if _matches(wanted, r)]
        return sum(self.cancel(job_id) for job_id in ids)

    def throughput(self, minutes: int = 15) -> list[MinuteCounts]:
        now = self.clock.now()
        since = inspection.throughput_since(now, minutes)
        counts: dict[tuple[datetime, str], int] = {}
        with self._state.lock:
            for record in self._state.archive.values():
                if record.finished_at is not None and record.finished_at >= since:
                    assert record.status is not None
                    key = (inspection.minute_of(record.finished_at), record.status.value)
                    counts[key] = counts.get(key, 0) + 1
        return inspection.by_minute(
            ((minute, status, n) for (minute, status), n in counts.items()), now, minutes
        )

    # -- worker registry -----------------------------------------------------------------------

    def register_worker(self, info: WorkerInfo) -> None:
        with self._state.lock:
            self._workers[info.id] = info

    def heartbeat_worker(
        self, worker_id: str, running_job_ids: Sequence[str], now: datetime
    ) -> bool:
        with self._state.lock:
            info = self._workers.get(worker_id)
            if info is None:
                return False
            self._workers[worker_id] = attrs.evolve(
                info, last_seen=now, running=tuple(running_job_ids)
            )
            return True

    def unregister_worker(self, worker_id: str) -> None:
        with self._state.lock:
            self._workers.pop(worker_id, None)

    def workers(self) -> list[WorkerInfo]:
        with self._state.lock:
            return sorted(self._workers.values(), key=lambda info: info.id)

    def remove_dead_workers(self, now: datetime) -> int:
        with self._state.lock:
            dead = inspection.dead_workers(list(self._workers.values()), now)
            for worker_id in dead:
                del self._workers[worker_id]
            return len(dead)

    def stats(self) -> dict[str, QueueStats]:
        now = self.clock.now()
        counts: dict[str, dict[str, int]] = {}
        oldest: dict[str, datetime] = {}
        with self._state.lock:
            for record in self._state.jobs.values():
                status = queued_status(record.process_at, record.locked_until, now)
                queue = counts.setdefault(record.queue, {})
                queue[status.value] = queue.get(status.value, 0) + 1
                if status is JobStatus.READY:
                    oldest[record.queue] = min(oldest.get(record.queue, now), record.process_at)
            for record in self._state.archive.values():
                assert record.status is not None
                queue = counts.setdefault(record.queue, {})
                queue[record.status.value] = queue.get(record.status.value, 0) + 1
        return {
            name: QueueStats(**c, oldest_ready_age=(now - oldest[name]) if name in oldest else None)
            for name, c in sorted(counts.items())
        }

    def retry_failed(self, job_id: str) -> bool:
        now = self.clock.now()
        with self._state.lock:
            record = self._state.archive.get(job_id)
            if record is None or record.status is not JobStatus.FAILED:
                return False
            del self._state.archive[job_id]
            record.status = record.started_at = record.finished_at = record.error = None
            record.attempts = record.abandons = 0
            record.process_at = now
            self._state.add(record)
        self._state.wake({record.queue})
        return True

    def cancel(self, job_id: str) -> bool:
        now = self.clock.now()
        with self._state.lock:
            record = self._state.jobs.get(job_id)
            if record is None or (record.locked_until is not None and record.locked_until > now):
                return False
            del self._state.jobs[job_id]
            self._state.drop_key(job_id)
            return True

    def prune_archive(self, older_than: timedelta, *, limit: int | None = None) -> int:
        cutoff = prune_cutoff(older_than, self.clock.now())
        count = prune_limit(limit)
        with self._state.lock:
            old = sorted(
                (r.finished_at, i)
                for i, r in self._state.archive.items()
                if r.finished_at and r.finished_at < cutoff
            )[:count]
            for _, job_id in old:
                del self._state.archive[job_id]
                self._state.drop_key(job_id)
            return len(old)

    def latest_unique_key(self, prefix: str) -> str | None:
        key_prefix(prefix)
        with self._state.lock:
            return max((k for k in self._state.keys if k.startswith(prefix)), default=None)

    def install_schema(self) -> None:
        """Nothing to install in memory."""

    def close(self) -> None:
        """Nothing to release in memory."""

    # -- notifications -------------------------------------------------------------------------

    def listen(self, queues: Sequence[str]) -> _MemoryListener:
        listener = _MemoryListener(self._state, frozenset(queues))
        with self._state.lock:
            self._state.listeners.append(listener)
        return listener

    def __repr__(self) -> str:
        return f"<MemoryStore jobs={len(self._state.jobs)} archived={len(self._state.archive)}>"


def _matches(wanted: JobFilter, record: Record) -> bool:
    return (
        (wanted.queue is None or record.queue == wanted.queue)
        and (wanted.job_type is None or record.job_type == wanted.job_type)
        and (wanted.status is None or record.status is wanted.status)
    )


class _MemoryListener:
    def __init__(self, state: State, queues: frozenset[str]) -> None:
        self._state = state
        self.queues = queues
        self.event = threading.Event()

    def wait(self, timeout: float) -> bool:
        woken = self.event.wait(timeout)
        self.event.clear()
        return woken

    def close(self) -> None:
        with self._state.lock:
            if self in self._state.listeners:
                self._state.listeners.remove(self)
