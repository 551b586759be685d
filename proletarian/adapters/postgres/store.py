"""PostgresStore: the queue in two PostgreSQL tables, claimed with FOR UPDATE SKIP LOCKED."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Self

import psycopg
from psycopg_pool import ConnectionPool

from proletarian.adapters.clocks import SystemClock
from proletarian.adapters.common import Row, check_conn, encode, prune_in_batches
from proletarian.adapters.ids import DatabaseIds, Uuid7Ids
from proletarian.adapters.postgres import rows
from proletarian.adapters.postgres.batch import PostgresBatchClaim, claim_batch
from proletarian.adapters.postgres.claim import PostgresClaim, claim_job
from proletarian.adapters.postgres.connections import autocommitted
from proletarian.adapters.postgres.enqueueing import PreparedEnqueue, prepare
from proletarian.adapters.postgres.errors import translated
from proletarian.adapters.postgres.inspect_statements import InspectStatements
from proletarian.adapters.postgres.inspection import Inspector
from proletarian.adapters.postgres.leased import PostgresLeasedClaim, lease_job
from proletarian.adapters.postgres.listener import PostgresListener
from proletarian.adapters.postgres.network import (
    DEFAULT_READ_TIMEOUT,
    Watchdog,
    with_network_defaults,
)
from proletarian.adapters.postgres.prepared import (
    ClaimStatements,
    ExtendedStatements,
    ServerStatements,
)
from proletarian.adapters.postgres.schema import (
    DEFAULT_ARCHIVED_JOB_TABLE,
    DEFAULT_JOB_TABLE,
    DEFAULT_SCHEMA,
    Names,
    ddl_script,
    ddl_statements,
)
from proletarian.adapters.postgres.statements import Statements
from proletarian.adapters.postgres.unique import KeyedEnqueue, KeyStatements, prepare_keyed
from proletarian.adapters.postgres.urls import POOL_DEFAULTS, pool_settings, split_url
from proletarian.adapters.serializers import JsonSerializer
from proletarian.core import inspection
from proletarian.core.checks import optional_duration, positive_int
from proletarian.core.errors import ConfigurationError, StoreError, StoreUnavailable
from proletarian.core.inspection import JobFilter, JobPage, MinuteCounts, WorkerInfo
from proletarian.core.job import Job, JobId, JobStatus, NewJob, QueueStats
from proletarian.core.pruning import prune_cutoff, prune_limit
from proletarian.core.unique import key_prefix, prefix_upper_bound
from proletarian.core.urls import redact, scrub
from proletarian.ports.clock import Clock
from proletarian.ports.ids import JobIdStrategy
from proletarian.ports.serializer import Serializer

# Archived jobs deleted per statement by prune_archive.
PRUNE_BATCH = 5000


class PostgresStore:
    """Jobs in `<schema>.job`, finished ones in `<schema>.archived_job`, over a psycopg pool.

    Claims are transactional: each holds a pool connection for the whole job, so the pool needs
    at least as many connections as worker threads, plus producers. With `lease` they are
    leases instead, for jobs too long to hold a transaction open: no connection is held while a
    handler runs, the worker's heartbeat renews the lease, and a crashed worker's job comes back
    once its lease expires, as its next attempt. Stores of both kinds may share a table: each
    passes over the jobs the other holds.

    Every method is safe to call from several threads at once. Each operation is one statement
    (one round trip); enqueue notifies the store's channel in the same transaction.
    Connection problems raise StoreUnavailable, other database errors StoreError, bad
    arguments ConfigurationError.

    Args:
        pool: A psycopg_pool `ConnectionPool`. The store takes connections from it and never
            closes it. Use `connect` for a store with a pool of its own.
        serializer: Encodes payloads. Default: `JsonSerializer()`.
        job_ids: Makes job ids. Default: `Uuid7Ids()`. `DatabaseIds` needs the bigint-id
            tables (database/postgresql/tables_bigint_ids.sql).
        clock: The time source for due times and leases. Default: `SystemClock()`.
        schema: The schema of the two tables: "proletarian" unless given.
        job_table: The table of queued jobs; "other_schema.table" puts it in another schema.
        archived_job_table: The table of finished jobs, named the same way.
        channel: The LISTEN/NOTIFY channel that wakes workers (at most 63 bytes). Default:
            the job table's qualified name, so stores over other tables don't wake each other.
        server_prepared: Prepare the claim statements on the server once per connection
            (PREPARE), so a claim takes two round trips. Session-level prepared statements
            don't follow a client through PgBouncer in transaction mode: there, pass False,
            and claims use psycopg's extended protocol (four round trips per job).
        lease: Claim with leases of this length instead of transactions. None: transactional
            claims.
        read_timeout: Seconds to wait for the reply to one of the store's own statements;
            past it the connection is closed and StoreUnavailable raised. Default: 30 s;
            None: no bound. The handler's statements on a claim's connection are never
            bounded, and neither is the time a claim is held while its handler runs.
    """

    def __init__(
        self,
        pool: ConnectionPool[Any],
        *,
        serializer: Serializer | None = None,
        job_ids: JobIdStrategy | None = None,
        clock: Clock | None = None,
        schema: str = DEFAULT_SCHEMA,
        job_table: str = DEFAULT_JOB_TABLE,
        archived_job_table: str = DEFAULT_ARCHIVED_JOB_TABLE,
        channel: str | None = None,
        server_prepared: bool = True,
        lease: timedelta | None = None,
        read_timeout: float | None = DEFAULT_READ_TIMEOUT,
    ) -> None:
        if not isinstance(pool, ConnectionPool):
            raise ConfigurationError(
                f"PostgresStore needs a psycopg_pool.ConnectionPool, got {type(pool).__name__}"
            )
        self.names = Names.of(
            schema=schema,
            job_table=job_table,
            archived_job_table=archived_job_table,
            channel=channel,
        )
        self.pool = pool
        self.serializer: Serializer = serializer or JsonSerializer()
        self.job_ids: JobIdStrategy = job_ids or Uuid7Ids()
        self.clock: Clock = clock or SystemClock()
        # DatabaseIds needs the bigint identity DDL variant; any other strategy, uuid ids.
        self.bigint_ids = isinstance(self.job_ids, DatabaseIds)
        self._sql = Statements.build(self.names, bigint_ids=self.bigint_ids)
        self._keys = KeyStatements.build(self.names)
        self._runner: ClaimStatements = (
            ServerStatements(self._sql.claim)
            if server_prepared
            else ExtendedStatements(self._sql.claim)
        )
        self.lease = optional_duration(lease, what="lease")
        self._watchdog = Watchdog(read_timeout)
        self._owns_pool = False
        self._inspector = Inspector(
            pool,
            InspectStatements(self.names),
            serializer=self.serializer,
            watchdog=self._watchdog,
            channel=self.names.channel,
        )

    @classmethod
    def connect(
        cls,
        url: str,
        *,
        min_size: int | None = None,
        max_size: int | None = None,
        timeout: float | None = None,
        reconnect_timeout: float | None = None,
        wait: bool = True,
        **options: Any,
    ) -> Self:
        """A store over a pool it builds and opens for `url` (a postgresql:// URL or libpq
        conninfo), closed again by `close()`. `options` go to the constructor.

        The URL's query may carry the store's options beside libpq's parameters, under the
        keyword arguments' names (`?schema=app&job_table=jobs&lease=60&max_size=20`; durations
        in seconds, `none` for None, `job_ids=database` for DatabaseIds; see urls.py); keyword
        arguments win over them. Unset pool settings are min_size 1, max_size 10, timeout 5
        and reconnect_timeout 30.

        The libpq settings of `with_network_defaults` (connect_timeout, TCP keepalives,
        tcp_user_timeout) are added where `url` doesn't set them, so a silent network fails
        a wait in seconds. `timeout` bounds each wait for a pool connection (then
        StoreUnavailable), so worker threads notice stop() during an outage.
        `reconnect_timeout` bounds the pool's own reconnection backoff, so a worker resumes
        soon after a long outage ends. With `wait=True` an unreachable server raises
        StoreUnavailable here; with `wait=False` the pool connects in the background and a
        worker can start while the server is down. ConfigurationError for bad options or a URL
        that can't be parsed is raised before connecting."""
        libpq_url, from_url = split_url(url)
        pool_options = pool_settings(
            {
                "min_size": min_size,
                "max_size": max_size,
                "timeout": timeout,
                "reconnect_timeout": reconnect_timeout,
            },
            from_url,
        )
        options = {**{k: v for k, v in from_url.items() if k not in pool_options}, **options}
        conninfo = with_network_defaults(libpq_url)
        pool: ConnectionPool[Any] = ConnectionPool(
            conninfo,
            open=False,
            name="proletarian",
            **pool_options,
        )
        store = cls(pool, **options)
        store._owns_pool = True
        if not wait:
            pool.open(wait=False)
            return store
        try:
            # A direct first connection fails fast with the server's reason; the pool would
            # retry quietly until its timeout.
            psycopg.connect(conninfo).close()
            pool.open(wait=True)
        except psycopg.Error as exc:
            pool.close()
            raise StoreUnavailable(
                f"cannot connect to PostgreSQL at {redact(url)}: {scrub(str(exc).strip(), url)}"
            ) from exc
        return store

    # -- enqueue -------------------------------------------------------------------------------

    def enqueue(self, job: NewJob, *, conn: Any | None = None) -> JobId:
        return self.enqueue_many([job], conn=conn)[0]

    def enqueue_many(self, jobs: Sequence[NewJob], *, conn: Any | None = None) -> list[JobId]:
        """Jobs without a unique key: one statement. With keys, each key's first job takes its
        key in the enqueue's transaction (see unique.py): one statement for a new key, three
        for a key that exists."""
        check_conn(conn, psycopg.Connection, "PostgresStore")
        prepared = self.prepare_enqueue(jobs)
        if prepared is None:
            return []
        if conn is not None:
            with translated("enqueue"):
                return _ids(prepared.run(conn))
        with autocommitted(self.pool, "enqueue", self._watchdog) as own:
            return _ids(prepared.run(own))

    async def enqueue_many_async(
        self, jobs: Sequence[NewJob], *, conn: Any | None = None
    ) -> list[JobId]:
        """`enqueue_many` for asyncio code. With `conn` (a psycopg AsyncConnection) the jobs
        join the caller's open transaction, which is never committed or rolled back here: the
        same statement as the sync form, built by the same `prepare_enqueue`.

        Without `conn`, the sync form runs on the store's pool in a worker thread and commits:
        the event loop is never blocked, and no connection is opened per call."""
        if conn is None:
            return await asyncio.to_thread(self.enqueue_many, jobs)
        check_conn(conn, psycopg.AsyncConnection, "PostgresStore.enqueue_many_async")
        prepared = self.prepare_enqueue(jobs)
        if prepared is None:
            return []
        with translated("enqueue"):
            return _ids(await prepared.run_async(conn))

    def prepare_enqueue(self, jobs: Sequence[NewJob]) -> PreparedEnqueue | KeyedEnqueue | None:
        """Validate and encode `jobs` and build the statements that insert them (None for
        no jobs), touching no connection. Raises ConfigurationError or SerializationError
        before anything is written."""
        rows = [self._encode(job) for job in jobs]
        if any(job.unique_key is not None for job in jobs):
            if self.bigint_ids:
                raise ConfigurationError(
                    "PostgresStore with DatabaseIds does not support unique_key: the key is "
                    "taken before the job's insert, so the job's id must be made by the client "
                    "(use the default Uuid7Ids)"
                )
            return prepare_keyed(self._keys, self._sql, jobs, rows, channel=self.names.channel)
        return prepare(self._sql, rows, bigint_ids=self.bigint_ids, channel=self.names.channel)

    def _encode(self, job: NewJob) -> Row:
        row = encode(job, serializer=self.serializer, ids=self.job_ids, now=self.clock.now())
        if row.id is None and not self.bigint_ids:
            raise ConfigurationError(
                "job_ids gave no id; for ids assigned by PostgreSQL use "
                "proletarian.adapters.ids.DatabaseIds with tables_bigint_ids.sql"
            )
        return row

    # -- claim ---------------------------------------------------------------------------------

    def claim(
        self, queues: Sequence[str], *, worker_id: str
    ) -> PostgresClaim | PostgresLeasedClaim | None:
        """Lock the most urgent due job in a new transaction and hand it out with that
        transaction open (see PostgresClaim). BEGIN and the claim go in one round trip, as a
        statement prepared on the server, unless `server_prepared` is False (see prepared.py).
        A job whose last claim was
        abandoned is counted (committed) and claimed again. With `lease`, lease it instead
        (see PostgresLeasedClaim)."""
        if self.lease is not None:
            return self._lease(self.lease, queues, worker_id)
        return claim_job(
            self.pool,
            self._sql,
            runner=self._runner,
            watchdog=self._watchdog,
            serializer=self.serializer,
            clock=self.clock,
            queues=queues,
        )

    def claim_batch(
        self, queues: Sequence[str], *, worker_id: str, limit: int
    ) -> Sequence[PostgresBatchClaim | PostgresClaim | PostgresLeasedClaim]:
        """Lock up to `limit` due jobs in one new transaction and hand them out with it open
        (batch mode, see proletarian.adapters.postgres.batch): one savepoint per handler that
        asks for the connection, every outcome written and committed together when the last
        claim ends, the whole batch rolled back by `abandon`. With `lease`, up to `limit`
        leased claims, each on its own. Raises ConfigurationError for a `limit` below 1."""
        positive_int(limit, what="limit")
        if self.lease is not None:
            return self._lease_batch(queues, worker_id, limit)
        claims = claim_batch(
            self.pool,
            self._sql,
            watchdog=self._watchdog,
            serializer=self.serializer,
            clock=self.clock,
            queues=queues,
            limit=limit,
        )
        if claims is None:
            # Some of those jobs had claims abandoned: one at a time until they are done.
            claim = self.claim(queues, worker_id=worker_id)
            return [] if claim is None else [claim]
        return claims

    def _lease(
        self, lease: timedelta, queues: Sequence[str], worker_id: str
    ) -> PostgresLeasedClaim | None:
        return lease_job(
            self.pool,
            self._sql,
            watchdog=self._watchdog,
            serializer=self.serializer,
            clock=self.clock,
            lease=lease,
            queues=queues,
            worker_id=worker_id,
        )

    def _lease_batch(
        self, queues: Sequence[str], worker_id: str, limit: int
    ) -> list[PostgresLeasedClaim]:
        """Up to `limit` leases, one statement each. If one fails, those already taken are
        given back before the error propagates: nobody would renew or end them."""
        assert self.lease is not None
        leased: list[PostgresLeasedClaim] = []
        try:
            while len(leased) < limit:
                claim = self._lease(self.lease, queues, worker_id)
                if claim is None:
                    break
                leased.append(claim)
        except BaseException:
            for claim in leased:
                with contextlib.suppress(StoreError):
                    claim.abandon()
            raise
        return leased

    # -- inspection and operations -------------------------------------------------------------

    def get_job(self, job_id: str) -> Job | None:
        """A queued job is RUNNING while a claim's open transaction holds its row lock, or
        while its lease lasts."""
        key = self._key(job_id)
        if key is None:
            return None
        now = self.clock.now()
        with autocommitted(self.pool, "get_job", self._watchdog) as conn:
            cursor = conn.cursor(row_factory=rows.found_rows)
            found = cursor.execute(self._sql.get_job, {"job_id": key, "now": now}).fetchone()
        if found is None:
            return None
        payload, _ = rows.decoded(self.serializer, found.job)
        return rows.found_job(found, payload, now)

    def stats(self) -> dict[str, QueueStats]:
        """One statement over both tables. It counts every row: prune the archive to keep it
        quick."""
        now = self.clock.now()
        with autocommitted(self.pool, "stats", self._watchdog) as conn:
            cursor = conn.cursor(row_factory=rows.stats_rows)
            found = cursor.execute(self._sql.stats, {"now": now}).fetchall()
        return {
            row.queue: QueueStats(
                ready=row.ready,
                scheduled=row.scheduled,
                running=row.running,
                succeeded=row.succeeded,
                failed=row.failed,
                oldest_ready_age=None if row.oldest_ready is None else now - row.oldest_ready,
            )
            for row in found
        }

    def retry_failed(self, job_id: str) -> bool:
        """Move an archived failed job back to the queue, due now with no attempts counted;
        notifies its queue."""
        key = self._key(job_id)
        if key is None:
            return False
        params = {"job_id": key, "now": self.clock.now(), "channel": self.names.channel}
        with autocommitted(self.pool, "retry_failed", self._watchdog) as conn:
            return conn.execute(self._sql.retry_failed, params).rowcount == 1

    def cancel(self, job_id: str) -> bool:
        """Delete a queued job unless a claim holds it (running) or it is archived."""
        key = self._key(job_id)
        if key is None:
            return False
        params = {"job_id": key, "now": self.clock.now()}
        with autocommitted(self.pool, "cancel", self._watchdog) as conn, conn.transaction():
            if conn.execute(self._sql.cancel, params).rowcount != 1:
                return False
            # The job is gone for good: so is the key it held, in the same transaction.
            conn.execute(self._keys.drop_key, (key,))
            return True

    def prune_archive(self, older_than: timedelta, *, limit: int | None = None) -> int:
        """Deletes the oldest first, in statements of at most 5,000 rows, each committed on
        its own: none holds many locks, or runs long enough to meet read_timeout."""
        cutoff = prune_cutoff(older_than, self.clock.now())

        def delete(batch: int) -> int:
            with (
                autocommitted(self.pool, "prune_archive", self._watchdog) as conn,
                conn.transaction(),
            ):
                # The keys of the jobs the batch deletes: the same rows, just before.
                conn.execute(self._keys.prune_keys, (cutoff, batch))
                return conn.execute(self._sql.prune, (cutoff, batch)).rowcount

        return prune_in_batches(delete, prune_limit(limit), PRUNE_BATCH)

    def latest_unique_key(self, prefix: str) -> str | None:
        """One backward range scan of the key table's primary key (COLLATE "C": code point
        order)."""
        key_prefix(prefix)
        upper = prefix_upper_bound(prefix)
        with autocommitted(self.pool, "latest_unique_key", self._watchdog) as conn:
            if upper is None:
                row = conn.execute(self._keys.latest, (prefix,)).fetchone()
            else:
                row = conn.execute(self._keys.latest_bounded, (prefix, upper)).fetchone()
        return None if row is None else str(row[0])

    # -- operators' reads and bulk actions (postgres/inspection.py) ----------------------------

    def list_jobs(
        self,
        *,
        status: JobStatus | None = None,
        queue: str | None = None,
        job_type: str | None = None,
        limit: int = 50,
        before: str | None = None,
    ) -> JobPage:
        """Walks both tables' primary keys backwards from `before`, or the archive's
        (status, job_id) index when a status is given. Running is read as get_job reads it."""
        wanted = JobFilter(status=status, queue=queue, job_type=job_type)
        count = inspection.page_limit(limit)
        after = inspection.cursor(before)
        key = None if after is None else self._key(after)
        if after is not None and key is None:
            raise ConfigurationError(f"before {after[:80]!r} is not a job id of this store")
        return self._inspector.list_jobs(wanted, limit=count, before=key, now=self.clock.now())

    def retry_failed_jobs(self, *, queue: str | None = None, job_type: str | None = None) -> int:
        wanted = JobFilter(queue=queue, job_type=job_type)
        return self._inspector.retry_failed_jobs(wanted, self.clock.now())

    def cancel_queued_jobs(self, *, queue: str | None = None, job_type: str | None = None) -> int:
        wanted = JobFilter(queue=queue, job_type=job_type)
        return self._inspector.cancel_queued_jobs(wanted, self.clock.now())

    def throughput(self, minutes: int = 15) -> list[MinuteCounts]:
        inspection.throughput_minutes(minutes)
        return self._inspector.throughput(self.clock.now(), minutes)

    # -- worker registry (postgres/inspection.py) ----------------------------------------------

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

    def _key(self, job_id: str) -> Any | None:
        """The id as the job_id column holds it, or None for a string that can't be one."""
        if self.bigint_ids:
            return int(job_id) if isinstance(job_id, str) and job_id.isdigit() else None
        try:
            return uuid.UUID(job_id)
        except (TypeError, ValueError, AttributeError):
            return None

    # -- schema --------------------------------------------------------------------------------

    def schema_sql(self) -> str:
        """The DDL install_schema() runs: database/postgresql/tables.sql (tables_bigint_ids.sql
        with DatabaseIds) with this store's names, comments left out."""
        statements = ddl_statements(self.names, bigint_ids=self.bigint_ids)
        return "".join(f"{statement.as_string()};\n" for statement in statements)

    @classmethod
    def schema_for_url(cls, url: str) -> str:
        """The DDL `install_schema` runs on the store `connect(url)` gives, its names and id kind
        taken from the URL's options, as the DDL file's text with its comments (the file as
        shipped for the default names): what `proletarian schema print` shows. Nothing
        connects; ConfigurationError for options `connect` would refuse."""
        _, from_url = split_url(url)
        pool_settings({}, from_url)
        options = {k: v for k, v in from_url.items() if k not in POOL_DEFAULTS}
        # A pool that is never opened: the constructor reads and checks the options as it
        # does for connect, and nothing connects.
        store = cls(ConnectionPool("", open=False), **options)
        return ddl_script(store.names, bigint_ids=store.bigint_ids)

    def install_schema(self) -> None:
        """Create the schema(s), tables and indexes if missing, in one transaction. Idempotent
        and safe to run from several processes at once."""
        statements = ddl_statements(self.names, bigint_ids=self.bigint_ids)
        with autocommitted(self.pool, "install_schema", self._watchdog) as conn, conn.transaction():
            conn.execute(self._sql.install_lock, (".".join(self.names.job),))
            for statement in statements:
                conn.execute(statement)

    def close(self) -> None:
        """Close the pool if this store built it (`connect`); a pool given to the constructor
        belongs to the caller. Listeners are closed by whoever opened them."""
        if self._owns_pool:
            self.pool.close()

    # -- notifications -------------------------------------------------------------------------

    def listen(self, queues: Sequence[str]) -> PostgresListener:
        """Open a dedicated connection (not from the pool) listening on the store's channel."""
        conninfo = self.pool.conninfo() if callable(self.pool.conninfo) else self.pool.conninfo
        kwargs = dict(self.pool.kwargs() if callable(self.pool.kwargs) else self.pool.kwargs or {})
        kwargs["autocommit"] = True
        with translated("listen"):
            conn = psycopg.Connection.connect(conninfo or "", **kwargs)
            try:
                conn.execute(self._sql.listen)
            except BaseException:
                conn.close()
                raise
        return PostgresListener(conn, frozenset(queues))

    def __repr__(self) -> str:
        return (
            f"<PostgresStore job={'.'.join(self.names.job)!r} "
            f"archived_job={'.'.join(self.names.archived_job)!r} pool={self.pool.name!r}>"
        )


def _ids(ids: list[str] | list[JobId]) -> list[JobId]:
    """The ids as JobIds: those of a batch with no unique key were all created."""
    return [job_id if isinstance(job_id, JobId) else JobId(job_id) for job_id in ids]
