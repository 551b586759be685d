"""Every SQL statement the store runs, rendered once per store with its quoted names.

Each operation is one statement (one round trip), so psycopg prepares it after a few uses.
Times are always parameters from the store's clock, never the server's now(). Parameters are
named (%(name)s) in every statement; statements prepared on the server number them (see
prepared.py). Each select list is built from the fields of the row type that reads it
(rows.py).

Each outcome of a claim (archive, retry) is described once, by the columns it writes
(ARCHIVE, RETRY below); every form the claims run is rendered from that description: for one
job or a batch, held by a lease or by a transaction, prepared on the server or not.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs
import psycopg
from psycopg import sql

from proletarian.adapters.postgres.prepared import Definition
from proletarian.adapters.postgres.rows import (
    JOB_COLUMNS,
    ClaimRow,
    FoundRow,
    StatsRow,
    select_list,
)
from proletarian.adapters.postgres.schema import Names
from proletarian.core.job import JobError, Priority

# The job's columns as a select list.
JOB_SELECT = ", ".join(JOB_COLUMNS)
# Whether the last claim of a job ended without an outcome: a leased claim's lease expired, or
# a transactional claim's transaction was aborted (its worker died or lost its connection). A
# transaction that locks a row writes its id into the row's xmax, and an abort leaves it there,
# so a claim that locks a row whose xmax names an aborted transaction knows, at no cost to
# healthy jobs, that an earlier claim of it died. A claim given back alive clears its mark
# (CLEAR_MARKS). xmax is a 32-bit xid and pg_xact_status wants the 64-bit one: it is taken as
# the one nearest the snapshot's (within 2**31 either way, as xids are compared).
_SNAPSHOT = "pg_snapshot_xmax(pg_current_snapshot())::text::bigint"
_XMAX_XID8 = (
    f"({_SNAPSHOT} + mod(xmax::text::bigint - ({_SNAPSHOT} & 4294967295) + 6442450944, "
    "4294967296) - 2147483648)::text::xid8"
)
ABANDONED = (
    "(locked_by IS NOT NULL OR CASE WHEN xmax::text = '0' THEN false "
    f"ELSE pg_xact_status({_XMAX_XID8}) = 'aborted' END)"
)
# A claim's row: the job, and whether its last claim was abandoned.
CLAIM_SELECT = select_list(ClaimRow._fields, {"job": JOB_SELECT, "abandoned": ABANDONED})

# Whether a leased claim's lease still holds the job; a job with no lease is free.
LEASE_LIVE = "coalesce(locked_until > %(now)s, false)"

# A queued job is running while a leased claim's lease lasts, or while the transaction that
# locked its row (the row's xmax) is still open: every transaction holds an exclusive lock on
# its own id until it ends. This reads the lock table instead of probing with FOR UPDATE SKIP
# LOCKED, which would write a lock into every row inspected and make claims skip those rows
# meanwhile.
RUNNING = (
    f"({LEASE_LIVE} OR xmax IN (SELECT transactionid FROM pg_locks "
    "WHERE locktype = 'transactionid' AND mode = 'ExclusiveLock' AND granted))"
)

_ENQUEUE = """
WITH ins AS (
    INSERT INTO {job} ({id_column}queue, job_type, payload, priority, enqueued_at, process_at, meta)
    VALUES ({id_value}%s, %s, %s, %s, %s, %s, %s)
    RETURNING job_id, queue
)
SELECT job_id, pg_notify(%s, queue) FROM ins
"""

# All rows in one statement; one notification per distinct queue. With ids made by the client
# the statement returns how many rows it wrote, and the ids are the client's: sending 1,000 ids
# back and parsing them was measured at a third of the statement's time. With DatabaseIds,
# array_agg returns the new ids, in the order of RETURNING, which is the order of the arrays.
_ENQUEUE_MANY = """
WITH ins AS (
    INSERT INTO {job} ({id_column}queue, job_type, payload, priority, enqueued_at, process_at, meta)
    SELECT {id_value}u.queue, u.job_type, u.payload, u.priority, %s, u.process_at, u.meta
    FROM unnest({id_array}%s::text[], %s::text[], %s::text[], %s::smallint[], %s::timestamptz[],
                %s::text[]) AS u({id_column}queue, job_type, payload, priority, process_at, meta)
    RETURNING job_id, queue
)
SELECT {returned},
       (SELECT count(pg_notify(%s, queue)) FROM (SELECT DISTINCT queue FROM ins) AS queues)
FROM ins
"""

# Large batches with ids made by the client: COPY the rows, then notify each of their queues.
_COPY_JOBS = """
COPY {job} (job_id, queue, job_type, payload, priority, enqueued_at, process_at, meta)
FROM STDIN
"""
_NOTIFY_QUEUES = "SELECT count(pg_notify(%s, queue)) FROM unnest(%s::text[]) AS q(queue)"

# A job is due when its time has come and no live lease (a leased claim's) holds it.
DUE = f"process_at <= %(now)s AND NOT {LEASE_LIVE}"

# The priorities as an SQL array, most urgent first: the claims below walk the index once per
# element, in this order, so the order of the array is the claim order.
PRIORITIES = "ARRAY[{}]::smallint[]".format(
    ", ".join(str(priority.value) for priority in sorted(Priority, key=lambda p: p.value))
)

# SKIP LOCKED so one slow worker never blocks the others: a row locked by another claim is
# passed over. The claim index is walked once per priority, most urgent first: one walk in
# (priority, process_at) order would pass over every scheduled job of a more urgent priority on
# each claim (measured: 100,000 jobs scheduled at CRITICAL made each claim of a due NORMAL job
# take 13 ms instead of 0.1 ms). The nested loop runs the walks in the array's order and LIMIT
# stops it at the first job found, so only the jobs returned are locked; an ORDER BY here would
# run every walk and lock a job of each priority.
_CLAIM_ONE = """
SELECT claimed.* FROM unnest({priorities}) AS p(priority)
CROSS JOIN LATERAL (
    SELECT {columns} FROM {job}
    WHERE queue = %(queue)s AND priority = p.priority AND {due}
    ORDER BY process_at, job_id
    LIMIT {limit}
    FOR UPDATE SKIP LOCKED
) AS claimed
LIMIT {limit}
"""

# Several queues: `queue = ANY(...)` can't walk the index in claim order (PostgreSQL before 17
# would sort every due job of the queues on each claim), so each queue's index is walked, per
# priority as above, for its most urgent due jobs, and the best of those not locked by another
# claim is taken. A job is missed only while more than CANDIDATES_PER_QUEUE claims hold the
# head of its queue at once. The outer WHERE says again that the job is due and free: a
# candidate another claim took (or retried for later) in the meantime is rechecked by it when
# its row is locked, and passed over.
CANDIDATES_PER_QUEUE = 100
_CLAIM_ANY = """
SELECT {columns} FROM {job}
WHERE job_id = ANY(ARRAY(
    SELECT candidate.job_id
    FROM unnest(%(queues)s::text[]) AS wanted(queue)
    CROSS JOIN LATERAL (
        SELECT by_priority.job_id FROM unnest({priorities}) AS p(priority)
        CROSS JOIN LATERAL (
            SELECT job_id FROM {job}
            WHERE queue = wanted.queue AND priority = p.priority AND {due}
            ORDER BY process_at, job_id
            LIMIT {candidates}
        ) AS by_priority
        LIMIT {candidates}
    ) AS candidate
)) AND {due}
ORDER BY priority, process_at, job_id
LIMIT {limit}
FOR UPDATE SKIP LOCKED
"""

# -- outcomes ------------------------------------------------------------------------------
# Each outcome is written in the transaction of the claim that ends (a batch's, for a batch),
# or autocommitted for a leased claim whose handler never asked for a connection.

ERROR = {"error_type": "text", "error_message": "text", "error_traceback": "text"}


def error_values(error: JobError | None) -> dict[str, str | None]:
    """An outcome's ERROR columns by name, NULL when it has no error."""
    return {
        "error_type": None if error is None else error.type,
        "error_message": None if error is None else error.message,
        "error_traceback": None if error is None else error.traceback,
    }


# Every outcome counts the attempt that ends.
COUNTED = "attempts + 1"


@attrs.frozen(kw_only=True)
class Outcome:
    """What an outcome writes. `computed`: columns whose values are SQL over the job's row, by
    column; `given`: columns whose values the claim gives, each as a parameter named like the
    column, by column with its SQL type."""

    computed: Mapping[str, str]
    given: Mapping[str, str]


# Success and final failure move the job to the archive: its columns, but its last error,
# which the outcome gives (none for success).
ARCHIVE = Outcome(
    computed={
        name: COUNTED if name == "attempts" else name for name in JOB_COLUMNS if name not in ERROR
    },
    given={"status": "text", "started_at": "timestamptz", "finished_at": "timestamptz", **ERROR},
)
# A retry clears any lease, so an earlier holder whose lease expired can't end the job.
RETRY = Outcome(
    computed={"attempts": COUNTED, "locked_by": "NULL", "locked_until": "NULL"},
    given={"process_at": "timestamptz", **ERROR},
)
# Success, the common case, gives only its times: each parameter is quoted by the client, at a
# measurable cost per job. The archive's error columns stay NULL.
_SUCCEEDED = {
    "status": "'succeeded'",
    "started_at": "%(started_at)s",
    "finished_at": "%(finished_at)s",
}

# An outcome of one job fails when its job is gone (or, for a leased claim, no longer held):
# the server-prepared forms send the COMMIT in the same round trip, and only an error keeps it
# from committing the claim's transaction, and the handler's writes, then. SQL has no
# statement that raises, and an error in a constant expression would be raised when the
# statement is planned, so the outcome's last step divides by the number of rows it wrote.
NothingWritten = psycopg.errors.DivisionByZero


def one_written(written: str) -> str:
    """The last step of a one-job outcome whose write is the CTE `written`: one row, or
    NothingWritten when `written` wrote none."""
    return f"SELECT 1 / count(*) FROM {written}"


def _given(outcome: Outcome) -> dict[str, str]:
    return {name: f"%({name})s" for name in outcome.given}


def _archived(values: Mapping[str, str], where: str) -> str:
    """One job's archive, with `values` (SQL by column, of ARCHIVE.given; those left out stay
    NULL)."""
    computed = ARCHIVE.computed
    return f"""
WITH moved AS (
    DELETE FROM {{job}} WHERE {where}
    RETURNING {JOB_SELECT}
), written AS (
    INSERT INTO {{archived_job}} ({", ".join([*computed, *values])})
    SELECT {", ".join([*computed.values(), *values.values()])} FROM moved
    RETURNING 1
)
{one_written("written")}
"""


def _retried(values: Mapping[str, str], where: str) -> str:
    """One job's retry, with `values` (SQL by column, of RETRY.given)."""
    assignments = ", ".join(
        f"{name} = {value}" for name, value in {**RETRY.computed, **values}.items()
    )
    return f"""
WITH written AS (
    UPDATE {{job}} SET {assignments}
    WHERE {where}
    RETURNING 1
)
{one_written("written")}
"""


def one_job_outcomes(*, leased: bool) -> dict[str, str]:
    """The outcomes of one job by name (succeed, fail, retry), with the parameters job_id, the
    given columns' and, when `leased`, the claim's token: they write only while it holds the
    job."""
    where = "job_id = %(job_id)s" + (" AND locked_by = %(token)s" if leased else "")
    return {
        "succeed": _archived(_SUCCEEDED, where),
        "fail": _archived(_given(ARCHIVE), where),
        "retry": _retried(_given(RETRY), where),
    }


# In a batch, the times are the batch's: every job of it was claimed, and ends, together.
BATCH_SHARED = ("started_at", "finished_at")


def _batch_columns(id_type: str) -> dict[str, str]:
    """The outcome columns a batch gives one value per job for, each as an array parameter
    named like the column, by column with its SQL type; job_id first. The status of a job
    retried is 'retry'."""
    given = {**ARCHIVE.given, **RETRY.given}
    return {"job_id": id_type, **{n: t for n, t in given.items() if n not in BATCH_SHARED}}


def _batch_outcomes(id_type: str) -> str:
    """Every outcome of a batch in one statement: succeeded and failed jobs archived, retried
    ones updated, and the count of rows written, which tells whether every job was still there.
    The arrays go in binary (%b): text arrays are escaped element by element, measured at a
    quarter of the client's time per job. The outcome's own columns are named given_<column>,
    so that the description's SQL over the job's columns can't mean one of them."""
    per_job = _batch_columns(id_type)
    computed = ARCHIVE.computed
    archived = {n: f"%({n})s" if n in BATCH_SHARED else f"given_{n}" for n in ARCHIVE.given}
    carried = [f"given_{n}" for n in ARCHIVE.given if n not in BATCH_SHARED]
    retried = {**RETRY.computed, **{n: f"given_{n}" for n in RETRY.given}}
    return f"""
WITH outcome AS (
    SELECT * FROM unnest({", ".join(f"%({n})b::{t}[]" for n, t in per_job.items())})
        AS o({", ".join(f"given_{n}" for n in per_job)})
), moved AS (
    DELETE FROM {{job}} AS j USING outcome
    WHERE j.job_id = given_job_id AND given_status <> 'retry'
    RETURNING {", ".join([*(f"j.{n}" for n in JOB_COLUMNS), *carried])}
), archived AS (
    INSERT INTO {{archived_job}} ({", ".join([*computed, *archived])})
    SELECT {", ".join([*computed.values(), *archived.values()])} FROM moved
    RETURNING 1
), retried AS (
    UPDATE {{job}} AS j SET {", ".join(f"{n} = {v}" for n, v in retried.items())}
    FROM outcome
    WHERE j.job_id = given_job_id AND given_status = 'retry'
    RETURNING 1
)
SELECT (SELECT count(*) FROM archived) + (SELECT count(*) FROM retried)
"""


# A leased claim: the job picked as a claim picks it (a job whose lease expired is due again),
# leased to a token, its last claim counted if that was abandoned, in one autocommitted
# statement.
_LEASE = """
WITH picked AS (
    {pick}
)
UPDATE {job} AS j
SET locked_by = %(token)s, locked_until = %(until)s,
    abandons = j.abandons + picked.abandoned::int
FROM picked WHERE j.job_id = picked.job_id
RETURNING {returned}
"""

# A transactional claim that took jobs whose last claim was abandoned counts them, and commits
# that before it claims again: counted in the claim's own transaction, a count would be lost
# with it when the job kills this worker too.
_COUNT_ABANDONED = """
UPDATE {job} SET abandons = abandons + 1, locked_by = NULL, locked_until = NULL
WHERE job_id = ANY(%(job_ids)s)
"""

# After a transactional claim was given back alive (rolled back), the mark its transaction left
# is cleared by a change that changes nothing, so the next claim doesn't count it. A job
# another claim took in the instant between is skipped: that claim counts it.
_CLEAR_MARKS = """
UPDATE {job} SET abandons = abandons
WHERE job_id IN (SELECT job_id FROM {job} WHERE job_id = ANY(%(job_ids)s) FOR UPDATE SKIP LOCKED)
"""

# A row another transaction has locked is not waited for: a live lease is never locked by
# another claim (their WHERE passes over it), so the lease was lost to one that took it.
_RENEW = """
UPDATE {job} SET locked_until = %(until)s
WHERE job_id = (
    SELECT job_id FROM {job} WHERE job_id = %(job_id)s AND locked_by = %(token)s
    FOR UPDATE SKIP LOCKED
)
"""

# A transactional claim whose outcome the server refused takes its job's row again.
_LOCK_AGAIN = "SELECT 1 FROM {job} WHERE job_id = %(job_id)s FOR UPDATE SKIP LOCKED"

# An interrupted claim (see takeover.py) waits for its job's row, at most this long, while
# the backend that held it is ended: the server aborts it at once, so only a row another
# claim took meanwhile is waited for that long.
_TERMINATE = "SELECT pg_terminate_backend(%(pid)s)"
_LOCK_TIMEOUT = "SET LOCAL lock_timeout = '10s'"
# The row as the cut claim saw it: a claim that took the row in the instant between the
# holder's end and the waiter's lock (a SKIP LOCKED claim passes a row whose locker aborted
# without queuing) has counted an abandonment, and may have written an outcome, so the waiter
# finds no row and leaves the job to that claim.
_LOCK_AFTER = (
    "SELECT 1 FROM {job} WHERE job_id = %(job_id)s AND attempts = %(attempts)s "
    "AND abandons = %(abandons)s FOR UPDATE"
)
_LOCK_WAITING = "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = %(pid)s"

# Giving a leased job back uncounted, as a transactional claim given back alive is.
_RELEASE = """
UPDATE {job} SET locked_by = NULL, locked_until = NULL
WHERE job_id = %(job_id)s AND locked_by = %(token)s
"""

# The handler's transaction of a leased claim locks the job's row while its token holds it, so
# the outcome commits with the handler's writes. NOWAIT, as for renewing: another transaction
# locks the row only to take a job whose lease expired.
_HOLD = """
SELECT 1 FROM {job} WHERE job_id = %(job_id)s AND locked_by = %(token)s FOR UPDATE NOWAIT
"""

_FOUND_QUEUED = select_list(
    FoundRow._fields,
    {
        "job": JOB_SELECT,
        "status": "NULL::text",
        "started_at": "NULL::timestamptz",
        "finished_at": "NULL::timestamptz",
        "running": RUNNING,
    },
)
_FOUND_ARCHIVED = select_list(
    FoundRow._fields,
    {
        "job": JOB_SELECT,
        "status": "status",
        "started_at": "started_at",
        "finished_at": "finished_at",
        "running": "false",
    },
)
_GET_JOB = f"""
SELECT {_FOUND_QUEUED} FROM {{job}} WHERE job_id = %(job_id)s
UNION ALL
SELECT {_FOUND_ARCHIVED} FROM {{archived_job}} WHERE job_id = %(job_id)s
"""

_STATS = """
WITH queued AS (
    SELECT queue, process_at, {running} AS running FROM {job}
), live AS (
    SELECT queue,
           count(*) FILTER (WHERE NOT running AND process_at <= %(now)s) AS ready,
           count(*) FILTER (WHERE NOT running AND process_at > %(now)s) AS scheduled,
           count(*) FILTER (WHERE running) AS running,
           min(process_at) FILTER (WHERE NOT running AND process_at <= %(now)s) AS oldest_ready
    FROM queued GROUP BY queue
), done AS (
    SELECT queue,
           count(*) FILTER (WHERE status = 'succeeded') AS succeeded,
           count(*) FILTER (WHERE status = 'failed') AS failed
    FROM {archived_job} GROUP BY queue
)
SELECT {select}
FROM live FULL JOIN done ON done.queue = live.queue
ORDER BY 1
"""

_STATS_SELECT = select_list(
    StatsRow._fields,
    {
        "queue": "coalesce(live.queue, done.queue)",
        "ready": "coalesce(ready, 0)",
        "scheduled": "coalesce(scheduled, 0)",
        "running": "coalesce(running, 0)",
        "succeeded": "coalesce(succeeded, 0)",
        "failed": "coalesce(failed, 0)",
        "oldest_ready": "oldest_ready",
    },
)

_RETRY_FAILED = """
WITH moved AS (
    DELETE FROM {archived_job} WHERE job_id = %(job_id)s AND status = 'failed'
    RETURNING job_id, queue, job_type, payload, priority, enqueued_at, meta
), requeued AS (
    INSERT INTO {job} (job_id, queue, job_type, payload, priority, attempts, enqueued_at,
                       process_at, meta)
    SELECT job_id, queue, job_type, payload, priority, 0, enqueued_at, %(now)s, meta FROM moved
    RETURNING queue
)
SELECT pg_notify(%(channel)s, queue) FROM requeued
"""

# The locking subquery finds nothing for a running job (its row is locked, or a lease holds
# it), so it is refused.
_CANCEL = """
DELETE FROM {job}
WHERE job_id = (
    SELECT job_id FROM {job}
    WHERE job_id = %(job_id)s AND NOT {lease_live}
    FOR UPDATE SKIP LOCKED
)
"""

# One batch of prune_archive, the oldest first. The archive index on finished_at serves the
# subquery.
_PRUNE = """
DELETE FROM {archived_job} WHERE job_id IN (
    SELECT job_id FROM {archived_job} WHERE finished_at < %s ORDER BY finished_at LIMIT %s
)
"""

# Serialises concurrent install_schema() calls: racing CREATE ... IF NOT EXISTS can still
# collide in the catalog.
_INSTALL_LOCK = "SELECT pg_advisory_xact_lock(hashtext(%s))"

SAVEPOINT = b"SAVEPOINT proletarian_handler"
# The statements that close the handler's savepoint before its job's row is touched again:
# keep its writes, or undo them (clearing an aborted state too). Changing the row inside the
# savepoint was measured several times slower.
KEEP_HANDLER_WRITES = (b"RELEASE SAVEPOINT proletarian_handler",)
UNDO_HANDLER_WRITES = (b"ROLLBACK TO SAVEPOINT proletarian_handler", *KEEP_HANDLER_WRITES)


def close_savepoint(*, undo: bool) -> bytes:
    """KEEP_HANDLER_WRITES or UNDO_HANDLER_WRITES as one query: one round trip."""
    return b"; ".join(UNDO_HANDLER_WRITES if undo else KEEP_HANDLER_WRITES)


@attrs.frozen(kw_only=True)
class Statements:
    enqueue: bytes
    enqueue_many: bytes
    copy_jobs: bytes
    notify_queues: bytes
    # The transactional claim's statements, run by its ClaimStatements (see prepared.py):
    # claim_one, claim_any and the outcomes of one job.
    claim: Mapping[str, Definition]
    claim_batch_one: bytes
    claim_batch_any: bytes
    write_outcomes: bytes
    lease_one: bytes
    lease_any: bytes
    # The leased claim's outcomes of one job, conditional on its token.
    leased: Mapping[str, bytes]
    count_abandoned: bytes
    clear_marks: bytes
    lock_again: bytes
    terminate: bytes
    lock_timeout: bytes
    lock_after: bytes
    lock_waiting: bytes
    renew: bytes
    release: bytes
    hold: bytes
    get_job: bytes
    stats: bytes
    retry_failed: bytes
    cancel: bytes
    prune: bytes
    install_lock: bytes
    listen: bytes

    @classmethod
    def build(cls, names: Names, *, bigint_ids: bool) -> Statements:
        """With `bigint_ids` the database assigns job ids: inserts leave job_id out."""
        id_type = "bigint" if bigint_ids else "uuid"
        parts = {
            "job": sql.Identifier(*names.job),
            "archived_job": sql.Identifier(*names.archived_job),
            "id_column": sql.SQL("" if bigint_ids else "job_id, "),
            "id_value": sql.SQL("" if bigint_ids else "%s, "),
            "id_array": sql.SQL("" if bigint_ids else "%s::uuid[], "),
            "candidates": sql.Literal(CANDIDATES_PER_QUEUE),
            "priorities": sql.SQL(PRIORITIES),
            "due": sql.SQL(DUE),
            "lease_live": sql.SQL(LEASE_LIVE),
            "running": sql.SQL(RUNNING),
        }
        enqueue_many_values = "" if bigint_ids else "u.job_id, "

        def render(template: str, **extra: sql.Composable) -> bytes:
            return composed(template, **extra).as_bytes()

        def composed(template: str, **extra: sql.Composable) -> sql.Composed:
            return sql.SQL(template.strip()).format(**{**parts, **extra})

        def lease(pick: str) -> bytes:
            picked = sql.SQL(f"job_id, {ABANDONED} AS abandoned")
            return render(
                _LEASE,
                pick=composed(pick, columns=picked, limit=sql.SQL("1")),
                returned=sql.SQL(", ".join(f"j.{name}" for name in JOB_COLUMNS)),
            )

        claimed = sql.SQL(CLAIM_SELECT)
        # The parameters' types, as the statements prepared on the server declare them.
        types = {
            "queue": "text",
            "queues": "text[]",
            "now": "timestamptz",
            "job_id": id_type,
            **ARCHIVE.given,
            **RETRY.given,
        }
        claim = {
            "claim_one": render(_CLAIM_ONE, columns=claimed, limit=sql.SQL("1")),
            "claim_any": render(_CLAIM_ANY, columns=claimed, limit=sql.SQL("1")),
            **{key: render(text) for key, text in one_job_outcomes(leased=False).items()},
        }
        return cls(
            enqueue=render(_ENQUEUE),
            enqueue_many=render(
                _ENQUEUE_MANY,
                id_value=sql.SQL(enqueue_many_values),
                returned=sql.SQL("array_agg(job_id)" if bigint_ids else "count(*)"),
            ),
            copy_jobs=render(_COPY_JOBS),
            notify_queues=render(_NOTIFY_QUEUES),
            claim={key: Definition(query=query, types=types) for key, query in claim.items()},
            # Batch mode: the same claims, up to a limit of jobs at once, in claim order.
            claim_batch_one=render(_CLAIM_ONE, columns=claimed, limit=sql.SQL("%(limit)s")),
            claim_batch_any=render(_CLAIM_ANY, columns=claimed, limit=sql.SQL("%(limit)s")),
            write_outcomes=render(_batch_outcomes(id_type)),
            lease_one=lease(_CLAIM_ONE),
            lease_any=lease(_CLAIM_ANY),
            leased={key: render(text) for key, text in one_job_outcomes(leased=True).items()},
            count_abandoned=render(_COUNT_ABANDONED),
            clear_marks=render(_CLEAR_MARKS),
            lock_again=render(_LOCK_AGAIN),
            terminate=render(_TERMINATE),
            lock_timeout=render(_LOCK_TIMEOUT),
            lock_after=render(_LOCK_AFTER),
            lock_waiting=render(_LOCK_WAITING),
            renew=render(_RENEW),
            release=render(_RELEASE),
            hold=render(_HOLD),
            get_job=render(_GET_JOB),
            stats=render(_STATS, select=sql.SQL(_STATS_SELECT)),
            retry_failed=render(_RETRY_FAILED),
            cancel=render(_CANCEL),
            prune=render(_PRUNE),
            install_lock=render(_INSTALL_LOCK),
            listen=sql.SQL("LISTEN {}").format(sql.Identifier(names.channel)).as_bytes(),
        )
