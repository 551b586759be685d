"""The leased claim of a SQLite job: a token and an expiry on its row, and no transaction held
while the handler runs unless it asks for one (see DESIGN.md, "Two ways to hold a claim"). Its
collaborators, the store's connections and statements among them, are passed in; nothing here
reads the store."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from proletarian.adapters.common import error_params, new_token
from proletarian.adapters.sqlite._connections import Connections, Handle, translate
from proletarian.adapters.sqlite._sql import (
    JobRow,
    Statements,
    decode_payload,
    job_from_row,
    to_text,
)
from proletarian.core.errors import ClaimLost, StoreUnavailable
from proletarian.core.job import Job, JobError, JobStatus
from proletarian.ports.clock import Clock
from proletarian.ports.serializer import Serializer

_HANDLER_SAVEPOINT = "proletarian_handler"


def lease_job(
    connections: Connections,
    statements: Statements,
    *,
    serializer: Serializer,
    clock: Clock,
    lease: timedelta,
    queues: Sequence[str],
    worker_id: str,
) -> SQLiteClaim | None:
    """Lease the most urgent due job of `queues` (see SQLiteStore.claim) in one short write
    transaction: the pick and the take run under SQLite's one writer, so no other claim picks
    the same job."""
    now = clock.now()
    token = new_token(worker_id)
    with connections.write() as conn:
        picked = conn.execute(
            statements.pick(len(queues)), (*queues, to_text(now), to_text(now))
        ).fetchall()
        if not picked:
            return None
        row = JobRow(*picked[0])
        # A lease on a job the pick takes has expired: its attempt is counted abandoned.
        abandoned = int(row.locked_until is not None)
        until = to_text(now + lease)
        conn.execute(statements.take, (token, until, abandoned, row.job_id))
    # As `take` just left it.
    row = row._replace(abandons=row.abandons + abandoned, locked_until=until)
    payload, decode_error = decode_payload(serializer, row.payload)
    return SQLiteClaim(
        connections,
        statements,
        row,
        token,
        clock=clock,
        lease=lease,
        started_at=now,
        payload=payload,
        decode_error=decode_error,
    )


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
        connections: Connections,
        statements: Statements,
        row: JobRow,
        token: str,
        *,
        clock: Clock,
        lease: timedelta,
        started_at: datetime,
        payload: Any,
        decode_error: JobError | None,
    ) -> None:
        self._connections = connections
        self._sql = statements
        self._clock = clock
        self._lease = lease
        self._token = token
        self._started_at = started_at
        self._held: Handle | None = None  # the handler's transaction, once asked for
        self._holder = 0
        self._writes_lost = False  # the handler's transaction ended without committing
        self.decode_error = decode_error
        self.job: Job = job_from_row(row, payload=payload, now=started_at)

    @property
    def lease(self) -> timedelta:
        return self._lease

    @property
    def connection(self) -> sqlite3.Connection:
        """The handler's write transaction, begun on first access. Raises ClaimLost if the
        lease was lost before it could begin. Never commit or roll it back yourself."""
        if self._held is None:
            self._held = self._begin_handler_transaction()
        conn = self._held.conn
        if conn is None:
            raise StoreUnavailable(f"SQLite store {self._connections.path} was closed")
        return conn

    def _begin_handler_transaction(self) -> Handle:
        handle = self._connections.open()
        conn = handle.conn
        assert conn is not None
        try:
            with translate(self._connections.path):
                conn.execute("BEGIN IMMEDIATE")
                if conn.execute(self._sql.holds, (self.job.id, self._token)).fetchone() is None:
                    raise self._lost()
                conn.execute(f"SAVEPOINT {_HANDLER_SAVEPOINT}")
        except BaseException:
            handle.close()
            raise
        self._holder = threading.get_ident()
        self._connections.hold(self._holder)
        return handle

    def renew(self) -> None:
        """Push `locked_until` a lease past now, if this claim still holds the job."""
        if self._held is not None:
            # The handler's open write transaction keeps every other writer, and so every other
            # claim, away from the job until the outcome commits: there is nothing to renew.
            return
        until = to_text(self._clock.now() + self._lease)
        with self._connections.write() as conn:
            if conn.execute(self._sql.renew, (until, self.job.id, self._token)).rowcount != 1:
                raise self._lost()

    def succeed(self) -> None:
        self._archive(JobStatus.SUCCEEDED, None)

    def fail(self, error: JobError) -> None:
        self._archive(JobStatus.FAILED, error)

    def _archive(self, status: JobStatus, error: JobError | None) -> None:
        finished = to_text(self._clock.now())
        params = (
            *error_params(error),
            status.value,
            to_text(self._started_at),
            finished,
            self.job.id,
            self._token,
        )
        with self._outcome(keep_handler_writes=status is JobStatus.SUCCEEDED) as conn:
            if conn.execute(self._sql.archive, params).rowcount != 1:
                raise self._lost()
            conn.execute(self._sql.delete, (self.job.id,))

    def retry_at(self, when: datetime, error: JobError) -> None:
        params = (to_text(when), *error_params(error), self.job.id, self._token)
        with self._outcome(keep_handler_writes=False) as conn:
            if conn.execute(self._sql.retry, params).rowcount != 1:
                raise self._lost()

    def interrupt(self) -> None:
        """End the handler's write transaction, if it asked for one (it holds SQLite's one
        writer): its statement is interrupted and its connection closed, which rolls it back."""
        held, self._held = self._held, None
        self._writes_lost = True
        if held is None:
            return
        self._connections.release(self._holder)
        conn = held.conn
        if conn is not None:
            conn.interrupt()
        held.close()

    def abandon(self) -> None:
        with self._outcome(keep_handler_writes=False) as conn:
            if conn.execute(self._sql.abandon, (self.job.id, self._token)).rowcount != 1:
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
            self._connections.release(self._holder)
            self._writes_lost = True  # until the handler's transaction commits below
        conn = None if held is None else held.conn
        if conn is None or not conn.in_transaction:
            if held is not None:
                held.close()
            with self._connections.write() as own:
                yield own
            return
        try:
            with translate(self._connections.path):
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
