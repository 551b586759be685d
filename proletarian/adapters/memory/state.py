"""The state a MemoryStore shares with its claims: the jobs, the indexes claims take them by,
and the listeners to wake. Every field is guarded by `lock`; the methods expect it held unless
they say otherwise."""

from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, Protocol

import attrs

from proletarian.core.errors import ClaimLost, ConfigurationError
from proletarian.core.job import Job, JobError, JobStatus, Priority
from proletarian.core.unique import is_free


@attrs.define
class Record:
    """A job as the store keeps it: its payload serialized, as a database keeps it."""

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


@attrs.define
class KeyEntry:
    """A row of the key table: the job that last took a unique key, and its `unique_for`."""

    job_id: str
    unique_for: timedelta


class Listener(Protocol):
    """What `wake` needs of a listener: the queues it listens to and the event it waits on."""

    @property
    def queues(self) -> frozenset[str]: ...

    @property
    def event(self) -> threading.Event: ...


class State:
    """The jobs of one MemoryStore: queued ones in `jobs`, finished ones in `archive`.

    Per queue, waiting jobs first sit in a heap by due time, then move to a heap by (priority,
    due time) once due, so a not-yet-due urgent job never hides a due one. Entries go stale
    when a job is claimed or removed and are dropped when met. Leases sit in a heap by expiry.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.jobs: dict[str, Record] = {}
        self.archive: dict[str, Record] = {}
        self.listeners: list[Listener] = []
        # The key table, and which key each job holds (for cancel and prune).
        self.keys: dict[str, KeyEntry] = {}
        self.key_of: dict[str, str] = {}
        # Jobs enqueued in a transaction that has not ended: they hold their keys.
        self.pending: set[str] = set()
        self._scheduled: dict[str, list[tuple[datetime, int, str]]] = {}
        self._ready: dict[str, list[tuple[int, datetime, int, str]]] = {}
        self._leases: list[tuple[datetime, str]] = []
        self._seq = itertools.count()

    def add(self, record: Record) -> None:
        if record.id in self.jobs or record.id in self.archive:
            raise ConfigurationError(f"job id {record.id!r} already exists")
        self.jobs[record.id] = record
        self.push(record)

    def take_key(self, key: str, job_id: str, unique_for: timedelta, now: datetime) -> str | None:
        """Give `key` to `job_id` unless a job still holds it; returns the holder's id, or None
        when `job_id` took it."""
        entry = self.keys.get(key)
        if entry is not None:
            archived = self.archive.get(entry.job_id)
            queued = entry.job_id in self.jobs or entry.job_id in self.pending
            finished = archived.finished_at if archived is not None else None
            if not is_free(
                queued=queued, finished_at=finished, unique_for=entry.unique_for, now=now
            ):
                return entry.job_id
            self.key_of.pop(entry.job_id, None)
        self.keys[key] = KeyEntry(job_id, unique_for)
        self.key_of[job_id] = key
        return None

    def drop_key(self, job_id: str) -> None:
        """Remove the key row naming `job_id`, if any: the job is gone for good."""
        key = self.key_of.pop(job_id, None)
        if key is not None:
            del self.keys[key]

    def push(self, record: Record) -> None:
        """Queue a job (again) for its due time."""
        entry = (record.process_at, next(self._seq), record.id)
        heapq.heappush(self._scheduled.setdefault(record.queue, []), entry)

    def leased(self, record: Record) -> None:
        """Note a job's lease (new or renewed), to be released when it expires."""
        assert record.locked_until is not None
        heapq.heappush(self._leases, (record.locked_until, record.id))

    def release_expired(self, now: datetime) -> None:
        """Give back the jobs whose lease expired, counting each attempt as abandoned."""
        while self._leases and self._leases[0][0] <= now:
            until, job_id = heapq.heappop(self._leases)
            record = self.jobs.get(job_id)
            if record is not None and record.locked_until == until:
                # The holder's attempt ended without an outcome.
                record.locked_by = record.locked_until = None
                record.abandons += 1
                self.push(record)

    def take_next(self, queues: Iterable[str], now: datetime) -> Record | None:
        """Remove the most urgent due job of `queues` from the indexes, and return it."""
        best: tuple[int, datetime, int, str] | None = None
        for queue in queues:
            heap = self._promote(queue, now)
            if heap and (best is None or heap[0] < best):
                best = heap[0]
        if best is None:
            return None
        record = self.jobs[best[3]]
        heapq.heappop(self._ready[record.queue])
        return record

    def _promote(self, queue: str, now: datetime) -> list[tuple[int, datetime, int, str]]:
        """Move the queue's due jobs to its ready heap and return that heap, stale top dropped."""
        scheduled = self._scheduled.get(queue, [])
        ready = self._ready.setdefault(queue, [])
        while scheduled and scheduled[0][0] <= now:
            process_at, seq, job_id = heapq.heappop(scheduled)
            record = self.jobs.get(job_id)
            if _is_waiting(record, process_at):
                assert record is not None
                heapq.heappush(ready, (record.priority, process_at, seq, job_id))
        while ready and not _is_waiting(self.jobs.get(ready[0][3]), ready[0][1]):
            heapq.heappop(ready)
        return ready

    def holding(self, record: Record, token: str) -> None:
        """Raise ClaimLost unless the claim of `token` still holds the job."""
        if self.jobs.get(record.id) is not record or record.locked_by != token:
            raise ClaimLost(f"job {record.id} is no longer held by this claim (lease expired)")

    def wake(self, queues: set[str]) -> None:
        """Wake the listeners to any of `queues`. Takes the lock itself."""
        with self.lock:
            listeners = list(self.listeners)
        for listener in listeners:
            if listener.queues & queues:
                listener.event.set()


def _is_waiting(record: Record | None, process_at: datetime) -> bool:
    return record is not None and record.locked_by is None and record.process_at == process_at


def to_job(record: Record, *, payload: Any, status: JobStatus) -> Job:
    """The job as stored, with its payload decoded and the status it has now."""
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
