"""SQLiteStore: a durable queue in one SQLite file, with leased claims."""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from proletarian.adapters import url_options as read
from proletarian.adapters.clocks import SystemClock
from proletarian.adapters.common import (
    DEFAULT_LEASE,
    check_conn,
    encode,
    error_params,
    new_token,
)
from proletarian.adapters.ids import Uuid7Ids
from proletarian.adapters.serializers import JsonSerializer
from proletarian.adapters.sqlite._connections import Connections, Handle, translate
from proletarian.adapters.sqlite._sql import (
    ABANDONS,
    DEFAULT_ARCHIVED_JOB_TABLE,
    DEFAULT_JOB_TABLE,
    Statements,
    decode_payload,
    from_text,
    job_from_row,
    renamed_schema,
    to_text,
)
from proletarian.core.errors import ClaimLost, ConfigurationError, StoreError, StoreUnavailable
from proletarian.core.job import Job, JobError, JobStatus, NewJob, QueueStats
from proletarian.core.pruning import prune_cutoff, prune_limit
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
_HANDLER_SAVEPOINT = "proletarian_handler"
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
        if not isinstance(lease, timedelta) or lease <= timedelta(0):
            raise ConfigurationError(f"lease must be a positive timedelta, got {lease!r}")
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

    @classmethod
    def from_url(cls, url: str, **options: Any) -> SQLiteStore:
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

    # -- schema --------------------------------------------------------------------------------

    @classmethod
    def schema_for_url(cls, url: str) -> str:
        """The DDL `install_schema` runs on the store `from_url(url)` gives, with its table
        names, as tables.sql's text with its comments: what `proletarian schema print` shows.
        Opens nothing."""
        store = cls.from_url(url)
        return renamed_schema(*store._table_names)

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
        return bool(row[0] == 2)

    # -- transactions --------------------------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction on the calling thread's connection: commits when the block
        ends, rolls back when it raises."""
        if self._connections.is_holding(threading.get_ident()):
            raise StoreError(
                "this thread's handler holds the write transaction of ctx.connection, and SQLite "
                "has one writer: enqueue with conn=ctx.connection, or write after the handler"
            )
        with self._transaction("BEGIN IMMEDIATE") as conn:
            yield conn

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """One read transaction: every query in the block sees the same snapshot."""
        with self._transaction("BEGIN") as conn:
            yield conn

    @contextmanager
    def _transaction(self, begin: str) -> Iterator[sqlite3.Connection]:
        conn = self._connections.current()
        with translate(self.path):
            if conn.in_transaction:
                # Left open by a call interrupted between BEGIN and its end (KeyboardInterrupt);
                # only this thread uses this connection, so nothing else is lost.
                conn.execute("ROLLBACK")
            conn.execute(begin)
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                self._rollback(conn)
                raise

    def _rollback(self, conn: sqlite3.Connection) -> None:
        try:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        except sqlite3.Error:
            # The error being raised matters more; a connection that can't roll back is in an
            # unknown state, so this thread gets a fresh one next time.
            self._connections.forget_current()

    # -- enqueue -------------------------------------------------------------------------------

    def enqueue(self, job: NewJob, *, conn: Any | None = None) -> str:
        return self.enqueue_many([job], conn=conn)[0]

    def enqueue_many(self, jobs: Sequence[NewJob], *, conn: Any | None = None) -> list[str]:
        """All jobs in one transaction. With `conn` (an sqlite3.Connection to this store's
        file), they join the caller's transaction, inside a savepoint, and are never committed
        here; if `conn` has no transaction open, one is begun as Python would have begun it
        before an INSERT (an autocommit connection commits the jobs, as it commits everything)."""
        check_conn(conn, sqlite3.Connection, "SQLiteStore")
        now = self.clock.now()
        rows = [self._row(job, now) for job in jobs]
        if not rows:
            return []
        if conn is None:
            self._ready()
            with self._write() as own:
                own.executemany(self._sql.insert, rows)
        else:
            self._enqueue_on(conn, rows)
        return [row[0] for row in rows]

    def _row(self, job: NewJob, now: datetime) -> tuple[str, str, str, str, int, str, str, str]:
        row = encode(job, serializer=self.serializer, ids=self.job_ids, now=now)
        if row.id is None:
            raise ConfigurationError(
                "SQLiteStore cannot use database-generated ids; use the default Uuid7Ids"
            )
        return (
            row.id,
            row.queue,
            row.job_type,
            row.payload,
            row.priority,
            to_text(row.enqueued_at),
            to_text(row.process_at),
            row.meta,
        )

    def _enqueue_on(self, conn: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> None:
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
                conn.executemany(self._sql.insert, rows)
            except BaseException:
                # Some errors (a full disk) end the whole transaction, savepoint included.
                if conn.in_transaction:
                    conn.execute(f"ROLLBACK TO {_ENQUEUE_SAVEPOINT}")
                    conn.execute(f"RELEASE {_ENQUEUE_SAVEPOINT}")
                raise
            conn.execute(f"RELEASE {_ENQUEUE_SAVEPOINT}")

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
        now = self.clock.now()
        token = new_token(worker_id)
        with self._write() as conn:
            picked = conn.execute(
                self._sql.pick(len(queues)), (*queues, to_text(now), to_text(now))
            ).fetchall()
            if not picked:
                return None
            *row, abandoned = picked[0]
            conn.execute(self._sql.take, (token, to_text(now + self.lease), abandoned, row[0]))
        row[ABANDONS] += abandoned  # as `take` just counted it
        return SQLiteClaim(self, row, token, now)

    # -- inspection and operations -------------------------------------------------------------

    def get_job(self, job_id: str) -> Job | None:
        self._ready()
        now = self.clock.now()
        with translate(self.path):
            rows = self._connections.current().execute(self._sql.get, (job_id, job_id)).fetchall()
        if not rows:
            return None
        payload, _ = decode_payload(self.serializer, rows[0][3])
        return job_from_row(rows[0], payload=payload, now=now)

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
            return bool(conn.execute(self._sql.cancel, (job_id, now)).rowcount == 1)

    def prune_archive(self, older_than: timedelta, *, limit: int | None = None) -> int:
        """Delete archived jobs finished before now - `older_than`, in one transaction."""
        cutoff = to_text(prune_cutoff(older_than, self.clock.now()))
        count = prune_limit(limit)
        self._ready()
        with self._write() as conn:
            return int(
                conn.execute(self._sql.prune, (cutoff, -1 if count is None else count)).rowcount
            )

    def close(self) -> None:
        """Close every connection the store has open, in every thread. Call it once the
        threads using the store are done; a later call reopens connections as needed."""
        self._connections.close_all()

    def __repr__(self) -> str:
        return f"<SQLiteStore path={self.path!r}>"


class SQLiteClaim:
    """A leased claim on a SQLiteStore job. Used by one thread, except `renew`, which the
    worker's heartbeat calls from its own thread.

    The handler runs outside any transaction. If it asks for `connection`, the claim opens a
    write transaction on a dedicated connection (after checking it still holds the job) and
    keeps it until the outcome, which is written and committed in that same transaction: handler
    writes commit with success and are rolled back (to a savepoint) before a retry or failure is
    recorded. While it is open, SQLite's one writer is taken: other claims and enqueues wait.
    """

    def __init__(
        self,
        store: SQLiteStore,
        row: Sequence[Any],
        token: str,
        started_at: datetime,
    ) -> None:
        self._store = store
        self._token = token
        self._started_at = started_at
        self._held: Handle | None = None  # the handler's transaction, once asked for
        self._holder = 0
        self._writes_lost = False  # the handler's transaction ended without committing
        payload, self.decode_error = decode_payload(store.serializer, row[3])
        leased = (*row, to_text(started_at + store.lease), None, None, None)
        self.job: Job = job_from_row(leased, payload=payload, now=started_at)

    @property
    def lease(self) -> timedelta:
        return self._store.lease

    @property
    def connection(self) -> sqlite3.Connection:
        """The handler's write transaction, begun on first access. Raises ClaimLost if the
        lease was lost before it could begin. Never commit or roll it back yourself."""
        if self._held is None:
            self._held = self._begin_handler_transaction()
        conn = self._held.conn
        if conn is None:
            raise StoreUnavailable(f"SQLite store {self._store.path} was closed")
        return conn

    def _begin_handler_transaction(self) -> Handle:
        store = self._store
        handle = store._connections.open()
        conn = handle.conn
        assert conn is not None
        try:
            with translate(store.path):
                conn.execute("BEGIN IMMEDIATE")
                if conn.execute(store._sql.holds, (self.job.id, self._token)).fetchone() is None:
                    raise self._lost()
                conn.execute(f"SAVEPOINT {_HANDLER_SAVEPOINT}")
        except BaseException:
            handle.close()
            raise
        self._holder = threading.get_ident()
        store._connections.hold(self._holder)
        return handle

    def renew(self) -> None:
        """Push `locked_until` a lease past now, if this claim still holds the job."""
        if self._held is not None:
            # The handler's open write transaction keeps every other writer, and so every other
            # claim, away from the job until the outcome commits: there is nothing to renew.
            return
        store = self._store
        until = to_text(store.clock.now() + store.lease)
        with store._write() as conn:
            if conn.execute(store._sql.renew, (until, self.job.id, self._token)).rowcount != 1:
                raise self._lost()

    def succeed(self) -> None:
        self._archive(JobStatus.SUCCEEDED, None)

    def fail(self, error: JobError) -> None:
        self._archive(JobStatus.FAILED, error)

    def _archive(self, status: JobStatus, error: JobError | None) -> None:
        store = self._store
        finished = to_text(store.clock.now())
        params = (
            *error_params(error),
            status.value,
            to_text(self._started_at),
            finished,
            self.job.id,
            self._token,
        )
        with self._outcome(keep_handler_writes=status is JobStatus.SUCCEEDED) as conn:
            if conn.execute(store._sql.archive, params).rowcount != 1:
                raise self._lost()
            conn.execute(store._sql.delete, (self.job.id,))

    def retry_at(self, when: datetime, error: JobError) -> None:
        params = (to_text(when), *error_params(error), self.job.id, self._token)
        with self._outcome(keep_handler_writes=False) as conn:
            if conn.execute(self._store._sql.retry, params).rowcount != 1:
                raise self._lost()

    def interrupt(self) -> None:
        """End the handler's write transaction, if it asked for one (it holds SQLite's one
        writer): its statement is interrupted and its connection closed, which rolls it back."""
        held, self._held = self._held, None
        self._writes_lost = True
        if held is None:
            return
        self._store._connections.release(self._holder)
        conn = held.conn
        if conn is not None:
            conn.interrupt()
        held.close()

    def abandon(self) -> None:
        with self._outcome(keep_handler_writes=False) as conn:
            if conn.execute(self._store._sql.abandon, (self.job.id, self._token)).rowcount != 1:
                raise self._lost()

    @contextmanager
    def _outcome(self, *, keep_handler_writes: bool) -> Iterator[sqlite3.Connection]:
        """The transaction an outcome is written in: the handler's, if it asked for one and it
        is still open; otherwise a new one, conditional on the token like any leased claim.
        Success is refused once the handler's transaction was lost: its writes went with it."""
        if keep_handler_writes and self._writes_lost:
            raise ClaimLost(
                f"job {self.job.id} can't succeed: the handler's writes on ctx.connection were "
                "lost with their transaction; the job runs again when its lease expires"
            )
        held, self._held = self._held, None
        if held is not None:
            self._store._connections.release(self._holder)
            self._writes_lost = True  # until the handler's transaction commits below
        conn = None if held is None else held.conn
        if conn is None or not conn.in_transaction:
            if held is not None:
                held.close()
            with self._store._write() as own:
                yield own
            return
        try:
            with translate(self._store.path):
                if not keep_handler_writes:
                    conn.execute(f"ROLLBACK TO {_HANDLER_SAVEPOINT}")
                conn.execute(f"RELEASE {_HANDLER_SAVEPOINT}")
                yield conn
                conn.execute("COMMIT")
        finally:
            # Closing rolls back whatever did not commit.
            if held is not None:
                held.close()

    def _lost(self) -> ClaimLost:
        return ClaimLost(f"job {self.job.id} is no longer held by this claim (lease expired)")
