"""SQLiteStore: a durable queue in one SQLite file, with leased claims."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from proletarian.adapters import url_options as read
from proletarian.adapters.clocks import SystemClock
from proletarian.adapters.common import (
    DEFAULT_LEASE,
    check_conn,
    deprecated,
    encode,
)
from proletarian.adapters.ids import Uuid7Ids
from proletarian.adapters.serializers import JsonSerializer
from proletarian.adapters.sqlite._connections import Connections, translate
from proletarian.adapters.sqlite._inspect_sql import InspectStatements
from proletarian.adapters.sqlite._sql import (
    DEFAULT_ARCHIVED_JOB_TABLE,
    DEFAULT_JOB_TABLE,
    JobRow,
    NewJobRow,
    Statements,
    decode_payload,
    from_text,
    job_from_row,
    micros,
    renamed_schema,
    to_text,
)
from proletarian.adapters.sqlite.claim import SQLiteClaim, lease_job
from proletarian.adapters.sqlite.inspection import Inspector
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
from proletarian.core.urls import kind_of, redact
from proletarian.ports.clock import Clock
from proletarian.ports.ids import JobIdStrategy
from proletarian.ports.serializer import Serializer

DEFAULT_BUSY_TIMEOUT = timedelta(seconds=5)
SYNCHRONOUS = ("NORMAL", "FULL", "EXTRA")
# What a sqlite:/// URL's query may set: the store's keyword arguments under their own names.
URL_OPTIONS = read.UrlOptions(
    "SQLite",
    {
        "job_table": read.text,
        "archived_job_table": read.text,
        "lease": read.seconds,
        "busy_timeout": read.seconds,
        "synchronous": read.text,
    },
)
_ENQUEUE_SAVEPOINT = "proletarian_enqueue"


class SQLiteStore:
    """A job queue in the SQLite file at `path`, for the threads and processes of one machine.

    Thread-safe: each thread uses its own connection. Every write is one short `BEGIN IMMEDIATE`
    transaction; while another connection writes, it waits up to `busy_timeout` and then raises
    StoreUnavailable. The tables are created on first use (see `install_schema`).

    Durability: journal_mode=WAL with `synchronous="NORMAL"` (the default) survives any process
    crash, but a power loss or OS crash may lose the last committed transactions; pass
    `synchronous="FULL"` to make every commit durable, at the price of an fsync per commit.

    Args:
        path: The database file, created if missing. Not ":memory:": producers and workers
            must share the file.
        serializer: Encodes payloads. Default: `JsonSerializer()`.
        job_ids: Makes job ids. Default: `Uuid7Ids()`; `DatabaseIds` is refused at enqueue.
        clock: The time source for due times and leases. Default: `SystemClock()`.
        lease: How long a claim holds its job before another worker may take it (default
            30 s); the worker's heartbeat renews it while the handler runs.
        job_table: The table of queued jobs: "job" unless given.
        archived_job_table: The table of finished jobs: "archived_job" unless given.
        busy_timeout: How long a write waits for another connection's write lock before
            StoreUnavailable (default 5 s).
        synchronous: SQLite's `synchronous` setting: "NORMAL", "FULL" or "EXTRA".
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        serializer: Serializer | None = None,
        job_ids: JobIdStrategy | None = None,
        clock: Clock | None = None,
        lease: timedelta = DEFAULT_LEASE,
        job_table: str = DEFAULT_JOB_TABLE,
        archived_job_table: str = DEFAULT_ARCHIVED_JOB_TABLE,
        busy_timeout: timedelta = DEFAULT_BUSY_TIMEOUT,
        synchronous: str = "NORMAL",
    ) -> None:
        name = os.fspath(path)
        if not isinstance(name, str):
            raise ConfigurationError(f"SQLiteStore path must be a str path, got {name!r}")
        if name in ("", ":memory:") or name.startswith("file::memory:"):
            raise ConfigurationError(
                f"SQLiteStore needs a database file, got {name!r}: an in-memory or temporary "
                "database lives in one connection, so producers and workers could not share it"
            )
        positive_duration(lease, what="lease")
        if not isinstance(busy_timeout, timedelta) or busy_timeout < timedelta(0):
            raise ConfigurationError(f"busy_timeout must be a timedelta >= 0, got {busy_timeout!r}")
        level = synchronous.upper() if isinstance(synchronous, str) else synchronous
        if level not in SYNCHRONOUS:
            raise ConfigurationError(
                f"synchronous must be one of {', '.join(SYNCHRONOUS)}, got {synchronous!r}"
            )
        self.path = os.path.abspath(name)
        self.serializer: Serializer = serializer or JsonSerializer()
        self.job_ids: JobIdStrategy = job_ids or Uuid7Ids()
        self.clock: Clock = clock or SystemClock()
        self.lease = lease
        self._sql = Statements.for_tables(job_table, archived_job_table)
        self._table_names = (self._sql.job_table[1:-1], self._sql.archived_job_table[1:-1])
        self._connections = Connections(
            self.path, busy_timeout=busy_timeout.total_seconds(), synchronous=level
        )
        self._installed = False
        self._inspector = Inspector(
            self._connections, InspectStatements(self._sql), self.serializer, self.path
        )
        self._registry_installed = False

    @classmethod
    def connect(cls, url: str, **options: Any) -> SQLiteStore:
        """`sqlite:///relative/path.db` or `sqlite:////absolute/path.db`. The query may set the
        options of URL_OPTIONS under the keyword arguments' names (`busy_timeout` and `lease`
        in seconds); keyword options win over it. Opens nothing: the file is opened, and
        created if missing, on first use."""
        if kind_of(url) != "sqlite":
            raise ConfigurationError(f"SQLiteStore needs a sqlite:/// URL, got {redact(url)!r}")
        try:
            parts = urlsplit(url)
        except ValueError as exc:
            raise ConfigurationError(f"SQLite URL {redact(url)!r} is malformed: {exc}") from None
        if parts.netloc or not parts.path.startswith("/"):
            raise ConfigurationError(
                f"SQLite URL {redact(url)!r} must have no host: sqlite:///relative/path.db or "
                "sqlite:////absolute/path.db"
            )
        from_query, _ = URL_OPTIONS.read(parse_qsl(parts.query, keep_blank_values=True))
        return cls(unquote(parts.path[1:]), **{**from_query, **options})

    @classmethod
    def from_url(cls, url: str, **options: Any) -> SQLiteStore:
        """The earlier spelling of `connect`; deprecated."""
        deprecated("SQLiteStore.from_url", "SQLiteStore.connect")
        return cls.connect(url, **options)

    # -- schema --------------------------------------------------------------------------------

    @classmethod
    def schema_for_url(cls, url: str) -> str:
        """`schema_sql()` of the store `connect(url)` gives: what `proletarian schema print`
        shows. Opens nothing."""
        return cls.connect(url).schema_sql()

    def schema_sql(self) -> str:
        """The DDL `install_schema` runs, with this store's table names, as tables.sql's text
        with its comments."""
        return renamed_schema(*self._table_names)

    def install_schema(self) -> None:
        """Create the tables and indexes if missing (the DDL of database/sqlite/tables.sql).
        Idempotent; takes the write lock briefly."""
        with self._write() as conn:
            self._install(conn)
        self._installed = True

    def _install(self, conn: sqlite3.Connection) -> None:
        """The DDL, then the columns later releases added, for tables made before them."""
        for statement in self._sql.ddl:
            conn.execute(statement)
        for table in (self._sql.job_table, self._sql.archived_job_table):
            if not conn.execute(self._sql.has_column, (table[1:-1],)).fetchone()[0]:
                conn.execute(self._sql.add_column(table))

    def _ready(self) -> None:
        """Install the schema on first use. Checked with a read first, because CREATE TABLE IF
        NOT EXISTS takes the write lock even when the table exists."""
        if self._installed:
            return
        if self._tables_current(self._connections.current()):
            self._installed = True
        else:
            self.install_schema()

    def _tables_current(self, conn: sqlite3.Connection) -> bool:
        with translate(self.path):
            row = conn.execute(self._sql.tables_current, self._table_names).fetchone()
        return bool(row[0] == 3)

    # -- transactions --------------------------------------------------------------------------

    def _write(self) -> AbstractContextManager[sqlite3.Connection]:
        return self._connections.write()

    def _read(self) -> AbstractContextManager[sqlite3.Connection]:
        return self._connections.read()

    # -- enqueue -------------------------------------------------------------------------------

    def enqueue(self, job: NewJob, *, conn: Any | None = None) -> JobId:
        return self.enqueue_many([job], conn=conn)[0]

    def enqueue_many(self, jobs: Sequence[NewJob], *, conn: Any | None = None) -> list[JobId]:
        """All jobs in one transaction. With `conn` (an sqlite3.Connection to this store's
        file), they join the caller's transaction, inside a savepoint, and are never committed
        here; if `conn` has no transaction open, one is begun as Python would have begun it
        before an INSERT (an autocommit connection commits the jobs, as it commits everything).
        Unique keys are taken in that transaction, under SQLite's write lock, before the
        inserts."""
        check_conn(conn, sqlite3.Connection, "SQLiteStore")
        now = self.clock.now()
        rows = [self._row(job, now) for job in jobs]
        if not rows:
            return []
        if conn is None:
            self._ready()
            with self._write() as own:
                return self._insert(own, jobs, rows, now)
        return self._enqueue_on(conn, jobs, rows, now)

    def _insert(
        self,
        conn: sqlite3.Connection,
        jobs: Sequence[NewJob],
        rows: list[NewJobRow],
        now: datetime,
    ) -> list[JobId]:
        """Take the jobs' unique keys, then insert the jobs that took theirs (or have none)."""
        if all(job.unique_key is None for job in jobs):
            conn.executemany(self._sql.insert, rows)
            return [JobId(row.job_id) for row in rows]
        firsts = first_of_each_key(jobs)
        ids: list[JobId] = []
        written: list[NewJobRow] = []
        for index, (job, row) in enumerate(zip(jobs, rows, strict=True)):
            if firsts[index] != index:
                ids.append(JobId(ids[firsts[index]], created=False))
                continue
            key = job.unique_key
            if key is not None:
                params = (key, row.job_id, microseconds(job.unique_for), micros(now))
                if conn.execute(self._sql.take_key, params).rowcount != 1:
                    (holder,) = conn.execute(self._sql.key_holder, (key,)).fetchone()
                    ids.append(JobId(holder, created=False))
                    continue
            ids.append(JobId(row.job_id))
            written.append(row)
        conn.executemany(self._sql.insert, written)
        return ids

    def _row(self, job: NewJob, now: datetime) -> NewJobRow:
        row = encode(job, serializer=self.serializer, ids=self.job_ids, now=now)
        if row.id is None:
            raise ConfigurationError(
                "SQLiteStore cannot use database-generated ids; use the default Uuid7Ids"
            )
        return NewJobRow(
            job_id=row.id,
            queue=row.queue,
            job_type=row.job_type,
            payload=row.payload,
            priority=row.priority,
            enqueued_at=to_text(row.enqueued_at),
            process_at=to_text(row.process_at),
            meta=row.meta,
        )

    def _enqueue_on(
        self,
        conn: sqlite3.Connection,
        jobs: Sequence[NewJob],
        rows: list[NewJobRow],
        now: datetime,
    ) -> list[JobId]:
        self._check_same_file(conn)
        with translate(self.path):
            autocommits = conn.isolation_level is None or getattr(conn, "autocommit", None) is True
            if not conn.in_transaction and not autocommits:
                conn.execute(f"BEGIN {conn.isolation_level}")
            conn.execute(f"SAVEPOINT {_ENQUEUE_SAVEPOINT}")
            try:
                # The tables are created in the caller's transaction when missing: installing
                # them on our own connection would wait for the write lock the caller may hold.
                if not self._installed and not self._tables_current(conn):
                    self._install(conn)
                ids = self._insert(conn, jobs, rows, now)
            except BaseException:
                # Some errors (a full disk) end the whole transaction, savepoint included.
                if conn.in_transaction:
                    conn.execute(f"ROLLBACK TO {_ENQUEUE_SAVEPOINT}")
                    conn.execute(f"RELEASE {_ENQUEUE_SAVEPOINT}")
                raise
            conn.execute(f"RELEASE {_ENQUEUE_SAVEPOINT}")
        return ids

    def _check_same_file(self, conn: sqlite3.Connection) -> None:
        with translate(self.path):
            databases = conn.execute("PRAGMA database_list").fetchall()
        main = next((file for _, name, file in databases if name == "main"), "")
        if not main or os.path.realpath(main) != os.path.realpath(self.path):
            raise ConfigurationError(
                f"SQLiteStore needs conn= to be a connection to {self.path}, got one to "
                f"{main or 'an in-memory database'}: jobs written there would never be seen"
            )

    # -- claim ---------------------------------------------------------------------------------

    def claim(self, queues: Sequence[str], *, worker_id: str) -> SQLiteClaim | None:
        """One short write transaction picks the most urgent due job (or one whose lease
        expired, counting that abandoned attempt), marks it with a fresh token and
        `locked_until = now + lease`. The write lock is taken before the pick, so no other
        claim can pick the same job. (No UPDATE ... RETURNING: it can't tell whether the job
        had a lease before, and it would need SQLite 3.35, newer than some distributions'
        Python links.)"""
        self._ready()
        return lease_job(
            self._connections,
            self._sql,
            serializer=self.serializer,
            clock=self.clock,
            lease=self.lease,
            queues=queues,
            worker_id=worker_id,
        )

    # -- inspection and operations -------------------------------------------------------------

    def get_job(self, job_id: str) -> Job | None:
        self._ready()
        now = self.clock.now()
        with translate(self.path):
            rows = self._connections.current().execute(self._sql.get, (job_id, job_id)).fetchall()
        if not rows:
            return None
        row = JobRow(*rows[0])
        payload, _ = decode_payload(self.serializer, row.payload)
        return job_from_row(row, payload=payload, now=now)

    def stats(self) -> dict[str, QueueStats]:
        """Counts per queue from one snapshot. Scans the archive: prune it to keep this quick."""
        self._ready()
        now = self.clock.now()
        with self._read() as conn:
            queued = conn.execute(self._sql.queued_counts, (to_text(now),)).fetchall()
            archived = conn.execute(self._sql.archived_counts).fetchall()
        counts: dict[str, dict[str, Any]] = {}
        for queue, running, scheduled, ready, oldest in queued:
            counts[queue] = {"running": running, "scheduled": scheduled, "ready": ready}
            if oldest is not None:
                counts[queue]["oldest_ready_age"] = now - from_text(oldest)
        for queue, status, count in archived:
            counts.setdefault(queue, {})[JobStatus(status).value] = count
        return {queue: QueueStats(**c) for queue, c in sorted(counts.items())}

    def retry_failed(self, job_id: str) -> bool:
        """Move an archived failed job back to its queue, due now, with no attempts counted."""
        self._ready()
        now = self.clock.now()
        with self._write() as conn:
            if conn.execute(self._sql.requeue_failed, (to_text(now), job_id)).rowcount != 1:
                return False
            conn.execute(self._sql.delete_archived, (job_id,))
        return True

    def cancel(self, job_id: str) -> bool:
        """Delete a queued job unless a lease on it still holds."""
        self._ready()
        now = to_text(self.clock.now())
        with self._write() as conn:
            if conn.execute(self._sql.cancel, (job_id, now)).rowcount != 1:
                return False
            conn.execute(self._sql.drop_key, (job_id,))
            return True

    def prune_archive(self, older_than: timedelta, *, limit: int | None = None) -> int:
        """Delete archived jobs finished before now - `older_than`, in one transaction."""
        cutoff = to_text(prune_cutoff(older_than, self.clock.now()))
        count = prune_limit(limit)
        self._ready()
        params = (cutoff, -1 if count is None else count)
        with self._write() as conn:
            # The same rows as the prune below: one write transaction sees one archive.
            conn.execute(self._sql.prune_keys, params)
            return int(conn.execute(self._sql.prune, params).rowcount)

    def latest_unique_key(self, prefix: str) -> str | None:
        """A range scan of the key table's primary key (SQLite's BINARY collation compares
        UTF-8 bytes, which is code point order)."""
        key_prefix(prefix)
        self._ready()
        upper = prefix_upper_bound(prefix)
        params = (prefix,) if upper is None else (prefix, upper)
        with translate(self.path):
            row = (
                self._connections.current()
                .execute(self._sql.latest_key(upper is not None), params)
                .fetchone()
            )
        return None if row is None else str(row[0])

    # -- operators' reads and bulk actions (sqlite/inspection.py) ----------------------------

    def list_jobs(
        self,
        *,
        status: JobStatus | None = None,
        queue: str | None = None,
        job_type: str | None = None,
        limit: int = 50,
        before: str | None = None,
    ) -> JobPage:
        """Walks the job table's and the archive's primary keys backwards from `before`, or
        the archive's (status, job_id) index when a status is given."""
        wanted = JobFilter(status=status, queue=queue, job_type=job_type)
        count = inspection.page_limit(limit)
        after = inspection.cursor(before)
        self._ready()
        return self._inspector.list_jobs(wanted, limit=count, before=after, now=self.clock.now())

    def retry_failed_jobs(self, *, queue: str | None = None, job_type: str | None = None) -> int:
        wanted = JobFilter(queue=queue, job_type=job_type)
        self._ready()
        return self._inspector.retry_failed_jobs(wanted, self.clock.now())

    def cancel_queued_jobs(self, *, queue: str | None = None, job_type: str | None = None) -> int:
        wanted = JobFilter(queue=queue, job_type=job_type)
        self._ready()
        return self._inspector.cancel_queued_jobs(wanted, self.clock.now())

    def throughput(self, minutes: int = 15) -> list[MinuteCounts]:
        now = self.clock.now()
        inspection.throughput_minutes(minutes)
        self._ready()
        return self._inspector.throughput(now, minutes)

    # -- worker registry (sqlite/inspection.py) ------------------------------------------------

    def _registry_ready(self) -> None:
        """Tables made by a release before the registry lack its table: add it on first use."""
        self._ready()
        if not self._registry_installed:
            if not self._inspector.has_registry():
                self.install_schema()
            self._registry_installed = True

    def register_worker(self, info: WorkerInfo) -> None:
        self._registry_ready()
        self._inspector.register_worker(info)

    def heartbeat_worker(
        self, worker_id: str, running_job_ids: Sequence[str], now: datetime
    ) -> bool:
        self._registry_ready()
        return self._inspector.heartbeat_worker(worker_id, running_job_ids, now)

    def unregister_worker(self, worker_id: str) -> None:
        self._registry_ready()
        self._inspector.unregister_worker(worker_id)

    def workers(self) -> list[WorkerInfo]:
        self._registry_ready()
        return self._inspector.workers()

    def remove_dead_workers(self, now: datetime) -> int:
        self._registry_ready()
        return self._inspector.remove_dead_workers(now)

    def close(self) -> None:
        """Close every connection the store has open, in every thread. Call it once the
        threads using the store are done; a later call reopens connections as needed."""
        self._connections.close_all()

    def __repr__(self) -> str:
        return f"<SQLiteStore path={self.path!r}>"
