"""The leased claim: a job marked with a token and an expiry, and no transaction held while the
handler runs (PostgresStore(lease=...))."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus
from psycopg_pool import ConnectionPool

from proletarian.adapters.common import new_token
from proletarian.adapters.postgres import rows, statements
from proletarian.adapters.postgres.connections import Borrowed, autocommitted, own_connection
from proletarian.adapters.postgres.errors import translated
from proletarian.adapters.postgres.network import Watchdog
from proletarian.core.errors import ClaimLost, TransactionAborted
from proletarian.core.job import Job, JobError, JobStatus
from proletarian.ports.clock import Clock
from proletarian.ports.serializer import Serializer


def lease_job(
    pool: ConnectionPool[Any],
    sql: statements.Statements,
    *,
    watchdog: Watchdog,
    serializer: Serializer,
    clock: Clock,
    lease: timedelta,
    queues: Sequence[str],
    worker_id: str,
) -> PostgresLeasedClaim | None:
    """Lease the most urgent due job (or one whose lease expired, counting that abandonment) in
    one autocommitted statement."""
    now = clock.now()
    token = new_token(worker_id)
    names = list(queues)
    params: dict[str, Any] = {"now": now, "token": token, "until": now + lease}
    if len(names) == 1:
        query, params["queue"] = sql.lease_one, names[0]
    else:
        query, params["queues"] = sql.lease_any, names
    with autocommitted(pool, "claim", watchdog) as conn:
        row = conn.cursor(row_factory=rows.job_rows).execute(query, params).fetchone()
    if row is None:
        return None
    payload, decode_error = rows.decoded(serializer, row)
    return PostgresLeasedClaim(
        pool,
        sql,
        row,
        token,
        watchdog=watchdog,
        clock=clock,
        lease=lease,
        started_at=now,
        payload=payload,
        decode_error=decode_error,
    )


class PostgresLeasedClaim:
    """One job leased to this claim's token until its lease expires.

    The handler runs with no transaction open; the worker's heartbeat renews the lease; each
    outcome writes only while the token still holds the job, else it raises ClaimLost. A crashed
    worker's job is claimed again once its lease has expired, counting an abandonment, so a job
    that keeps killing its worker is refused at the worker's `max_abandons` instead of looping.

    If the handler asks for `connection`, a transaction begins on a pool connection: it locks
    the job's row (checking the token) and sets a savepoint, and the outcome is written and
    committed in it, so the handler's writes commit with success and are rolled back before a
    retry or failure. While it is open the row lock keeps every other claim away, so the lease
    is not renewed. Used by one thread, except `renew`, which the heartbeat calls: a lock keeps
    it from running while the handler's transaction begins or the outcome starts, since it
    would wait for the handler's row lock (and hold up every other lease the worker renews).
    """

    def __init__(
        self,
        pool: ConnectionPool[Any],
        sql: statements.Statements,
        row: rows.JobRow,
        token: str,
        *,
        watchdog: Watchdog,
        clock: Clock,
        lease: timedelta,
        started_at: datetime,
        payload: Any,
        decode_error: JobError | None,
    ) -> None:
        self.decode_error = decode_error
        self._pool = pool
        self._watchdog = watchdog
        self._sql = sql
        self._token = token
        self._clock = clock
        self._lease = lease
        self._started_at = started_at
        self._key = row.job_id
        self._held: Borrowed | None = None  # the handler's transaction, once asked for
        self._ended = False  # an outcome was attempted: nothing left to renew
        self._writes_lost = False  # the handler's transaction ended without committing
        self._lock = threading.Lock()
        self.job: Job = rows.to_job(row, payload=payload, status=JobStatus.RUNNING)

    @property
    def lease(self) -> timedelta:
        return self._lease

    @property
    def connection(self) -> psycopg.Connection[Any]:
        """The handler's transaction, begun on first access. Raises ClaimLost if the lease was
        lost before it could begin. Do not commit or roll it back yourself: the outcome does."""
        with self._lock:
            if self._held is None:
                self._held = self._begin()
            return self._held.conn

    def _begin(self) -> Borrowed:
        with translated("connection"):
            borrowed = Borrowed(self._pool, autocommit=False, watchdog=self._watchdog)
        try:
            with borrowed.bounded("connection") as conn:
                try:
                    held = conn.execute(self._sql.hold, self._ids()).fetchone()
                except psycopg.errors.LockNotAvailable as exc:
                    raise self._lost() from exc
                if held is None:
                    raise self._lost()
                conn.execute(statements.SAVEPOINT)
        except BaseException:
            borrowed.give_back()
            raise
        return borrowed

    def renew(self) -> None:
        """Push the lease's expiry a lease past now, if this claim still holds the job."""
        with self._lock:
            if self._held is not None or self._ended:
                return
            params = {**self._ids(), "until": self._clock.now() + self._lease}
            with autocommitted(self._pool, "renew", self._watchdog) as conn:
                if conn.execute(self._sql.renew, params).rowcount != 1:
                    raise self._lost()

    def succeed(self) -> None:
        params = {"started_at": self._started_at, "finished_at": self._clock.now()}
        self._end("succeed", self._sql.leased["succeed"], params, keep_writes=True)

    def retry_at(self, when: datetime, error: JobError) -> None:
        params = {"process_at": when, **statements.error_values(error)}
        self._end("retry", self._sql.leased["retry"], params, keep_writes=False)

    def fail(self, error: JobError) -> None:
        params = {
            "status": "failed",
            "started_at": self._started_at,
            "finished_at": self._clock.now(),
            **statements.error_values(error),
        }
        self._end("fail", self._sql.leased["fail"], params, keep_writes=False)

    def interrupt(self) -> None:
        """End the handler's transaction, if it asked for one: its backend is ended on the
        server (the transaction aborts and lets go of the job's row) and its connection
        discarded. The lease still holds the job for the outcome."""
        with self._lock:
            held, self._held = self._held, None
            self._writes_lost = True
        if held is None:
            return
        try:
            with translated("interrupt"), own_connection(self._pool) as conn:
                conn.execute(self._sql.terminate, {"pid": held.conn.info.backend_pid})
        finally:
            held.give_back()

    def abandon(self) -> None:
        """Give the job back as it was: due again, as if never claimed."""
        self._end("abandon", self._sql.release, {}, keep_writes=False)

    def _end(
        self, action: str, statement: bytes, params: dict[str, Any], *, keep_writes: bool
    ) -> None:
        """Write the outcome in the handler's transaction (closing its savepoint first) or, if
        it never asked for one, in an autocommitted statement. Like every write of a leased
        claim it is conditional on the token: once the job is lost, or ended, it raises
        ClaimLost."""
        params = {**self._ids(), **params}
        with self._lock:
            held = self._held
            if keep_writes and self._writes_lost:
                raise ClaimLost(
                    f"job {self.job.id} can't succeed: the handler's writes on ctx.connection "
                    "were lost with its transaction; the job runs again when its lease expires"
                )
            if keep_writes and held is not None and _aborted(held.conn):
                # The claim stays held, so the worker can record this as the attempt's error.
                raise TransactionAborted(
                    f"job {self.job.id} can't succeed: a statement the handler ran on "
                    "ctx.connection failed and aborted the transaction, and the handler went on"
                )
            self._held = None
            self._ended = True
        if held is None:
            with autocommitted(self._pool, action, self._watchdog) as conn:
                self._write(conn, statement, params)
            return
        self._writes_lost = True  # until the commit below
        try:
            with held.bounded(action) as conn:
                conn.execute(statements.close_savepoint(undo=not keep_writes))
                self._write(conn, statement, params)
                conn.commit()
        finally:
            held.give_back()

    def _write(
        self, conn: psycopg.Connection[Any], statement: bytes, params: dict[str, Any]
    ) -> None:
        """One write of the claim's job; ClaimLost if its token no longer held it (an outcome
        then fails with NothingWritten, see statements.one_job_outcomes)."""
        try:
            written = conn.execute(statement, params).rowcount
        except statements.NothingWritten as exc:
            raise self._lost() from exc
        if written != 1:
            raise self._lost()

    def _ids(self) -> dict[str, Any]:
        return {"job_id": self._key, "token": self._token}

    def _lost(self) -> ClaimLost:
        return ClaimLost(f"job {self.job.id} is no longer held by this claim (lease expired)")

    def __repr__(self) -> str:
        return f"<PostgresLeasedClaim job={self.job.id} attempt={self.job.attempt}>"


def _aborted(conn: psycopg.Connection[Any]) -> bool:
    return conn.info.transaction_status == TransactionStatus.INERROR
