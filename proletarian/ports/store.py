"""The queue store port: where jobs wait, how a worker claims one, and how the outcome is kept.

Two ways to hold a claim satisfy the same `Claim` protocol:

* a transactional claim (PostgreSQL, MySQL) holds a row lock in an open transaction until one
  outcome method commits; `connection` is that transaction, for handler writes that must commit
  with the outcome;
* a leased claim (SQLite, Redis, memory) commits at once with a lease; it also satisfies
  `Renewable`, and the worker renews the lease while the handler runs.

Attempts are counted by outcomes. An attempt that ends without one (the worker died or lost the
store holding the job) is counted in `Job.abandons` by the claim that next takes the job, from
what the dead claim left behind: an expired lease, or, for a transactional claim, the aborted
transaction's mark on the row (see each store's docs). The count is committed before the job is
handed out, so a job that keeps killing its worker is counted each time and the worker can
refuse it (`max_abandons`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from proletarian.core.inspection import JobPage, MinuteCounts, WorkerInfo
from proletarian.core.job import Job, JobError, JobId, JobStatus, NewJob, QueueStats
from proletarian.ports.clock import Clock


class Claim(Protocol):
    """One claimed job. Exactly one of `succeed`, `retry_at`, `fail` or `abandon` ends it; each
    is atomic. Used by one thread at a time: the thread that claimed it, or, once the worker
    gave up on that thread, the one that called `interrupt`.

    An outcome method that raises has written nothing, and then:
    * StoreError other than StoreUnavailable and ClaimLost (the store refused the values): the
      claim is still held, and another outcome may be written, as `fail` with a smaller error;
    * StoreUnavailable: a transactional claim has ended (its transaction went with the
      connection); a leased claim may be asked again while its lease lasts, except that
      `succeed` raises ClaimLost once the handler's writes on `connection` were lost;
    * ClaimLost: the claim has ended; another claim may hold the job."""

    @property
    def job(self) -> Job: ...

    @property
    def connection(self) -> Any | None:
        """The open transaction where handler writes commit atomically with the outcome, or
        None where the store has none. Asked for only when a handler (or middleware) wants it:
        a store may open the handler's scope (a savepoint) on first access, and must close it
        (release, or roll back to it) before it touches the job row again."""

    @property
    def decode_error(self) -> JobError | None:
        """Set when the stored payload could not be decoded; the job's payload is then None."""

    def succeed(self) -> None:
        """Archive the job as succeeded, committing handler writes made on `connection`.
        Raises TransactionAborted, with the claim still held, when the handler left
        `connection` in a failed transaction: the caller then records a retry or failure."""

    def retry_at(self, when: datetime, error: JobError) -> None:
        """Put the job back, due at `when`, counting the attempt and keeping `error`.
        Handler writes on `connection` are rolled back first."""

    def fail(self, error: JobError) -> None:
        """Archive the job as failed with `error`. Handler writes are rolled back first."""

    def abandon(self) -> None:
        """Give the job back untouched and uncounted, as if never claimed (the transaction
        rolled back with no mark left, or the lease released)."""

    def interrupt(self) -> None:
        """Called from another thread while the handler may still be running (and may never
        return): stop the claim from depending on the handler's connection, so an outcome can
        be written from the calling thread. A transaction the handler holds is ended on the
        server (its writes roll back) and its connection discarded; a transactional claim then
        takes the job again on a new connection. Raises ClaimLost if the job can't be held
        again (another claim took it), StoreError if the store can't be reached. Afterwards
        only the calling thread uses the claim, and `succeed` is refused."""


@runtime_checkable
class Renewable(Protocol):
    """A claim held by a lease that must be renewed while the handler runs."""

    @property
    def lease(self) -> timedelta: ...

    def renew(self) -> None:
        """Extend the lease by `lease` from now. Raises ClaimLost if it was already lost."""


class QueueStore(Protocol):
    """Where jobs are kept. Every method is safe to call from several threads at once."""

    @property
    def clock(self) -> Clock:
        """The store's time source (its `clock=`): due times, leases and ages are read from
        it, and so are the worker's unless it is given a clock of its own."""

    def enqueue(self, job: NewJob, *, conn: Any | None = None) -> JobId:
        """Add one job and return its id. With `conn`, the insert joins the caller's open
        transaction and is never committed here; without it the store commits.
        Raises SerializationError (nothing written) for a payload that can't be encoded.

        A job with a `unique_key` that another job holds (see `proletarian.core.unique`) is
        not written: the holder's id comes back with `created` False. The key is taken in the
        same transaction as the insert, atomically (two enqueues of one key at once make one
        job), and a rolled-back enqueue leaves it free."""

    def enqueue_many(self, jobs: Sequence[NewJob], *, conn: Any | None = None) -> list[JobId]:
        """Add several jobs in one round trip where the store can; all or none are written.
        A job whose unique key an earlier job of the same call has is not written: its id is
        the earlier job's (or its holder's), with `created` False."""

    def claim(self, queues: Sequence[str], *, worker_id: str) -> Claim | None:
        """Take the most urgent due job of `queues` (priority, then due time, then id), or
        None when no job is due. A job held by another claim is never returned."""

    def get_job(self, job_id: str) -> Job | None:
        """A queued or archived job, or None."""

    def stats(self) -> dict[str, QueueStats]:
        """Counts per queue, of queued and archived jobs."""

    def retry_failed(self, job_id: str) -> bool:
        """Put an archived failed job back on its queue, due now; False if there is none."""

    def cancel(self, job_id: str) -> bool:
        """Remove a queued job that is not running; True if it was removed."""

    def prune_archive(self, older_than: timedelta, *, limit: int | None = None) -> int:
        """Delete archived jobs finished more than `older_than` ago, oldest first, at most
        `limit` of them (all when None); returns how many. Call again with a limit to prune a
        large archive in steps and report progress. ConfigurationError, with nothing deleted,
        for an `older_than` that is not a timedelta, is negative or reaches before year 1, and
        for a `limit` that is not a positive int."""

    def latest_unique_key(self, prefix: str) -> str | None:
        """The greatest unique key (in code point order) starting with `prefix` that the key
        table holds, or None. A key stays in the table, held or not, until its job is cancelled
        or pruned from the archive. One range scan on the key index."""

    def list_jobs(
        self,
        *,
        status: JobStatus | None = None,
        queue: str | None = None,
        job_type: str | None = None,
        limit: int = 50,
        before: str | None = None,
    ) -> JobPage:
        """Up to `limit` (1 to 1,000) jobs matching every given filter, newest first by id,
        queued and archived alike, from after the job `before` (a page's `next_before`).
        Each page is a keyset read on an index: its cost does not grow with the page number
        or, where the filter is indexed, with the archive (see each store's docs)."""

    def retry_failed_jobs(self, *, queue: str | None = None, job_type: str | None = None) -> int:
        """`retry_failed` for every archived failed job matching the filters; returns how
        many went back. Works in batches (core.inspection.BULK_BATCH), each committed on its
        own: an error part-way leaves the earlier batches done."""

    def cancel_queued_jobs(self, *, queue: str | None = None, job_type: str | None = None) -> int:
        """`cancel` for every queued job matching the filters that no claim holds; returns
        how many were removed. Batched and committed like `retry_failed_jobs`."""

    def throughput(self, minutes: int = 15) -> list[MinuteCounts]:
        """Jobs archived as succeeded and failed in each of the last `minutes` minutes (1 to
        1,440; the current minute last and partial), read by the archive's finished time."""

    def register_worker(self, info: WorkerInfo) -> None:
        """Add a worker to the registry, or replace the entry of the same id."""

    def heartbeat_worker(
        self, worker_id: str, running_job_ids: Sequence[str], now: datetime
    ) -> bool:
        """Record that the worker was alive at `now`, running those jobs: one small write.
        False when the registry has no such worker (it was removed as dead): register again."""

    def unregister_worker(self, worker_id: str) -> None:
        """Remove a worker from the registry; nothing happens if it is not there."""

    def workers(self) -> list[WorkerInfo]:
        """Every registered worker, the dead ones (`WorkerInfo.is_dead`) included, by id."""

    def remove_dead_workers(self, now: datetime) -> int:
        """Remove the workers dead at `now` (DEAD_AFTER_BEATS heartbeats missed); returns how
        many. The registry is small (one entry per running worker), so this reads it whole."""

    def install_schema(self) -> None:
        """Create the store's tables or structures if missing. Idempotent."""

    def close(self) -> None:
        """Release connections held by the store."""


@runtime_checkable
class BatchClaimer(Protocol):
    """A store that can claim several jobs in one go (the worker's batch mode)."""

    def claim_batch(self, queues: Sequence[str], *, worker_id: str, limit: int) -> Sequence[Claim]:
        """Take up to `limit` of the most urgent due jobs of `queues`, in claim order, or []
        when none is due. Each claim is ended with one of its outcome methods, as from
        `claim`, in any order, by the one thread that claimed the batch.

        A store may hold the whole batch in one transaction: then each claim's `connection`
        is a savepoint of its own (a failing handler rolls back alone), outcomes are recorded
        as they come and written together, atomically, when the last claim of the batch ends
        (that call raises if the write fails, and every job of the batch runs again), and
        `abandon` of any claim rolls the whole batch back, giving back the jobs whose
        outcomes were not yet written. Abandoning a claim whose batch already ended does
        nothing. `limit` is at least 1."""


@runtime_checkable
class AsyncEnqueuer(Protocol):
    """A store that can enqueue from asyncio code on the caller's asyncio connection."""

    async def enqueue_many_async(
        self, jobs: Sequence[NewJob], *, conn: Any | None = None
    ) -> list[JobId]:
        """`QueueStore.enqueue_many` for asyncio code, with the same statement and checks. With
        `conn` (an asyncio connection of the store's driver) the jobs join the caller's open
        transaction, never committed here; without it the store writes and commits without
        blocking the event loop."""


class Listener(Protocol):
    """A subscription to "jobs were enqueued" hints for some queues."""

    def wait(self, timeout: float) -> bool:
        """Block up to `timeout` seconds; True if a hint arrived. Raises StoreUnavailable when
        the subscription is lost (the caller reconnects by listening again)."""

    def close(self) -> None:
        """End the subscription and close its connection."""


@runtime_checkable
class Notifier(Protocol):
    """A store that can wake idle workers when jobs arrive. A hint only: claims are the truth."""

    def listen(self, queues: Sequence[str]) -> Listener:
        """Subscribe to hints for `queues`, on a connection of the listener's own."""
