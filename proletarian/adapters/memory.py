"""An in-process store for tests and prototypes. It keeps payloads serialized, claims with leases
and orders jobs exactly like the database stores, and it passes the same contract suite."""

from __future__ import annotations

import heapq
import itertools
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
    new_token,
    queued_status,
)
from proletarian.adapters.ids import Uuid7Ids
from proletarian.adapters.serializers import JsonSerializer
from proletarian.core.errors import ClaimLost, ConfigurationError, SerializationError
from proletarian.core.job import Job, JobError, JobStatus, NewJob, Priority, QueueStats
from proletarian.core.pruning import prune_cutoff, prune_limit
from proletarian.core.urls import query
from proletarian.ports.clock import Clock
from proletarian.ports.ids import JobIdStrategy
from proletarian.ports.serializer import Serializer

# What a memory:// URL's query may set: the store's keyword arguments under their own names.
URL_OPTIONS = read.UrlOptions("memory", {"lease": read.seconds})


@attrs.define
class _Record:
    id: str
    queue: str
    job_type: str
    payload: str
    priority: int
    enqueued_at: datetime
    process_at: datetime
    meta: dict[str, str]
    attempts: int = 0
    abandons: int = 0
    locked_by: str | None = None
    locked_until: datetime | None = None
    error: JobError | None = None
    # Archive fields.
    status: JobStatus | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None


class MemoryTransaction:
    """What `MemoryStore.transaction()` yields: jobs enqueued with `conn=` this object appear
    only when its block ends without an exception."""

    def __init__(self) -> None:
        # The jobs enqueued in it, added to the store when it commits.
        self.pending: list[_Record] = []


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
        if not isinstance(lease, timedelta) or lease <= timedelta(0):
            raise ConfigurationError(f"lease must be a positive timedelta, got {lease!r}")
        self.serializer: Serializer = serializer or JsonSerializer()
        self.job_ids: JobIdStrategy = job_ids or Uuid7Ids()
        self.clock: Clock = clock or SystemClock()
        self.lease = lease
        self._lock = threading.Lock()
        self._jobs: dict[str, _Record] = {}
        self._archive: dict[str, _Record] = {}
        # Per queue, waiting jobs first sit in a heap by due time, then move to a heap by
        # (priority, due time) once due, so a not-yet-due urgent job never hides a due one.
        # Entries go stale when a job is claimed or removed and are dropped when met.
        self._scheduled: dict[str, list[tuple[datetime, int, str]]] = {}
        self._ready: dict[str, list[tuple[int, datetime, int, str]]] = {}
        self._leases: list[tuple[datetime, str]] = []
        self._seq = itertools.count()
        self._listeners: list[_MemoryListener] = []

    @classmethod
    def from_url(cls, url: str, **options: Any) -> MemoryStore:
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
        yield txn
        with self._lock:
            for record in txn.pending:
                self._add(record)
        self._wake({r.queue for r in txn.pending})

    def enqueue(self, job: NewJob, *, conn: Any | None = None) -> str:
        return self.enqueue_many([job], conn=conn)[0]

    def enqueue_many(self, jobs: Sequence[NewJob], *, conn: Any | None = None) -> list[str]:
        check_conn(conn, MemoryTransaction, "MemoryStore")
        now = self.clock.now()
        records = [self._record(job, now) for job in jobs]
        if conn is not None:
            conn.pending.extend(records)
            return [r.id for r in records]
        with self._lock:
            for record in records:
                self._add(record)
        self._wake({r.queue for r in records})
        return [r.id for r in records]

    def _record(self, job: NewJob, now: datetime) -> _Record:
        row = encode(job, serializer=self.serializer, ids=self.job_ids, now=now)
        if row.id is None:
            raise ConfigurationError("MemoryStore cannot use database-generated ids")
        return _Record(
            id=row.id,
            queue=row.queue,
            job_type=row.job_type,
            payload=row.payload,
            priority=row.priority,
            enqueued_at=row.enqueued_at,
            process_at=row.process_at,
            meta=dict(job.meta),
        )

    def _add(self, record: _Record) -> None:
        if record.id in self._jobs or record.id in self._archive:
            raise ConfigurationError(f"job id {record.id!r} already exists")
        self._jobs[record.id] = record
        self._push(record)

    def _push(self, record: _Record) -> None:
        entry = (record.process_at, next(self._seq), record.id)
        heapq.heappush(self._scheduled.setdefault(record.queue, []), entry)

    def _promote(self, queue: str, now: datetime) -> list[tuple[int, datetime, int, str]]:
        """Move the queue's due jobs to its ready heap and return that heap, stale top dropped."""
        scheduled = self._scheduled.get(queue, [])
        ready = self._ready.setdefault(queue, [])
        while scheduled and scheduled[0][0] <= now:
            process_at, seq, job_id = heapq.heappop(scheduled)
            record = self._jobs.get(job_id)
            if self._is_waiting(record, process_at):
                assert record is not None
                heapq.heappush(ready, (record.priority, process_at, seq, job_id))
        while ready and not self._is_waiting(self._jobs.get(ready[0][3]), ready[0][1]):
            heapq.heappop(ready)
        return ready

    # -- claim ---------------------------------------------------------------------------------

    def claim(self, queues: Sequence[str], *, worker_id: str) -> MemoryClaim | None:
        now = self.clock.now()
        with self._lock:
            self._release_expired(now)
            best: tuple[int, datetime, int, str] | None = None
            for queue in queues:
                heap = self._promote(queue, now)
                if heap and (best is None or heap[0] < best):
                    best = heap[0]
            if best is None:
                return None
            record = self._jobs[best[3]]
            heapq.heappop(self._ready[record.queue])
            record.locked_by = new_token(worker_id)
            record.locked_until = now + self.lease
            heapq.heappush(self._leases, (record.locked_until, record.id))
            return MemoryClaim(self, record, record.locked_by, now)

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

    @staticmethod
    def _is_waiting(record: _Record | None, process_at: datetime) -> bool:
        return record is not None and record.locked_by is None and record.process_at == process_at

    def _release_expired(self, now: datetime) -> None:
        while self._leases and self._leases[0][0] <= now:
            until, job_id = heapq.heappop(self._leases)
            record = self._jobs.get(job_id)
            if record is not None and record.locked_until == until:
                # The holder's attempt ended without an outcome.
                record.locked_by = record.locked_until = None
                record.abandons += 1
                self._push(record)

    def _holding(self, record: _Record, token: str) -> None:
        if self._jobs.get(record.id) is not record or record.locked_by != token:
            raise ClaimLost(f"job {record.id} is no longer held by this claim (lease expired)")

    # -- inspection and operations -------------------------------------------------------------

    def get_job(self, job_id: str) -> Job | None:
        now = self.clock.now()
        with self._lock:
            record = self._jobs.get(job_id) or self._archive.get(job_id)
            return None if record is None else self._to_job(record, now)

    def _to_job(
        self,
        record: _Record,
        now: datetime,
        *,
        claimed: bool = False,
        payload: Any = None,
    ) -> Job:
        """The job as stored; a claim says `claimed` and passes the payload it decoded."""
        if claimed:
            status = JobStatus.RUNNING
        else:
            try:
                payload = self.serializer.loads(record.payload)
            except SerializationError:
                payload = None
            status = record.status or queued_status(record.process_at, record.locked_until, now)
        return Job(
            id=record.id,
            queue=record.queue,
            job_type=record.job_type,
            payload=payload,
            priority=Priority(record.priority),
            attempts=record.attempts,
            abandons=record.abandons,
            enqueued_at=record.enqueued_at,
            process_at=record.process_at,
            status=status,
            meta=dict(record.meta),
            error=record.error,
            started_at=record.started_at,
            finished_at=record.finished_at,
        )

    def stats(self) -> dict[str, QueueStats]:
        now = self.clock.now()
        counts: dict[str, dict[str, int]] = {}
        oldest: dict[str, datetime] = {}
        with self._lock:
            for record in self._jobs.values():
                status = queued_status(record.process_at, record.locked_until, now)
                queue = counts.setdefault(record.queue, {})
                queue[status.value] = queue.get(status.value, 0) + 1
                if status is JobStatus.READY:
                    oldest[record.queue] = min(oldest.get(record.queue, now), record.process_at)
            for record in self._archive.values():
                assert record.status is not None
                queue = counts.setdefault(record.queue, {})
                queue[record.status.value] = queue.get(record.status.value, 0) + 1
        return {
            name: QueueStats(**c, oldest_ready_age=(now - oldest[name]) if name in oldest else None)
            for name, c in sorted(counts.items())
        }

    def retry_failed(self, job_id: str) -> bool:
        now = self.clock.now()
        with self._lock:
            record = self._archive.get(job_id)
            if record is None or record.status is not JobStatus.FAILED:
                return False
            del self._archive[job_id]
            record.status = record.started_at = record.finished_at = record.error = None
            record.attempts = record.abandons = 0
            record.process_at = now
            self._add(record)
        self._wake({record.queue})
        return True

    def cancel(self, job_id: str) -> bool:
        now = self.clock.now()
        with self._lock:
            record = self._jobs.get(job_id)
            if record is None or (record.locked_until is not None and record.locked_until > now):
                return False
            del self._jobs[job_id]
            return True

    def prune_archive(self, older_than: timedelta, *, limit: int | None = None) -> int:
        cutoff = prune_cutoff(older_than, self.clock.now())
        count = prune_limit(limit)
        with self._lock:
            old = sorted(
                (r.finished_at, i)
                for i, r in self._archive.items()
                if r.finished_at and r.finished_at < cutoff
            )[:count]
            for _, job_id in old:
                del self._archive[job_id]
            return len(old)

    def install_schema(self) -> None:
        """Nothing to install in memory."""

    def close(self) -> None:
        """Nothing to release in memory."""

    # -- notifications -------------------------------------------------------------------------

    def listen(self, queues: Sequence[str]) -> _MemoryListener:
        listener = _MemoryListener(self, frozenset(queues))
        with self._lock:
            self._listeners.append(listener)
        return listener

    def _wake(self, queues: set[str]) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            if listener.queues & queues:
                listener.event.set()

    def _unlisten(self, listener: _MemoryListener) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def __repr__(self) -> str:
        return f"<MemoryStore jobs={len(self._jobs)} archived={len(self._archive)}>"


class _MemoryListener:
    def __init__(self, store: MemoryStore, queues: frozenset[str]) -> None:
        self.store = store
        self.queues = queues
        self.event = threading.Event()

    def wait(self, timeout: float) -> bool:
        woken = self.event.wait(timeout)
        self.event.clear()
        return woken

    def close(self) -> None:
        self.store._unlisten(self)


class MemoryClaim:
    """A leased claim on a MemoryStore job."""

    connection: None = None

    def __init__(self, store: MemoryStore, record: _Record, token: str, now: datetime) -> None:
        self._store = store
        self._record = record
        self._token = token
        self._started_at = now
        self.decode_error: JobError | None = None
        payload: Any = None
        try:
            payload = store.serializer.loads(record.payload)
        except SerializationError as exc:
            self.decode_error = JobError(type="SerializationError", message=str(exc))
        # One Job, built with the payload decoded here: no second decode, no evolve.
        self.job = store._to_job(record, now, claimed=True, payload=payload)

    @property
    def lease(self) -> timedelta:
        return self._store.lease

    def renew(self) -> None:
        store = self._store
        with store._lock:
            store._holding(self._record, self._token)
            self._record.locked_until = store.clock.now() + store.lease
            heapq.heappush(store._leases, (self._record.locked_until, self._record.id))

    def succeed(self) -> None:
        self._archive(JobStatus.SUCCEEDED, None)

    def fail(self, error: JobError) -> None:
        self._archive(JobStatus.FAILED, error)

    def _archive(self, status: JobStatus, error: JobError | None) -> None:
        store = self._store
        now = store.clock.now()
        with store._lock:
            store._holding(self._record, self._token)
            record = store._jobs.pop(self._record.id)
            record.attempts += 1
            record.locked_by = record.locked_until = None
            record.status, record.error = status, error
            record.started_at, record.finished_at = self._started_at, now
            store._archive[record.id] = record

    def retry_at(self, when: datetime, error: JobError) -> None:
        store = self._store
        with store._lock:
            store._holding(self._record, self._token)
            record = self._record
            record.attempts += 1
            record.locked_by = record.locked_until = None
            record.process_at, record.error = when, error
            store._push(record)
        store._wake({record.queue})

    def interrupt(self) -> None:
        """Nothing is held for the handler: outcomes need only the lease's token."""

    def abandon(self) -> None:
        store = self._store
        with store._lock:
            store._holding(self._record, self._token)
            record = self._record
            record.locked_by = record.locked_until = None
            store._push(record)
        store._wake({record.queue})
