"""Batch mode: several jobs claimed in one transaction, their outcomes written together.

One transaction per batch instead of one per job: the claim, the outcome statement and the
commit are paid once for up to `limit` jobs. Each handler that asks for `ctx.connection` gets a
savepoint of its own, closed (released, or rolled back to) when its job's outcome is recorded,
so a failing job's writes roll back alone. The row locks of the whole batch are held until the
batch commits, and a worker that dies mid-batch gives every job of the batch back: at least
once, as in strict mode, for up to `limit` jobs at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus
from psycopg.rows import scalar_row
from psycopg_pool import ConnectionPool

from proletarian.adapters.postgres import rows, statements
from proletarian.adapters.postgres.connections import Borrowed
from proletarian.adapters.postgres.errors import translated
from proletarian.adapters.postgres.marks import clear_marks, count_abandoned
from proletarian.adapters.postgres.network import Watchdog
from proletarian.core.errors import ClaimLost, StoreError, TransactionAborted
from proletarian.core.job import Job, JobError, JobStatus
from proletarian.ports.clock import Clock
from proletarian.ports.serializer import Serializer


def claim_batch(
    pool: ConnectionPool[Any],
    sql: statements.Statements,
    *,
    watchdog: Watchdog,
    serializer: Serializer,
    clock: Clock,
    queues: Sequence[str],
    limit: int,
) -> list[PostgresBatchClaim] | None:
    """Lock up to `limit` due jobs in a new transaction and hand them out with it open. None
    when some of them had claims abandoned: see `_count_suspects`."""
    now = clock.now()
    names = list(queues)
    with translated("claim"):
        borrowed = Borrowed(pool, autocommit=False, watchdog=watchdog)
    try:
        with borrowed.bounded("claim") as conn:
            cursor = conn.cursor(row_factory=rows.claim_rows)
            if len(names) == 1:
                params = {"queue": names[0], "now": now, "limit": limit}
                cursor.execute(sql.claim_batch_one, params)
            else:
                cursor.execute(sql.claim_batch_any, {"queues": names, "now": now, "limit": limit})
            found = cursor.fetchall()
    except BaseException:
        borrowed.give_back()
        raise
    if not found:
        borrowed.give_back()
        return []
    suspects = [row for row in found if row.abandoned or row.job.abandons]
    if suspects:
        _count_suspects(borrowed, sql, suspects)
        return None
    batch = PostgresBatch(
        borrowed, pool=pool, sql=sql, clock=clock, started_at=now, size=len(found)
    )
    return [PostgresBatchClaim(batch, row.job, serializer) for row in found]


def _count_suspects(
    borrowed: Borrowed, sql: statements.Statements, suspects: Sequence[rows.ClaimRow]
) -> None:
    """Jobs whose claims were abandoned run apart from healthy ones: a job that kills its worker
    would otherwise count an abandonment for every job of its batch. The marks found are
    counted (committed), which lets the batch go; the caller then claims one job at a time
    until no suspect is left among the jobs it claims."""
    marked = [row.job.job_id for row in suspects if row.abandoned]
    try:
        with borrowed.bounded("claim") as conn:
            count_abandoned(conn, sql, marked)
    finally:
        borrowed.give_back()


class PostgresBatch:
    """The transaction a batch of claims shares, and the outcomes recorded so far. Written and
    committed when the last claim ends; rolled back as a whole by `abandon`. Used by the one
    thread that claimed the batch."""

    def __init__(
        self,
        borrowed: Borrowed,
        *,
        pool: ConnectionPool[Any],
        sql: statements.Statements,
        clock: Clock,
        started_at: datetime,
        size: int,
    ) -> None:
        self._borrowed: Borrowed | None = borrowed
        self._pool = pool
        self._sql = sql
        self._clock = clock
        self._started_at = started_at
        self._size = size
        self._outcomes: list[dict[str, Any]] = []
        self.job_ids: list[Any] = []  # filled by the batch's claims

    @property
    def ended(self) -> bool:
        return self._borrowed is None

    def conn(self, job_id: str) -> psycopg.Connection[Any]:
        return self._holding(job_id).conn

    def bounded(self, job_id: str, action: str) -> AbstractContextManager[psycopg.Connection[Any]]:
        """The batch's connection for a statement of the store's own (see Borrowed.bounded)."""
        return self._holding(job_id).bounded(action)

    def _holding(self, job_id: str) -> Borrowed:
        if self._borrowed is None:
            raise StoreError(f"the batch holding job {job_id} has already ended")
        return self._borrowed

    def record(
        self, key: Any, status: str, process_at: datetime | None, error: JobError | None
    ) -> None:
        """Keep one job's outcome; the last one writes them all and commits."""
        outcome = {"job_id": key, "status": status, "process_at": process_at}
        self._outcomes.append({**outcome, **statements.error_values(error)})
        if len(self._outcomes) == self._size:
            self._write()

    def abandon(self) -> None:
        """Roll back, then clear the marks that leaves: every job of the batch is as before the
        claim (nothing is written until the last outcome). Does nothing once the batch has
        ended."""
        borrowed, self._borrowed = self._borrowed, None
        if borrowed is not None:
            borrowed.give_back()
            clear_marks(self._pool, self._sql, self.job_ids, borrowed.watchdog)

    def _write(self) -> None:
        borrowed, self._borrowed = self._borrowed, None
        assert borrowed is not None
        outcomes = self._outcomes
        # One array per column, the batch's times once (statements.BATCH_SHARED).
        params: dict[str, Any] = {
            name: [outcome[name] for outcome in outcomes] for name in outcomes[0]
        }
        params.update(started_at=self._started_at, finished_at=self._clock.now())
        try:
            with borrowed.bounded("batch outcome") as conn:
                cursor = conn.cursor(row_factory=scalar_row)
                written = cursor.execute(self._sql.write_outcomes, params).fetchone() or 0
                if written != len(outcomes):
                    raise ClaimLost(
                        f"{len(outcomes) - written} job(s) of the batch are no longer in the "
                        "queue; the whole batch is rolled back and will run again"
                    )
                conn.commit()
        finally:
            borrowed.give_back()


class PostgresBatchClaim:
    """One job of a batch. Its outcome methods record the outcome (closing the handler's
    savepoint, if it opened one); the batch writes every outcome when the last is recorded.
    `abandon` gives the whole batch back. Not shared between threads."""

    def __init__(self, batch: PostgresBatch, row: rows.JobRow, serializer: Serializer) -> None:
        self._batch = batch
        self._key = row.job_id
        batch.job_ids.append(self._key)
        self._savepoint = False
        self._ended = False
        payload, self.decode_error = rows.decoded(serializer, row)
        self.job: Job = rows.to_job(row, payload=payload, status=JobStatus.RUNNING)

    @property
    def connection(self) -> psycopg.Connection[Any]:
        """The batch's open transaction, in a savepoint of this job's own (opened on first
        access): its writes commit with the batch when the job succeeds, and are rolled back
        alone when it is retried or fails. Never commit or roll it back yourself."""
        conn = self._conn()
        if not self._savepoint:
            with self._batch.bounded(self.job.id, "savepoint"):
                conn.execute(statements.SAVEPOINT)
            self._savepoint = True
        return conn

    @property
    def savepoint(self) -> bool:
        """Whether `connection` was handed out, which opened a savepoint for the handler."""
        return self._savepoint

    def succeed(self) -> None:
        conn = self._conn()
        if conn.info.transaction_status == TransactionStatus.INERROR:
            # The claim stays held, so the worker can record this as the attempt's error.
            raise TransactionAborted(
                f"job {self.job.id} can't succeed: a statement the handler ran on "
                "ctx.connection failed and aborted the transaction, and the handler went on"
            )
        self._end("succeeded", None, None, undo_handler=False)

    def retry_at(self, when: datetime, error: JobError) -> None:
        self._end("retry", when, error, undo_handler=True)

    def fail(self, error: JobError) -> None:
        self._end("failed", None, error, undo_handler=True)

    def interrupt(self) -> None:
        """A batch shares one transaction: one job of it can't be cut alone (the worker refuses
        timeouts in batch mode)."""
        raise StoreError(
            f"job {self.job.id} is part of a batch, whose jobs can't be interrupted one by one"
        )

    def abandon(self) -> None:
        """Roll the whole batch back: its jobs run again, as if never claimed."""
        self._ended = True
        self._batch.abandon()

    def _end(
        self,
        status: str,
        process_at: datetime | None,
        error: JobError | None,
        *,
        undo_handler: bool,
    ) -> None:
        self._conn()  # raises if this claim has ended
        self._ended = True
        try:
            if self._savepoint:
                with self._batch.bounded(self.job.id, status) as conn:
                    conn.execute(statements.close_savepoint(undo=undo_handler))
        except BaseException:
            self._batch.abandon()
            raise
        self._batch.record(self._key, status, process_at, error)

    def _conn(self) -> psycopg.Connection[Any]:
        if self._ended:
            raise StoreError(f"the claim of job {self.job.id} has already ended")
        return self._batch.conn(self.job.id)

    def __repr__(self) -> str:
        state = "ended" if self._ended or self._batch.ended else "held"
        return f"<PostgresBatchClaim job={self.job.id} attempt={self.job.attempt} {state}>"
