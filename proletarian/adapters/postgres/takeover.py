"""Taking a job's row from a transaction that has to be ended (a claim cut by its timeout).

The row must not be free for a moment in between: another worker's claim would take it,
count an abandonment and run the job again. A waiter queued on a row keeps every SKIP LOCKED
claim off it, so the row is first waited for on a new connection, and only then is the
backend holding it ended: the row passes from the ended transaction to the waiter.

One gap remains: a SKIP LOCKED claim that reads the row in the instant after the holder's
abort and before the waiter wakes passes without queuing (its locker has aborted). That claim
counts an abandonment and runs the job; the waiter then finds the row moved on (its statement
names the attempts and abandonments the cut claim saw) and the cut ends as ClaimLost, so the
attempt is recorded once, as an abandonment rather than a JobTimeout.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg
from psycopg.rows import scalar_row
from psycopg_pool import ConnectionPool

from proletarian.adapters.postgres import statements
from proletarian.adapters.postgres.connections import own_connection

# How long to look for the waiter in the server's list of waiting backends; past it the
# holder is ended all the same (the waiter may then lose the row to another claim).
QUEUE_SECONDS = 5.0
# A bound on the whole take-over, past the lock timeout the waiter's statement sets.
TAKE_OVER_SECONDS = 30.0


def take_over(
    conn: psycopg.Connection[Any],
    pool: ConnectionPool[Any],
    sql: statements.Statements,
    *,
    job_id: Any,
    attempts: int,
    abandons: int,
    holder: int,
) -> bool:
    """Lock the job's row in the open transaction of `conn` from the backend `holder`, whose
    transaction is ended on the server (its writes roll back). True if `conn` then holds the
    row, still at the `attempts` and `abandons` the cut claim saw; False if another claim took
    it meanwhile, or the job is gone. Driver errors propagate."""
    found: list[Any] = []

    def wait_for_row() -> None:
        try:
            conn.execute(sql.lock_timeout)
            params = {"job_id": job_id, "attempts": attempts, "abandons": abandons}
            row = conn.execute(sql.lock_after, params).fetchone()
            if row is None:
                # A row that moved on is locked before it is found not to match, and the lock
                # stays: a commit ends it unmarked, where a rollback would leave the mark the
                # next claim counts as an abandonment.
                conn.execute(b"COMMIT")
            found.append(row)
        except psycopg.errors.LockNotAvailable:
            found.append(None)
        except BaseException as exc:
            found.append(exc)

    waiter = threading.Thread(target=wait_for_row, name="proletarian-take-over", daemon=True)
    waiter.start()
    with own_connection(pool) as admin:
        deadline = time.monotonic() + QUEUE_SECONDS
        while waiter.is_alive() and time.monotonic() < deadline:
            waiting = admin.cursor(row_factory=scalar_row)
            if waiting.execute(sql.lock_waiting, {"pid": conn.info.backend_pid}).fetchone():
                break
            time.sleep(0.001)
        admin.execute(sql.terminate, {"pid": holder})
    waiter.join(TAKE_OVER_SECONDS)
    if not found:
        raise psycopg.OperationalError("the job's row was not given over in time")
    if isinstance(found[0], BaseException):
        raise found[0]
    return found[0] is not None
