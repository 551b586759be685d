"""RedisStore: the QueueStore port over one Redis server."""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from proletarian.adapters import url_options as read
from proletarian.adapters.clocks import SystemClock
from proletarian.adapters.common import DEFAULT_LEASE, encode, prune_in_batches
from proletarian.adapters.ids import Uuid7Ids
from proletarian.adapters.redis.claim import RedisClaim, lease_job
from proletarian.adapters.redis.codec import fields, from_micros, load_payload, micros, text, to_job
from proletarian.adapters.redis.inspection import Inspector
from proletarian.adapters.redis.listener import RedisListener
from proletarian.adapters.redis.scripts import Scripts, translated
from proletarian.adapters.serializers import JsonSerializer
from proletarian.core import inspection
from proletarian.core.checks import positive_duration
from proletarian.core.errors import ConfigurationError
from proletarian.core.inspection import JobFilter, JobPage, MinuteCounts, WorkerInfo
from proletarian.core.job import Job, JobId, JobStatus, NewJob, QueueStats
from proletarian.core.pruning import prune_cutoff, prune_limit
from proletarian.core.unique import (
    first_of_each_key,
    key_prefix,
    microseconds,
    prefix_upper_bound,
)
from proletarian.core.urls import query, redact, with_query
from proletarian.ports.clock import Clock
from proletarian.ports.ids import JobIdStrategy
from proletarian.ports.serializer import Serializer

# What a redis:// URL's query may set for the store, under its keyword arguments' names; the
# other names are redis-py's, and go to its client.
URL_OPTIONS = read.UrlOptions(
    "Redis",
    {
        "prefix": read.text,
        "lease": read.seconds,
        "archive_retention": read.or_none(read.whole),
    },
    passed_on="a redis-py connection option (socket_timeout, client_name, ...)",
)
DEFAULT_PREFIX = "proletarian"
DEFAULT_ARCHIVE_RETENTION = 100_000
PRUNE_BATCH = 1000
_PREFIX = re.compile(r"[A-Za-z0-9_.:-]{1,100}")
_UNEXPECTED = re.compile(r"unexpected keyword argument '(\w+)'")


class RedisStore:
    """Jobs in one Redis server (7.0 or later), under keys that start with `prefix:`.

    Claims are leases (`lease`, renewed by the worker's heartbeat); a claim takes jobs whose
    lease expired, so a dead worker's jobs come back without a rescuer. Every change that
    touches more than one key is one Lua script, so it is atomic and a crash between two
    commands cannot lose or duplicate a job. The archive keeps at most `archive_retention`
    jobs (None: unbounded), dropping the oldest finished first; `prune_archive` deletes by age.

    Every method is safe to call from several threads at once (redis-py's client is).
    Connection problems raise StoreUnavailable, other Redis errors StoreError.

    Args:
        client: A redis-py `Redis` client. The store never closes it. Use `connect` for a
            store with a client of its own.
        prefix: Starts every key the store uses (1 to 100 letters, digits and `_ - : .`), so
            several applications can share one Redis database: "proletarian" unless given.
        serializer: Encodes payloads. Default: `JsonSerializer()`.
        job_ids: Makes job ids. Default: `Uuid7Ids()`; `DatabaseIds` is refused at enqueue.
        clock: The time source for due times and leases. Default: `SystemClock()`.
        lease: How long a claim holds its job before another worker may take it (default
            30 s); the worker's heartbeat renews it while the handler runs.
        archive_retention: The most finished jobs the archive keeps (the oldest go first),
            100,000 unless given; None keeps all of them until `prune_archive`.
    """

    def __init__(
        self,
        client: redis.Redis,
        *,
        prefix: str = DEFAULT_PREFIX,
        serializer: Serializer | None = None,
        job_ids: JobIdStrategy | None = None,
        clock: Clock | None = None,
        lease: timedelta = DEFAULT_LEASE,
        archive_retention: int | None = DEFAULT_ARCHIVE_RETENTION,
    ) -> None:
        if not isinstance(client, redis.Redis):
            raise ConfigurationError(f"client must be a redis.Redis, got {type(client).__name__}")
        if not isinstance(prefix, str) or not _PREFIX.fullmatch(prefix):
            raise ConfigurationError(
                f"prefix {str(prefix)[:40]!r} is not valid (1 to 100 letters, digits, and _ - : .)"
            )
        positive_duration(lease, what="lease")
        if archive_retention is not None and (
            isinstance(archive_retention, bool)
            or not isinstance(archive_retention, int)
            or archive_retention < 0
        ):
            raise ConfigurationError(
                f"archive_retention must be an int >= 0 or None, got {archive_retention!r}"
            )
        self.client = client
        self.prefix = prefix
        self.serializer: Serializer = serializer or JsonSerializer()
        self.job_ids: JobIdStrategy = job_ids or Uuid7Ids()
        self.clock: Clock = clock or SystemClock()
        self.lease = lease
        self.archive_retention = archive_retention
        self._scripts = Scripts(client)
        self._where = _describe(client)
        self._owns_client = False
        self._inspector = Inspector(self._call, self.serializer)

    @classmethod
    def connect(cls, url: str, **options: Any) -> RedisStore:
        """A store on a client of its own for `url` (redis://, rediss:// or unix://), closed by
        `close()`. The URL's query may set the store's prefix, lease (seconds) and
        archive_retention (`none` for no cap), beside redis-py's connection options
        (`?prefix=myapp&socket_timeout=5&client_name=worker`); `options` go to the store and
        win over the URL's. ConfigurationError, before connecting, for an option neither the
        store nor redis-py takes, or a value they can't read."""
        # The other names are left to redis-py, and checked below by what it takes.
        from_url, _ = URL_OPTIONS.read(query(url), driver=lambda name: True)
        try:
            client = redis.Redis.from_url(
                with_query(url, drop=from_url),
                socket_connect_timeout=5.0,
                socket_timeout=10.0,
                socket_keepalive=True,
                # A few quick retries ride out a dropped connection; longer outages reach the
                # worker as StoreUnavailable, and it backs off on its own.
                retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 3),
            )
        except ValueError as exc:
            raise ConfigurationError(f"Redis URL {redact(url)!r} is not valid: {exc}") from exc
        try:
            _check_connection_options(client)
            store = cls(client, **{**from_url, **options})
        except BaseException:
            client.close()
            raise
        store._owns_client = True
        store._where = redact(url)
        return store

    # -- enqueue ---------------------------------------------------------------------------

    def enqueue(self, job: NewJob, *, conn: Any | None = None) -> JobId:
        return self.enqueue_many([job], conn=conn)[0]

    def enqueue_many(self, jobs: Sequence[NewJob], *, conn: Any | None = None) -> list[JobId]:
        """All jobs are written by one script: all or none. A call re-sent by redis-py after a
        dropped connection lost its reply is recognised and not applied twice. Unique keys
        are checked and taken in the same script, so two calls can't both take one key."""
        if conn is not None:
            raise ConfigurationError(
                "RedisStore does not take conn=: Redis is not the application's database, so "
                "a job cannot join the application's transaction (there is no outbox). Enqueue "
                "after the transaction commits, or use a SQL store for transactional enqueue."
            )
        now = self.clock.now()
        rows = [encode(job, serializer=self.serializer, ids=self.job_ids, now=now) for job in jobs]
        if not rows:
            return []
        firsts = first_of_each_key(jobs)
        args: list[str | int] = [micros(now), secrets.token_hex(8)]
        for index, (job, row) in enumerate(zip(jobs, rows, strict=True)):
            if not row.id:
                raise ConfigurationError(
                    "RedisStore needs job ids made by the client (such as the default "
                    f"Uuid7Ids), got {row.id!r} from {self.job_ids!r}"
                )
            if firsts[index] != index:
                continue  # an earlier job of this call has its key: it stands for this one
            args += [
                row.id,
                row.queue,
                row.job_type,
                row.payload,
                row.priority,
                micros(row.enqueued_at),
                micros(row.process_at),
                row.meta,
                job.unique_key or "",
                microseconds(job.unique_for),
            ]
        result = self._call("enqueue", *args)
        if not int(result[0]):
            raise ConfigurationError(f"job id {text(result[1])!r} already exists")
        sent = iter(zip(result[1], result[2], strict=True))
        ids: list[JobId] = []
        for index, first in enumerate(firsts):
            if first != index:
                ids.append(JobId(ids[first], created=False))
            else:
                job_id, created = next(sent)
                ids.append(JobId(text(job_id), created=bool(int(created))))
        return ids

    def latest_unique_key(self, prefix: str) -> str | None:
        """One ZREVRANGEBYLEX on a sorted set of the keys (all scored 0, so ordered by their
        bytes: code point order), O(log n). Kept beside the key hash, and changed with it in
        the same scripts."""
        upper = prefix_upper_bound(key_prefix(prefix))
        found = self._call("latest_key", prefix, upper or "")
        return None if found is None else text(found)

    # -- claim -----------------------------------------------------------------------------

    def claim(self, queues: Sequence[str], *, worker_id: str) -> RedisClaim | None:
        """One script: due scheduled jobs become ready, expired leases are released, and the
        most urgent ready job of `queues` is leased to a new token with its attempt counted."""
        return lease_job(
            self._call,
            serializer=self.serializer,
            clock=self.clock,
            lease=self.lease,
            archive_retention=self.archive_retention,
            queues=queues,
            worker_id=worker_id,
        )

    # -- inspection and operations ---------------------------------------------------------

    def get_job(self, job_id: str) -> Job | None:
        now = self.clock.now()
        job = fields(self._call("get", job_id))
        if not job:
            return None
        payload, _ = load_payload(self.serializer, job["payload"])
        return to_job(job, payload, now)

    def stats(self) -> dict[str, QueueStats]:
        now = self.clock.now()
        stats = {}
        for queue, ready, scheduled, running, succeeded, failed, oldest in self._call(
            "stats", micros(now)
        ):
            stats[text(queue)] = QueueStats(
                ready=int(ready),
                scheduled=int(scheduled),
                running=int(running),
                succeeded=int(succeeded),
                failed=int(failed),
                oldest_ready_age=None if int(oldest) < 0 else now - from_micros(oldest),
            )
        return dict(sorted(stats.items()))

    def retry_failed(self, job_id: str) -> bool:
        return bool(self._call("retry_failed", job_id, micros(self.clock.now())))

    def cancel(self, job_id: str) -> bool:
        return bool(self._call("cancel", job_id, micros(self.clock.now())))

    def prune_archive(self, older_than: timedelta, *, limit: int | None = None) -> int:
        """Deletes in batches of PRUNE_BATCH, one script each, so Redis is never blocked long;
        the whole prune is therefore not atomic (each job's deletion is)."""
        cutoff = micros(prune_cutoff(older_than, self.clock.now()))
        return prune_in_batches(
            lambda batch: int(self._call("prune", cutoff, batch)), prune_limit(limit), PRUNE_BATCH
        )

    # -- operators' reads and bulk actions (redis/inspection.py) -------------------------------

    def list_jobs(
        self,
        *,
        status: JobStatus | None = None,
        queue: str | None = None,
        job_type: str | None = None,
        limit: int = 50,
        before: str | None = None,
    ) -> JobPage:
        """One script reads every id of the wanted queues' sets and of the archive (at most
        `archive_retention`), filters and sorts them: its cost grows with the jobs kept, not
        with the page. Use a SQL store for archives of millions."""
        wanted = JobFilter(status=status, queue=queue, job_type=job_type)
        count = inspection.page_limit(limit)
        after = inspection.cursor(before)
        return self._inspector.list_jobs(wanted, limit=count, before=after, now=self.clock.now())

    def retry_failed_jobs(self, *, queue: str | None = None, job_type: str | None = None) -> int:
        """`retry_failed` of each matching job, one script each."""
        wanted = JobFilter(queue=queue, job_type=job_type)
        return self._inspector.retry_failed_jobs(wanted, self.clock.now())

    def cancel_queued_jobs(self, *, queue: str | None = None, job_type: str | None = None) -> int:
        """`cancel` of each matching job, one script each."""
        wanted = JobFilter(queue=queue, job_type=job_type)
        return self._inspector.cancel_queued_jobs(wanted, self.clock.now())

    def throughput(self, minutes: int = 15) -> list[MinuteCounts]:
        inspection.throughput_minutes(minutes)
        return self._inspector.throughput(self.clock.now(), minutes)

    # -- worker registry (redis/inspection.py) -------------------------------------------------

    def register_worker(self, info: WorkerInfo) -> None:
        self._inspector.register_worker(info)

    def heartbeat_worker(
        self, worker_id: str, running_job_ids: Sequence[str], now: datetime
    ) -> bool:
        return self._inspector.heartbeat_worker(worker_id, running_job_ids, now)

    def unregister_worker(self, worker_id: str) -> None:
        self._inspector.unregister_worker([worker_id])

    def workers(self) -> list[WorkerInfo]:
        return self._inspector.workers()

    def remove_dead_workers(self, now: datetime) -> int:
        return self._inspector.remove_dead_workers(now)

    def install_schema(self) -> None:
        """Nothing to create in Redis; loads the scripts, so an unsupported server (before
        7.0) or a missing permission shows now rather than at the first claim."""
        with translated(self._where):
            self._scripts.load()

    def close(self) -> None:
        """Close the client if `connect()` made it; a client given by the caller stays open."""
        if self._owns_client:
            self.client.close()

    # -- notifications ---------------------------------------------------------------------

    def listen(self, queues: Sequence[str]) -> RedisListener:
        """A pub/sub subscription, on a connection of its own, to enqueues on `queues`."""
        return RedisListener(self.client, self.prefix, queues, self._where)

    # -- internals -------------------------------------------------------------------------

    def _call(self, script: str, *args: str | int) -> Any:
        with translated(self._where):
            return self._scripts(script, self.prefix, *args)

    def __repr__(self) -> str:
        return f"<RedisStore {self._where} prefix={self.prefix!r}>"


def _describe(client: redis.Redis) -> str:
    """Where a caller's client points, without its password."""
    options = client.connection_pool.connection_kwargs
    if "path" in options:
        return f"unix://{options['path']}?db={options.get('db', 0)}"
    return f"redis://{options.get('host', 'localhost')}:{options.get('port', 6379)}/" + str(
        options.get("db", 0)
    )


def _check_connection_options(client: redis.Redis) -> None:
    """ConfigurationError for a query option redis-py does not know. redis-py passes those on
    to its connections, so they would fail at the first command with a TypeError from deep
    inside it; a connection object is made here to find out (it opens no socket)."""
    pool = client.connection_pool
    try:
        pool.connection_class(**pool.connection_kwargs)
    except TypeError as exc:
        found = _UNEXPECTED.search(str(exc))
        if found is None:
            raise ConfigurationError(f"Redis URL options are not valid: {exc}") from None
        raise URL_OPTIONS.unknown(found[1]) from None
