"""The transactional claim of a MySQL job: the row lock of an open transaction holds it (see
DESIGN.md, "Two ways to hold a claim"). Its collaborators, the store's pool and statements among
them, are passed in; nothing here reads the store."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from pymysql.err import MySQLError

from proletarian.adapters.common import utc_naive
from proletarian.adapters.mysql import _sql as sql
from proletarian.adapters.mysql._driver import Connection, Step, is_connection_error, run, translate
from proletarian.adapters.mysql._pool import ConnectionPool
from proletarian.core.errors import ClaimLost, StoreError, StoreUnavailable
from proletarian.core.job import Job, JobError, JobStatus
from proletarian.ports.clock import Clock
from proletarian.ports.serializer import Serializer

# MySQL's error for KILL of a connection that is already gone.
UNKNOWN_THREAD = 1094
# Multi-queue claims look again when the best job was taken between finding and relocking it.
CANDIDATE_ROUNDS = 5


class Claimers:
    """The worker ids that have claimed from one store, so that each one's first claim is
    careful (see `claim_job`). Thread-safe."""

    def __init__(self) -> None:
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def first(self, worker_id: str) -> bool:
        """True the first time `worker_id` is given, False after."""
        with self._lock:
            first = worker_id not in self._seen
            self._seen.add(worker_id)
        return first


def claim_job(
    pool: ConnectionPool,
    statements: sql.Statements,
    *,
    keys: sql.Keys,
    where: str,
    serializer: Serializer,
    clock: Clock,
    crash_delay: timedelta,
    claimers: Claimers,
    queues: Sequence[str],
    worker_id: str,
) -> MySQLClaim | None:
    """Lock the most urgent due job of `queues` in a new transaction on a connection of `pool`
    and hold it by the returned claim (see MySQLStore.claim). The claim is careful (its
    abandonment counted and committed first) when it is `worker_id`'s first, as `claimers`
    tells, or when the job was counted abandoned before."""
    names = list(dict.fromkeys(queues))
    if not names:
        return None
    now = clock.now()
    with translate(where, "claim"):
        conn = pool.get()
        try:
            row = _lock_next(conn, statements, names, utc_naive(now))
            hidden = None
            if row is not None and (claimers.first(worker_id) or row.abandons > 0):
                hidden = utc_naive(now + crash_delay)
                if not _take_carefully(conn, statements, row, hidden):
                    row = None
            claim = None
            if row is not None:
                job, decode_error = sql.to_job(
                    row, keys=keys, serializer=serializer, status=JobStatus.RUNNING
                )
                claim = MySQLClaim(
                    conn,
                    row,
                    job,
                    pool=pool,
                    statements=statements,
                    where=where,
                    clock=clock,
                    started_at=now,
                    hidden=hidden,
                    decode_error=decode_error,
                )
        except BaseException as exc:
            pool.give_back(conn, exc)
            raise
    if claim is None:
        pool.give_back(conn)
    return claim


def _lock_next(
    conn: Connection, statements: sql.Statements, queues: list[str], now: datetime
) -> sql.JobRow | None:
    """The locked row of the next job, or None with the transaction ended."""
    if len(queues) == 1:
        first = run(conn, [(statements.claim, (queues[0], now))])[0]
        if first:
            return sql.JobRow(*first[0])
        conn.rollback()
        return None
    # Several queues: lock each queue's best due job. If more than one came back, let go
    # of them all and lock only the best again: holding the others for a whole job would
    # hide them from peers.
    params = [value for queue in queues for value in (queue, now)]
    for _ in range(CANDIDATE_ROUNDS):
        found = [
            sql.JobRow(*row) for row in run(conn, [(statements.candidates(len(queues)), params)])[0]
        ]
        if len(found) == 1:
            return found[0]
        if not found:
            conn.rollback()
            return None
        best = min(found, key=_claim_order)
        relocked = run(conn, [(sql.ROLLBACK, ()), (statements.claim_candidate, (best.job_id, now))])
        if relocked[1]:
            return sql.JobRow(*relocked[1][0])
    conn.rollback()
    return None


def _claim_order(row: sql.JobRow) -> tuple[Any, ...]:
    """A job row's place in claim order: priority, due time, id."""
    return (row.priority, row.process_at, row.job_id)


def _take_carefully(
    conn: Connection, statements: sql.Statements, row: sql.JobRow, hidden: datetime
) -> bool:
    """Count the abandonment and hide the job until `hidden` (committed), then lock it
    again and undo both in the transaction the job runs in. False if the job went
    meanwhile."""
    key, due = row.job_id, row.process_at
    run(conn, [(statements.count_abandon, (hidden, key)), (sql.COMMIT, ())])
    if relock(conn, statements, key, due, hidden, row.attempts):
        return True
    conn.rollback()
    return False


def relock(
    conn: Connection,
    statements: sql.Statements,
    key: Any,
    due: datetime,
    hidden: datetime | None,
    attempts: int,
    *,
    before: Sequence[Step] = (),
) -> bool:
    """Lock a claimed job again (after `before`, in the same round trip) while it still has
    `attempts` (no other claim took it and ended an attempt meanwhile) and, for a careful
    claim (`hidden`), undo its count and hiding, uncommitted: only while the job is still
    hidden, so a count already undone (a handler that committed `ctx.connection`) is not
    undone twice."""
    steps = [*before, (statements.lock_again, (key, attempts))]
    if hidden is not None:
        steps.append((statements.uncount_abandon, (due, key, hidden, attempts)))
    return bool(run(conn, steps)[len(before)])


class MySQLClaim:
    """A transactional claim: the job's row stays locked by this connection's open transaction
    until `succeed`, `retry_at` or `fail` commits, or `abandon` gives it back. The connection
    goes back to the pool when the claim ends, however it ends. A write the server refuses
    (not a lost connection) rolls back, and the claim locks the job again, so a smaller
    outcome can still be written. Used by one thread at a time (see Claim, and `interrupt`)."""

    def __init__(
        self,
        conn: Connection,
        row: sql.JobRow,
        job: Job,
        *,
        pool: ConnectionPool,
        statements: sql.Statements,
        where: str,
        clock: Clock,
        started_at: datetime,
        hidden: datetime | None,
        decode_error: JobError | None,
    ) -> None:
        self._conn: Connection | None = conn
        self._pool = pool
        self._sql = statements
        self._where = where
        self._clock = clock
        self._key = row.job_id
        self._due = row.process_at
        self._hidden = hidden  # a careful claim's: until when its count hides the job
        self._savepoint = False
        self._cut = False  # interrupted: the handler's writes are gone, success is refused
        self._started_at = utc_naive(started_at)
        self.job = job
        self.decode_error = decode_error

    @property
    def connection(self) -> Connection:
        """The claim's connection, in a savepoint taken on first access: the handler's writes
        on it commit with success and are rolled back when the attempt fails. Never commit or
        roll back this connection in a handler: that would end the claim."""
        conn = self._held()
        if not self._savepoint:
            with translate(self._where, "opening the handler's savepoint"):
                run(conn, [(sql.SAVEPOINT, ())])
            self._savepoint = True
        return conn

    def succeed(self) -> None:
        if self._cut:
            raise ClaimLost(f"job {self.job.id} can't succeed: it was cut, its writes undone")
        self._archive(JobStatus.SUCCEEDED, None)

    def fail(self, error: JobError) -> None:
        self._archive(JobStatus.FAILED, error)

    def interrupt(self) -> None:
        """KILL the claim's connection on the server (its transaction rolls back, whatever the
        handler is doing on it), discard it, and lock the job again on a new connection,
        waiting for the rollback to let go of the row (at most innodb_lock_wait_timeout). The
        KILL and the lock go in one round trip, so the lock is queued on the row before the
        rollback ends: SKIP LOCKED claims pass over a row with a queued lock."""
        conn = self._held()
        self._conn = None
        self._cut = True
        pool = self._pool
        thread_id: int = conn.thread_id()  # type: ignore[no-untyped-call]
        try:
            with translate(self._where, f"interrupting job {self.job.id}"):
                again = pool.get()
                try:
                    try:
                        held = self._hold_again(again, kill=thread_id)
                    except MySQLError as exc:
                        if exc.args[0] != UNKNOWN_THREAD:
                            raise
                        # The server ended that connection already (and rolled it back).
                        held = self._hold_again(again)
                except BaseException as exc:
                    pool.give_back(again, exc)
                    raise
        finally:
            pool.discard(conn)
        if not held:
            pool.give_back(again)
            raise ClaimLost(f"job {self.job.id} was taken by another claim when it was cut")

    def _archive(self, status: JobStatus, error: JobError | None) -> None:
        finished_at = utc_naive(self._clock.now())
        errors = (
            (None, None, None) if error is None else (error.type, error.message, error.traceback)
        )
        # The savepoint is closed before the row is archived and deleted: deleting under an
        # open savepoint costs far more (see DESIGN.md).
        first = (
            sql.RELEASE_SAVEPOINT if status is JobStatus.SUCCEEDED else sql.ROLLBACK_TO_SAVEPOINT
        )
        self._end(
            status.value,
            [
                *([(first, ())] if self._savepoint else []),
                (
                    self._sql.archive,
                    (*errors, status.value, self._started_at, finished_at, self._key),
                ),
                (self._sql.delete, (self._key,)),
                (sql.COMMIT, ()),
            ],
        )

    def retry_at(self, when: datetime, error: JobError) -> None:
        self._end(
            "retry",
            [
                *([(sql.ROLLBACK_TO_SAVEPOINT, ())] if self._savepoint else []),
                (
                    self._sql.retry,
                    (utc_naive(when), error.type, error.message, error.traceback, self._key),
                ),
                (sql.COMMIT, ()),
            ],
        )

    def abandon(self) -> None:
        """Roll the handler's writes back and commit the rest, which gives the job back as it
        was (a careful claim's count undone). Never raises for a lost connection: the server
        has rolled the claim back already, or does when the connection is closed, which is
        what happens then (a careful claim's count then stays: the claim was abandoned)."""
        conn = self._held()
        self._conn = None
        undo = [(sql.ROLLBACK_TO_SAVEPOINT, ())] if self._savepoint else []
        try:
            run(conn, [*undo, (sql.COMMIT, ())])
        except MySQLError as exc:
            self._pool.give_back(conn, exc)
            return
        self._pool.give_back(conn)

    def _held(self) -> Connection:
        if self._conn is None:
            raise StoreError(f"the claim of job {self.job.id} has already ended")
        return self._conn

    def _end(self, action: str, steps: list[Step]) -> None:
        conn = self._held()
        self._conn = None
        pool = self._pool
        try:
            with translate(self._where, f"{action} of job {self.job.id}"):
                try:
                    run(conn, steps)
                except BaseException as exc:
                    if not isinstance(exc, MySQLError) or is_connection_error(exc):
                        pool.give_back(conn, exc)
                    raise
        except StoreUnavailable:
            raise
        except StoreError:
            self._take_again(conn)
            raise
        pool.give_back(conn)

    def _take_again(self, conn: Connection) -> None:
        """After the server refused an outcome: roll back, and lock the job again for another
        outcome (a careful claim's count undone again). If that fails, the claim ends."""
        try:
            conn.rollback()
            if self._hold_again(conn):
                return
            conn.rollback()
        except MySQLError as exc:
            self._pool.give_back(conn, exc)
            return
        self._pool.give_back(conn)

    def _hold_again(self, conn: Connection, *, kill: int | None = None) -> bool:
        """Lock the job on `conn` in a new transaction (a careful claim's count undone again),
        first ending the connection `kill` if given, and hold the claim by it; False, with
        nothing held, if the job is gone."""
        steps = [] if kill is None else [(sql.KILL, (kill,))]
        held = relock(
            conn, self._sql, self._key, self._due, self._hidden, self.job.attempts, before=steps
        )
        if held:
            self._savepoint = False
            self._conn = conn
        return held

    def __repr__(self) -> str:
        state = "held" if self._conn is not None else "ended"
        return f"<MySQLClaim job={self.job.id} {state}>"
