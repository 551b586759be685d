"""The transactional claim: a job row locked by an open transaction until its outcome commits."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus
from psycopg.rows import tuple_row
from psycopg_pool import ConnectionPool

from proletarian.adapters.postgres import rows, statements
from proletarian.adapters.postgres.connections import Borrowed
from proletarian.adapters.postgres.errors import translated
from proletarian.adapters.postgres.marks import clear_marks, count_abandoned
from proletarian.adapters.postgres.network import Watchdog
from proletarian.adapters.postgres.prepared import ClaimStatements
from proletarian.adapters.postgres.takeover import take_over
from proletarian.core.errors import ClaimLost, StoreError, StoreUnavailable, TransactionAborted
from proletarian.core.job import Job, JobError, JobStatus
from proletarian.ports.clock import Clock
from proletarian.ports.serializer import Serializer

# The claim's statements run on an autocommit connection in a transaction of their own: BEGIN
# goes with the claim and COMMIT with the outcome, in one round trip each when the statements
# are prepared on the server.
_BEGIN = (b"BEGIN",)
_COMMIT = (b"COMMIT",)


def claim_job(
    pool: ConnectionPool[Any],
    sql: statements.Statements,
    *,
    runner: ClaimStatements,
    watchdog: Watchdog,
    serializer: Serializer,
    clock: Clock,
    queues: Sequence[str],
) -> PostgresClaim | None:
    """Lock the most urgent due job in a new transaction and hand it out with that transaction
    open. A job whose last claim was abandoned is counted (committed) and claimed again."""
    now = clock.now()
    names = list(queues)
    key, params = (
        ("claim_one", {"queue": names[0], "now": now})
        if len(names) == 1
        else ("claim_any", {"queues": names, "now": now})
    )
    with translated("claim"):
        borrowed = Borrowed(pool, autocommit=True, watchdog=watchdog)
    try:
        with borrowed.bounded("claim") as conn:
            row = _claim_row(conn, runner, key, params)
            # Each round commits a count and clears that job's mark, so this ends.
            while row is not None and row.abandoned:
                count_abandoned(conn, sql, [row.job.job_id])
                row = _claim_row(conn, runner, key, params)
    except BaseException:
        borrowed.give_back()
        raise
    if row is None:
        borrowed.give_back()
        return None
    payload, decode_error = rows.decoded(serializer, row.job)
    return PostgresClaim(
        borrowed,
        row.job,
        sql=sql,
        runner=runner,
        pool=pool,
        payload=payload,
        decode_error=decode_error,
        clock=clock,
        started_at=now,
    )


def _claim_row(
    conn: psycopg.Connection[Any],
    runner: ClaimStatements,
    key: str,
    params: Mapping[str, Any],
) -> rows.ClaimRow | None:
    try:
        return runner.run(conn, key, params, rows.claim_rows, before=_BEGIN).fetchone()
    except psycopg.errors.InvalidSqlStatementName:
        # Our statements were deallocated behind our back (DISCARD ALL, DEALLOCATE ALL):
        # nothing was claimed; prepare them again and claim once more.
        runner.forget(conn)
        conn.rollback()
        return runner.run(conn, key, params, rows.claim_rows, before=_BEGIN).fetchone()


class PostgresClaim:
    """One claimed job, held by a row lock in the open transaction of a pool connection.

    Exactly one of `succeed`, `retry_at`, `fail` or `abandon` ends it; each commits (abandon
    rolls back) in one go and gives the connection back to the pool, even when the connection
    broke. A crashed worker's transaction is aborted by the server, so its job is claimable
    again at once, and the next claim counts the abandonment from the mark the abort left. A
    write the server refuses (not a lost connection) rolls back, and the claim takes the job's
    row again, so a smaller outcome can still be written. Not shared between threads.
    """

    def __init__(
        self,
        borrowed: Borrowed,
        row: rows.JobRow,
        *,
        sql: statements.Statements,
        runner: ClaimStatements,
        pool: ConnectionPool[Any],
        payload: Any,
        decode_error: JobError | None,
        clock: Clock,
        started_at: datetime,
    ) -> None:
        self._borrowed: Borrowed | None = borrowed
        self._sql = sql
        self._runner = runner
        self._pool = pool
        self._clock = clock
        self._job_id = row.job_id
        self._started_at = started_at
        self._savepoint = False
        self._cut = False  # interrupted: the handler's writes are gone, success is refused
        self.decode_error = decode_error
        self.job: Job = rows.to_job(row, payload=payload, status=JobStatus.RUNNING)

    @property
    def connection(self) -> psycopg.Connection[Any]:
        """The claim's open transaction. The first access opens a savepoint, so a handler's
        writes on it commit with success and are rolled back on retry or failure. Do not
        commit or roll it back yourself: the outcome does."""
        borrowed = self._holding()
        if not self._savepoint:
            with borrowed.bounded("savepoint") as conn:
                conn.execute(statements.SAVEPOINT)
            self._savepoint = True
        return borrowed.conn

    @property
    def savepoint(self) -> bool:
        """Whether `connection` was handed out, which opened a savepoint for the handler."""
        return self._savepoint

    def succeed(self) -> None:
        params = {"started_at": self._started_at, "finished_at": self._clock.now()}
        self._end("succeed", params, undo_handler=False)

    def retry_at(self, when: datetime, error: JobError) -> None:
        self._end(
            "retry", {"process_at": when, **statements.error_values(error)}, undo_handler=True
        )

    def fail(self, error: JobError) -> None:
        params = {
            "status": "failed",
            "started_at": self._started_at,
            "finished_at": self._clock.now(),
            **statements.error_values(error),
        }
        self._end("fail", params, undo_handler=True)

    def interrupt(self) -> None:
        """End the claim's backend on the server (its transaction aborts, whatever the handler
        is doing on it), discard its connection, and lock the job again in a new transaction,
        taking the row over with no moment free for another claim (see takeover.py)."""
        borrowed = self._holding()
        self._borrowed = None
        self._cut = True
        # As a claim holds its connection: an autocommit connection in an explicit transaction.
        with translated("interrupt"):
            again = Borrowed(self._pool, autocommit=True, watchdog=borrowed.watchdog)
        holder = borrowed.conn.info.backend_pid
        try:
            # Not bounded by the watchdog: the wait for the row is bounded by its lock timeout.
            with translated("interrupt"):
                again.conn.execute(b"BEGIN")
                held = take_over(
                    again.conn,
                    self._pool,
                    self._sql,
                    job_id=self._job_id,
                    attempts=self.job.attempts,
                    abandons=self.job.abandons,
                    holder=holder,
                )
        except BaseException:
            again.give_back()
            raise
        finally:
            # The rollback fails on the ended connection, which is then closed: the pool opens
            # a new one in its place.
            borrowed.give_back()
        if not held:
            again.give_back()
            raise ClaimLost(f"job {self.job.id} was taken by another claim when it was cut")
        self._savepoint = False
        self._borrowed = again

    def abandon(self) -> None:
        """Roll back, then clear the mark that leaves: the job is as it was before the claim,
        and its next claim counts no abandonment."""
        borrowed = self._holding()
        self._borrowed = None
        borrowed.give_back()
        clear_marks(self._pool, self._sql, [self._job_id], borrowed.watchdog)

    def _end(self, action: str, params: dict[str, Any], *, undo_handler: bool) -> None:
        """Close the handler's savepoint, write the outcome and commit."""
        borrowed = self._holding()
        conn = borrowed.conn
        if not undo_handler and self._cut:
            raise ClaimLost(f"job {self.job.id} can't succeed: it was cut, its writes undone")
        if not undo_handler and conn.info.transaction_status == TransactionStatus.INERROR:
            # The claim stays held, so the worker can record this as the attempt's error.
            raise TransactionAborted(
                f"job {self.job.id} can't succeed: a statement the handler ran on "
                "ctx.connection failed and aborted the transaction, and the handler went on"
            )
        self._borrowed = None
        before: tuple[bytes, ...] = ()
        if self._savepoint:
            before = (
                statements.UNDO_HANDLER_WRITES if undo_handler else statements.KEEP_HANDLER_WRITES
            )
        params = {**params, "job_id": self._job_id}
        try:
            with borrowed.bounded(action):
                try:
                    self._runner.run(conn, action, params, tuple_row, before=before, after=_COMMIT)
                except statements.NothingWritten as exc:
                    # Nothing was committed: the COMMIT after it was never run.
                    raise ClaimLost(
                        f"job {self.job.id} is no longer in the queue ({action})"
                    ) from exc
        except StoreError as exc:
            if isinstance(exc, StoreUnavailable | ClaimLost):
                raise
            self._take_again(borrowed)
            raise
        finally:
            if self._borrowed is None:
                borrowed.give_back()

    def _take_again(self, borrowed: Borrowed) -> None:
        """After the server refused an outcome (its transaction rolled back), lock the job's
        row again in a new transaction, keeping the claim held for another outcome. If another
        claim took it meanwhile, the claim ends lost."""
        conn = borrowed.conn
        try:
            with borrowed.bounded("claim again"):
                conn.rollback()
                conn.execute(b"BEGIN")
                if conn.execute(self._sql.lock_again, {"job_id": self._job_id}).fetchone():
                    self._savepoint = False
                    self._borrowed = borrowed
        except StoreError:
            pass

    def _holding(self) -> Borrowed:
        if self._borrowed is None:
            raise StoreError(f"the claim of job {self.job.id} has already ended")
        return self._borrowed

    def __repr__(self) -> str:
        state = "ended" if self._borrowed is None else "held"
        return f"<PostgresClaim job={self.job.id} attempt={self.job.attempt} {state}>"
