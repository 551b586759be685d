"""The transactional claim: a job row locked by an open transaction until its outcome commits."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus
from psycopg_pool import ConnectionPool

from proletarian.adapters.postgres import rows, statements
from proletarian.adapters.postgres.connections import Borrowed
from proletarian.adapters.postgres.errors import translated
from proletarian.adapters.postgres.marks import clear_marks
from proletarian.adapters.postgres.prepared import ServerStatements
from proletarian.adapters.postgres.takeover import take_over
from proletarian.core.errors import ClaimLost, StoreError, StoreUnavailable, TransactionAborted
from proletarian.core.job import Job, JobError, JobStatus
from proletarian.ports.clock import Clock


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
        row: tuple[Any, ...],
        *,
        sql: statements.Statements,
        server: ServerStatements | None,
        pool: ConnectionPool[Any],
        payload: Any,
        decode_error: JobError | None,
        clock: Clock,
        started_at: datetime,
    ) -> None:
        self._borrowed: Borrowed | None = borrowed
        self._sql = sql
        self._server = server
        self._pool = pool
        self._clock = clock
        self._job_id = row[rows.ID]
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
        params = (self._job_id, self._started_at, self._clock.now())
        self._end("succeed", "succeed", params, undo_handler=False)

    def retry_at(self, when: datetime, error: JobError) -> None:
        params = (self._job_id, when, error.type, error.message, error.traceback)
        self._end("retry", "retry", params, undo_handler=True)

    def fail(self, error: JobError) -> None:
        params = (
            self._job_id,
            "failed",
            self._started_at,
            self._clock.now(),
            error.type,
            error.message,
            error.traceback,
        )
        self._end("fail", "archive", params, undo_handler=True)

    def interrupt(self) -> None:
        """End the claim's backend on the server (its transaction aborts, whatever the handler
        is doing on it), discard its connection, and lock the job again in a new transaction,
        taking the row over with no moment free for another claim (see takeover.py)."""
        borrowed = self._holding()
        self._borrowed = None
        self._cut = True
        # As a claim holds its connection: the server-prepared outcomes send their COMMIT on
        # an autocommit connection in an explicit transaction.
        with translated("interrupt"):
            again = Borrowed(
                self._pool, autocommit=self._server is not None, watchdog=borrowed.watchdog
            )
        holder = borrowed.conn.info.backend_pid
        try:
            # Not bounded by the watchdog: the wait for the row is bounded by its lock timeout.
            with translated("interrupt"):
                if self._server is not None:
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

    def _end(
        self, action: str, statement: str, params: tuple[Any, ...], *, undo_handler: bool
    ) -> None:
        """Close the handler's savepoint, write the outcome and commit: one round trip."""
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
        # Close the handler's savepoint before the job row is touched again: changing the row
        # inside it was measured several times slower.
        before = b""
        if self._savepoint:
            before = (
                statements.ROLLBACK_AND_RELEASE if undo_handler else statements.RELEASE
            ) + b"; "
        try:
            with borrowed.bounded(action):
                if self._server is None:
                    self._end_extended(conn, before, statement, params, action)
                    return
                try:
                    self._server.run(conn, before, statement, params, b"; COMMIT")
                except psycopg.errors.DivisionByZero as exc:
                    # The outcome statement found no job row: nothing was committed.
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

    def _end_extended(
        self,
        conn: psycopg.Connection[Any],
        before: bytes,
        statement: str,
        params: tuple[Any, ...],
        action: str,
    ) -> None:
        """The outcome in psycopg's extended protocol (server_prepared=False): the savepoint's
        end, the statement, then COMMIT, each a round trip."""
        if before:
            conn.execute(before.removesuffix(b"; "))
        query, named = self._extended(statement, params)
        if conn.execute(query, named).rowcount != 1:
            raise ClaimLost(f"job {self.job.id} is no longer in the queue ({action})")
        conn.commit()

    def _extended(self, statement: str, params: tuple[Any, ...]) -> tuple[bytes, dict[str, Any]]:
        if statement == "retry":
            job_id, when, error_type, message, traceback = params
            named = {"job_id": job_id, "process_at": when}
            query = self._sql.retry
        else:
            if statement == "succeed":
                (job_id, started_at, finished_at), status = params, "succeeded"
                error_type = message = traceback = None
            else:
                job_id, status, started_at, finished_at, error_type, message, traceback = params
            named = {
                "job_id": job_id,
                "status": status,
                "started_at": started_at,
                "finished_at": finished_at,
            }
            query = self._sql.archive
        named.update(error_type=error_type, error_message=message, error_traceback=traceback)
        return query, named

    def _take_again(self, borrowed: Borrowed) -> None:
        """After the server refused an outcome (its transaction rolled back), lock the job's
        row again in a new transaction, keeping the claim held for another outcome. If another
        claim took it meanwhile, the claim ends lost."""
        conn = borrowed.conn
        try:
            with borrowed.bounded("claim again"):
                conn.rollback()
                if conn.autocommit:
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
