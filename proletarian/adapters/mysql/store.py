"""MySQLStore: jobs in two InnoDB tables, claimed by transactions (see DESIGN.md, "Two ways to
hold a claim")."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from pymysql.cursors import Cursor

from proletarian.adapters import url_options as read
from proletarian.adapters.clocks import SystemClock
from proletarian.adapters.common import (
    Row,
    check_conn,
    deprecated,
    encode,
    prune_in_batches,
    utc_naive,
)
from proletarian.adapters.ids import DatabaseIds, Uuid7Ids
from proletarian.adapters.mysql import _sql as sql
from proletarian.adapters.mysql._driver import (
    CONNECTION_OPTIONS,
    Connection,
    Step,
    connection_kwargs,
    connector,
    is_mariadb,
    run,
    translate,
)
from proletarian.adapters.mysql._inspect_sql import InspectStatements
from proletarian.adapters.mysql._pool import ConnectionPool
from proletarian.adapters.mysql.claim import Claimers, MySQLClaim, claim_job
from proletarian.adapters.mysql.inspection import Inspector
from proletarian.adapters.serializers import JsonSerializer
from proletarian.core import inspection
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
from proletarian.ports.clock import Clock
from proletarian.ports.ids import JobIdStrategy
from proletarian.ports.serializer import Serializer

# Bounds on one INSERT of enqueue_many, far below the server's max_allowed_packet (16 MiB on
# MariaDB, 64 MiB on MySQL): a larger batch becomes several statements in one transaction.
MAX_ROWS_PER_INSERT = 1000
MAX_CHARS_PER_INSERT = 1 << 20
# Archived jobs deleted per transaction by prune_archive, so no single one grows large.
PRUNE_BATCH = 5000
# What a mysql:// URL's query may set: pymysql's connection options, and the store's keyword
# arguments under their own names (durations in seconds).
URL_OPTIONS = read.UrlOptions(
    "MySQL",
    {
        **CONNECTION_OPTIONS,
        "job_table": read.text,
        "archived_job_table": read.text,
        "pool_size": read.whole,
        "pool_timeout": read.number,
        "crash_delay": read.seconds,
        "job_ids": read.job_ids,
    },
)


class MySQLStore:
    """A job queue in MySQL 8.0.1+ or MariaDB 10.6+ (InnoDB), shared by any number of worker
    processes on any number of machines.

    A claim is a transaction holding the job's row lock (`FOR UPDATE SKIP LOCKED`) until its
    outcome commits; a worker that dies loses its connection and the server rolls the claim
    back, so the job is due again at once (after `crash_delay` if the claim was careful).
    Careful claims, a worker thread's first and every claim of a job already counted as
    abandoned, commit that count before the job runs, so a job that keeps killing its worker
    is counted and, after `max_abandons`, failed. Jobs enqueued with `conn=` join the
    caller's transaction. There are no notifications: workers poll.

    Thread-safe. Every operation takes a connection from the store's pool, and a claim keeps
    its connection until it ends, so give a worker `pool_size` above its thread count.
    Waiting longer than `pool_timeout` for a connection raises StoreUnavailable, as does a
    lost connection or an unreachable server; other driver errors raise StoreError.

    Args:
        connect: How to open a connection: a mapping of `pymysql.connect` arguments, or a
            function returning a new `pymysql.connections.Connection` (its session is set to
            READ COMMITTED and autocommit off). Connections from a mapping get network
            timeouts where it sets none (connect_timeout 5 s, read_timeout and write_timeout
            60 s, TCP keepalives and tcp_user_timeout), so a silent network fails an operation
            within seconds; those from a function keep their own. `MySQLStore.connect(url)`
            builds the mapping from a URL.
        serializer: Encodes payloads. Default: `JsonSerializer()`.
        job_ids: Makes job ids. Default: `Uuid7Ids()`. `DatabaseIds` needs the
            AUTO_INCREMENT tables (database/mysql/tables_database_ids.sql).
        clock: The time source for due times. Default: `SystemClock()`.
        job_table: The table of queued jobs ("database.table" allowed): "proletarian_job"
            unless given.
        archived_job_table: The table of finished jobs, named the same way:
            "proletarian_archived_job" unless given.
        pool_size: The most connections the store opens at once.
        pool_timeout: Seconds to wait for a free connection before StoreUnavailable.
        crash_delay: How long a job waits before it is due again after a careful claim of it
            was abandoned: the rest of its queue goes on meanwhile.
    """

    def __init__(
        self,
        connection: Callable[[], Connection] | Mapping[str, Any] | None = None,
        *,
        serializer: Serializer | None = None,
        job_ids: JobIdStrategy | None = None,
        clock: Clock | None = None,
        job_table: str = sql.DEFAULT_JOB_TABLE,
        archived_job_table: str = sql.DEFAULT_ARCHIVED_JOB_TABLE,
        pool_size: int = 10,
        pool_timeout: float = 30.0,
        crash_delay: timedelta = timedelta(seconds=10),
        connect: Callable[[], Connection] | Mapping[str, Any] | None = None,
    ) -> None:
        if connect is not None:
            deprecated("MySQLStore(connect=...)", "MySQLStore(connection=...)")
            connection = connection if connection is not None else connect
        if connection is None:
            raise ConfigurationError(
                "MySQLStore needs `connection`: pymysql.connect arguments (a mapping) or a "
                "function returning a new connection"
            )
        self.serializer: Serializer = serializer or JsonSerializer()
        self.job_ids: JobIdStrategy = job_ids or Uuid7Ids()
        self.clock: Clock = clock or SystemClock()
        self._sql = sql.Statements(job_table, archived_job_table)
        self._keys: sql.Keys = (
            sql.SerialKeys() if isinstance(self.job_ids, DatabaseIds) else sql.UuidKeys()
        )
        make, self._where = connector(connection)
        if not isinstance(crash_delay, timedelta) or crash_delay < timedelta(0):
            raise ConfigurationError(f"crash_delay must be a timedelta >= 0, got {crash_delay!r}")
        self.crash_delay = crash_delay
        self._claimers = Claimers()  # worker ids that claimed: later claims need no care
        self._pool = ConnectionPool(make, size=pool_size, timeout=pool_timeout, where=self._where)
        self._inspector = Inspector(
            self._connection,
            InspectStatements(self._sql.job_table, self._sql.archived_job_table),
            keys=self._keys,
            serializer=self.serializer,
        )

    @classmethod
    def connect(cls, url: str, **options: Any) -> MySQLStore:
        """A store for mysql://user:password@host:port/database (or mariadb://...). `options` go
        to the constructor. No connection is made yet.

        The query may set pymysql's unix_socket, charset, connect_timeout, read_timeout,
        write_timeout, keepalives, keepalives_idle, keepalives_interval, keepalives_count,
        tcp_user_timeout, ssl_ca, ssl_cert and ssl_key (the network timeouts absent from the
        URL get the store's defaults: see the constructor's `connect`), and the store's
        job_table, archived_job_table, pool_size, pool_timeout, crash_delay (seconds) and
        job_ids (uuid7 or database); keyword arguments win over the URL's."""
        kwargs, from_url = connection_kwargs(url, URL_OPTIONS)
        return cls(kwargs, **{**from_url, **options})

    # -- schema --------------------------------------------------------------------------------

    def schema(self) -> str:
        """The earlier spelling of `schema_sql`; deprecated."""
        deprecated("MySQLStore.schema()", "MySQLStore.schema_sql()")
        return self.schema_sql()

    def schema_sql(self) -> str:
        """The DDL `install_schema` runs: tables.sql (or tables_database_ids.sql with
        DatabaseIds) with this store's table names."""
        return sql.renamed_schema(
            sql.schema_text(database_ids=self._keys.generated),
            job_table=self._sql.job_table,
            archived_job_table=self._sql.archived_job_table,
        )

    @classmethod
    def schema_for_url(cls, url: str) -> str:
        """`schema_sql()` of the store `connect(url)` gives, its tables and id kind taken from the
        URL's options: what `proletarian schema print` shows. Nothing connects."""
        return cls.connect(url).schema_sql()

    def install_schema(self) -> None:
        """Create the tables if they are missing (CREATE TABLE IF NOT EXISTS: an existing table
        is left as it is, even if it differs), and add the columns later releases added."""
        with self._connection("install_schema") as conn, conn.cursor(Cursor) as cursor:
            for statement in sql.ddl_statements(self.schema_sql()):
                cursor.execute(statement)
            # Tables made by an earlier release: add the columns it lacked.
            for table in (self._sql.job_table, self._sql.archived_job_table):
                cursor.execute(*self._sql.has_column(table))
                found = cursor.fetchone()
                if found is None or not found[0]:
                    cursor.execute(self._sql.add_column(table))
            self._inspector.upgrade(cursor)

    # -- enqueue -------------------------------------------------------------------------------

    def enqueue(self, job: NewJob, *, conn: Any | None = None) -> JobId:
        return self.enqueue_many([job], conn=conn)[0]

    def enqueue_many(self, jobs: Sequence[NewJob], *, conn: Any | None = None) -> list[JobId]:
        """With `conn` (a PyMySQL connection) the rows join its open transaction, which is
        never committed or rolled back here. One INSERT for up to 1,000 jobs (and about a MiB
        of payload); on MySQL with DatabaseIds, one per job, to read each generated id.

        Jobs with a unique key take it first, each in two to four statements (the key row is
        inserted or locked, then its holder checked),
        then the jobs that took theirs (or have none) are inserted as above."""
        check_conn(conn, Connection, "MySQLStore")
        now = self.clock.now()
        rows = [encode(job, serializer=self.serializer, ids=self.job_ids, now=now) for job in jobs]
        if not rows:
            return []
        keyed = any(job.unique_key is not None for job in jobs)
        if keyed and self._keys.generated:
            raise ConfigurationError(
                "MySQLStore with DatabaseIds does not support unique_key: the key is taken "
                "before the job's insert, so the job's id must be made by the client (use the "
                "default Uuid7Ids)"
            )
        if not keyed:
            return [JobId(job_id) for job_id in self._write(rows, conn)]
        if conn is not None:
            with translate(self._where, "enqueue"):
                return self._enqueue_keyed(conn, jobs, rows, now, commit=False)
        with self._connection("enqueue") as own:
            try:
                return self._enqueue_keyed(own, jobs, rows, now, commit=True)
            except BaseException:
                own.rollback()
                raise

    def _write(self, rows: list[Row], conn: Connection | None) -> list[str]:
        keys = None if self._keys.generated else [self._key(row) for row in rows]
        values = [self._values(row) for row in rows]
        if keys is not None:
            values = [[key, *row_values] for key, row_values in zip(keys, values, strict=True)]
        batches = _batches(rows, values)
        if conn is not None:
            with translate(self._where, "enqueue"):
                generated = self._insert(conn, batches, commit=False)
        else:
            with self._connection("enqueue") as own:
                generated = self._insert(own, batches, commit=True)
        return generated if keys is None else [self._keys.text(key) for key in keys]

    def _enqueue_keyed(
        self,
        conn: Connection,
        jobs: Sequence[NewJob],
        rows: list[Row],
        now: datetime,
        *,
        commit: bool,
    ) -> list[JobId]:
        """Take each key (its first job's, in this call), then insert in one go the jobs that
        took theirs or have none. Runs in `conn`'s transaction; commits it only if `commit`
        (with the insert, in its round trip)."""
        firsts = first_of_each_key(jobs)
        # In key order: two calls taking the same keys lock them in the same order, so they
        # wait for each other instead of deadlocking.
        keyed = sorted(
            (job.unique_key, index)
            for index, job in enumerate(jobs)
            if job.unique_key is not None and firsts[index] == index
        )
        holders = {index: self._take_key(conn, jobs[index], rows[index], now) for _, index in keyed}
        ids: list[JobId] = []
        written: list[Row] = []
        for index, row in enumerate(rows):
            holder = holders.get(index)
            if firsts[index] != index:
                ids.append(JobId(ids[firsts[index]], created=False))
            elif holder is not None:
                ids.append(JobId(holder, created=False))
            else:
                ids.append(JobId(str(row.id)))
                written.append(row)
        if written:
            values = [[self._key(row), *self._values(row)] for row in written]
            self._insert(conn, _batches(written, values), commit=commit)
        elif commit:
            conn.commit()
        return ids

    def _take_key(self, conn: Connection, job: NewJob, row: Row, now: datetime) -> str | None:
        """Give the job its key, or return the id of the job holding it. Inserting a new key
        row, or locking the existing one, waits for a transaction still writing it: two
        enqueues of one key never both take it. A free key is taken over only after its row
        is locked, and its holder is then read in a consistent read, which waits for no
        claim's lock on the holder's job (a locking read would wait for the job to finish)."""
        assert job.unique_key is not None
        key = job.unique_key.encode()
        job_id = self._key(row)
        unique_for = microseconds(job.unique_for)
        (_, locked) = run(
            conn,
            [
                (self._sql.add_key, (key, job_id, unique_for)),
                (self._sql.lock_key, (key,)),
            ],
        )
        holder, holder_for = locked[0]
        if bytes(holder) == job_id:
            return None  # a new key: its row is this job's
        params = (key, holder, holder, holder, utc_naive(now), holder_for)
        ((free,),) = run(conn, [(self._sql.key_free, params)])[0]
        if not free:
            return self._keys.text(holder)
        run(conn, [(self._sql.move_key, (job_id, unique_for, key))])
        return None

    def _values(self, row: Row) -> list[Any]:
        """A new job's columns but its id, in the order of NEW_JOB_COLUMNS."""
        return list(
            sql.NewJobRow(
                queue=row.queue,
                job_type=row.job_type,
                payload=row.payload,
                priority=row.priority,
                enqueued_at=utc_naive(row.enqueued_at),
                process_at=utc_naive(row.process_at),
                meta=row.meta,
            )
        )

    def _key(self, row: Row) -> Any:
        """The job_id column's value for an id made by the application."""
        key = None if row.id is None else self._keys.param(row.id)
        if key is None:
            raise ConfigurationError(
                f"MySQLStore keeps job ids as BINARY(16) UUIDs, but job_ids={self.job_ids!r} "
                f"gave {row.id!r}; for database-generated ids pass job_ids=DatabaseIds() "
                "(with the tables of tables_database_ids.sql)"
            )
        return key

    def _insert(
        self, conn: Connection, batches: list[list[list[Any]]], *, commit: bool
    ) -> list[str]:
        """Insert the batches; the ids the database made, if it makes them (else [])."""
        if self._keys.generated and not is_mariadb(conn):
            return self._insert_one_by_one(conn, batches, commit=commit)
        returning = self._keys.generated
        ids: list[str] = []
        for index, batch in enumerate(batches):
            insert = self._sql.insert(len(batch), with_ids=not returning, returning=returning)
            steps: list[Step] = [(insert, [value for row in batch for value in row])]
            if commit and index == len(batches) - 1:
                steps.append((sql.COMMIT, ()))
            results = run(conn, steps)
            if returning:
                ids.extend(self._keys.text(generated[0]) for generated in results[0])
        return ids

    def _insert_one_by_one(
        self, conn: Connection, batches: list[list[list[Any]]], *, commit: bool
    ) -> list[str]:
        # MySQL has no RETURNING, and the ids of one multi-row INSERT are consecutive only with
        # innodb_autoinc_lock_mode below 2 (8.0 defaults to 2): read LAST_INSERT_ID() per row.
        insert = self._sql.insert(1, with_ids=False, returning=False)
        ids = []
        with conn.cursor(Cursor) as cursor:
            for row in (row for batch in batches for row in batch):
                cursor.execute(insert, row)
                ids.append(self._keys.text(cursor.lastrowid))
        if commit:
            conn.commit()
        return ids

    # -- claim ---------------------------------------------------------------------------------

    def claim(self, queues: Sequence[str], *, worker_id: str) -> MySQLClaim | None:
        """Lock the most urgent due job of `queues` in a new transaction on a pooled
        connection, held by the returned claim until it ends. `worker_id` is not stored: the
        lock is the claim.

        A transaction rolled back by a crash leaves no trace in InnoDB, so a job that kills
        its worker would never be counted. Some claims are therefore careful: they commit the
        abandonment they fear before the job runs, and the outcome undoes it (see
        Statements.count_abandon), one commit more. Careful are the first claim of each
        `worker_id` (a restarted worker's first claim is the one a job that keeps killing its
        worker takes) and every claim of a job already counted abandoned."""
        return claim_job(
            self._pool,
            self._sql,
            keys=self._keys,
            where=self._where,
            serializer=self.serializer,
            clock=self.clock,
            crash_delay=self.crash_delay,
            claimers=self._claimers,
            queues=queues,
            worker_id=worker_id,
        )

    # -- inspection and operations -------------------------------------------------------------

    def get_job(self, job_id: str) -> Job | None:
        """A queued job is RUNNING while a claim holds its row lock: this tries to lock the row
        with SKIP LOCKED and lets go at once. A claim at that instant skips the job, which is
        then claimed on the next try."""
        key = self._keys.param(job_id)
        if key is None:
            return None
        now = self.clock.now()
        with self._connection("get_job") as conn:
            unlocked, queued, archived, _ = run(
                conn,
                [
                    (self._sql.get_unlocked, (key,)),
                    (self._sql.get_queued, (key,)),
                    (self._sql.get_archived, (key,)),
                    (sql.ROLLBACK, ()),
                ],
            )
        status: JobStatus | None = None  # archived rows carry their own
        if unlocked:
            row = sql.JobRow(*unlocked[0])
            due = sql.to_utc(row.process_at)
            status = JobStatus.SCHEDULED if due > now else JobStatus.READY
        elif queued:
            row, status = sql.JobRow(*queued[0]), JobStatus.RUNNING
        elif archived:
            row = sql.JobRow(*archived[0])
        else:
            return None
        return sql.to_job(row, keys=self._keys, serializer=self.serializer, status=status)[0]

    def stats(self) -> dict[str, QueueStats]:
        """Running jobs are those whose row is locked; counting them locks every due job for
        the length of one index scan (claims at that instant find nothing and poll again).
        Meant for monitoring, not for a tight loop."""
        now = self.clock.now()
        naive = utc_naive(now)
        with self._connection("stats") as conn:
            queued, ready, archived, _ = run(
                conn,
                [
                    (self._sql.count_queued, (naive, naive)),
                    (self._sql.count_ready, (naive,)),
                    (self._sql.count_archived, ()),
                    (sql.ROLLBACK, ()),
                ],
            )
        counts: dict[str, dict[str, int]] = {}
        oldest: dict[str, datetime] = {}
        for queue, due, scheduled in queued:
            counts[queue] = {"running": int(due), "scheduled": int(scheduled)}
        for queue, count, first in ready:
            queue_counts = counts.setdefault(queue, {"running": 0})
            queue_counts["ready"] = int(count)
            # Due jobs counted a moment before, minus those found unlocked now.
            queue_counts["running"] = max(0, queue_counts["running"] - int(count))
            oldest[queue] = sql.to_utc(first)
        for queue, status, count in archived:
            counts.setdefault(queue, {})[str(status)] = int(count)
        return {
            queue: QueueStats(
                **values,
                oldest_ready_age=(now - oldest[queue]) if queue in oldest else None,
            )
            for queue, values in sorted(counts.items())
        }

    def retry_failed(self, job_id: str) -> bool:
        """Move an archived failed job back to its queue, due now, with no attempts counted."""
        key = self._keys.param(job_id)
        if key is None:
            return False
        now = utc_naive(self.clock.now())
        with self._connection("retry_failed") as conn:
            if not run(conn, [(self._sql.lock_failed, (key,))])[0]:
                conn.rollback()
                return False
            run(
                conn,
                [
                    (self._sql.requeue, (now, key)),
                    (self._sql.unarchive, (key,)),
                    (sql.COMMIT, ()),
                ],
            )
        return True

    def cancel(self, job_id: str) -> bool:
        """Delete a queued job whose row is not locked. A running job is locked, so it is
        refused; so is a job that a concurrent `get_job` or `stats` holds for an instant."""
        key = self._keys.param(job_id)
        if key is None:
            return False
        with self._connection("cancel") as conn:
            if not run(conn, [(self._sql.lock_unlocked, (key,))])[0]:
                conn.rollback()
                return False
            # The job is gone for good: so is the key it held, in the same transaction.
            steps = [(self._sql.delete, (key,)), (self._sql.drop_key, (key,)), (sql.COMMIT, ())]
            run(conn, steps)
        return True

    def prune_archive(self, older_than: timedelta, *, limit: int | None = None) -> int:
        """Deletes in transactions of at most 5,000 rows, so a large prune holds no long locks."""
        cutoff = utc_naive(prune_cutoff(older_than, self.clock.now()))
        limit = prune_limit(limit)
        with self._connection("prune_archive") as conn, conn.cursor(Cursor) as cursor:

            def delete(batch: int) -> int:
                cursor.execute(self._sql.prune_keys, (cutoff, batch))
                deleted = int(cursor.execute(self._sql.prune, (cutoff, batch)))
                conn.commit()
                return deleted

            return prune_in_batches(delete, limit, PRUNE_BATCH)

    def latest_unique_key(self, prefix: str) -> str | None:
        """One backward range scan of the key table's primary key (the keys' UTF-8 bytes,
        whose order is code point order)."""
        low = key_prefix(prefix).encode()
        upper = prefix_upper_bound(prefix)
        with self._connection("latest_unique_key") as conn:
            if upper is None:
                steps = [(self._sql.latest_key, (low,)), (sql.COMMIT, ())]
            else:
                steps = [(self._sql.latest_key_bounded, (low, upper.encode())), (sql.COMMIT, ())]
            found = run(conn, steps)[0]
        return bytes(found[0][0]).decode() if found else None

    # -- operators' reads and bulk actions (mysql/inspection.py) -------------------------------

    def list_jobs(
        self,
        *,
        status: JobStatus | None = None,
        queue: str | None = None,
        job_type: str | None = None,
        limit: int = 50,
        before: str | None = None,
    ) -> JobPage:
        """Walks both tables' primary keys backwards from `before`, or the archive's status_id
        index when a status is given. Running jobs are told by their row locks, as get_job
        tells them: the page's queued rows are locked with SKIP LOCKED for an instant."""
        wanted = JobFilter(status=status, queue=queue, job_type=job_type)
        count = inspection.page_limit(limit)
        after = inspection.cursor(before)
        key = None if after is None else self._keys.param(after)
        if after is not None and key is None:
            raise ConfigurationError(f"before {after[:80]!r} is not a job id of this store")
        return self._inspector.list_jobs(wanted, limit=count, before=key, now=self.clock.now())

    def retry_failed_jobs(self, *, queue: str | None = None, job_type: str | None = None) -> int:
        wanted = JobFilter(queue=queue, job_type=job_type)
        return self._inspector.retry_failed_jobs(wanted, self.clock.now())

    def cancel_queued_jobs(self, *, queue: str | None = None, job_type: str | None = None) -> int:
        """Removes the matching jobs whose rows no claim has locked, as `cancel`."""
        return self._inspector.cancel_queued_jobs(JobFilter(queue=queue, job_type=job_type))

    def throughput(self, minutes: int = 15) -> list[MinuteCounts]:
        inspection.throughput_minutes(minutes)
        return self._inspector.throughput(self.clock.now(), minutes)

    # -- worker registry (mysql/inspection.py) -------------------------------------------------

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

    def close(self) -> None:
        """Close the pool's connections; those held by claims close when the claims end."""
        self._pool.close()

    @contextmanager
    def _connection(self, action: str) -> Iterator[Connection]:
        with translate(self._where, action), self._pool.connection() as conn:
            yield conn

    def __repr__(self) -> str:
        return (
            f"<MySQLStore {self._where} job_table={self._sql.job_table} "
            f"archived_job_table={self._sql.archived_job_table}>"
        )


def _batches(rows: list[Row], values: list[list[Any]]) -> list[list[list[Any]]]:
    """Rows' values grouped into INSERT statements of bounded size."""
    batches: list[list[list[Any]]] = [[]]
    size = 0
    for row, row_values in zip(rows, values, strict=True):
        # The payload and meta dominate a row's size.
        row_size = len(row.payload) + len(row.meta) + 200
        if batches[-1] and (
            len(batches[-1]) >= MAX_ROWS_PER_INSERT or size + row_size > MAX_CHARS_PER_INSERT
        ):
            batches.append([])
            size = 0
        batches[-1].append(row_values)
        size += row_size
    return batches
