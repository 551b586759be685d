"""Every SQL statement the store runs, rendered once per store with its quoted names.

Each operation is one statement (one round trip), so psycopg prepares it after a few uses.
Times are always parameters from the store's clock, never the server's now().
"""

from __future__ import annotations

import re

import attrs
from psycopg import sql

from proletarian.adapters.postgres.schema import Names
from proletarian.core.job import Priority

# The columns of a queued job, in the order rows.py reads them.
JOB_COLUMNS = (
    "job_id, queue, job_type, payload, priority, attempts, abandons, enqueued_at, process_at, "
    "meta, error_type, error_message, error_traceback"
)
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
CLAIM_COLUMNS = f"{JOB_COLUMNS}, {ABANDONED}"

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

# Batch mode: every outcome of a batch in one statement, in the batch's transaction. Succeeded
# and failed jobs are archived and deleted, retried ones updated; the count of rows written
# tells whether every job was still there. The arrays go in binary (%b): text arrays are
# escaped element by element, measured at a quarter of the client's time per job.
_WRITE_OUTCOMES = """
WITH outcome AS (
    SELECT * FROM unnest(%(job_ids)b::{id_type}[], %(statuses)b::text[],
                         %(process_at)b::timestamptz[], %(finished_at)b::timestamptz[],
                         %(error_types)b::text[], %(error_messages)b::text[],
                         %(error_tracebacks)b::text[])
        AS o(job_id, status, process_at, finished_at, error_type, error_message, error_traceback)
), moved AS (
    DELETE FROM {job} AS j USING outcome AS o
    WHERE j.job_id = o.job_id AND o.status <> 'retry'
    RETURNING j.job_id, j.queue, j.job_type, j.payload, j.priority, j.attempts, j.abandons,
              j.enqueued_at, j.process_at, j.meta, o.status, o.finished_at, o.error_type,
              o.error_message, o.error_traceback
), archived AS (
    INSERT INTO {archived_job} (job_id, queue, job_type, payload, priority, attempts, abandons,
                                enqueued_at, process_at, meta, status, started_at, finished_at,
                                error_type, error_message, error_traceback)
    SELECT job_id, queue, job_type, payload, priority, attempts + 1, abandons, enqueued_at,
           process_at, meta, status, %(started_at)s, finished_at, error_type, error_message,
           error_traceback
    FROM moved
    RETURNING 1
), retried AS (
    UPDATE {job} AS j
    SET attempts = j.attempts + 1, locked_by = NULL, locked_until = NULL,
        process_at = o.process_at, error_type = o.error_type,
        error_message = o.error_message, error_traceback = o.error_traceback
    FROM outcome AS o
    WHERE j.job_id = o.job_id AND o.status = 'retry'
    RETURNING 1
)
SELECT (SELECT count(*) FROM archived) + (SELECT count(*) FROM retried)
"""

# Success and final failure: archive and delete in one statement, in the claim's transaction,
# counting the attempt. A leased claim writes only while its token still holds the job
# ({held}). A retry clears any lease, so an earlier holder whose lease expired can't end the job.
_ARCHIVE = """
WITH moved AS (
    DELETE FROM {job} WHERE job_id = %(job_id)s{held}
    RETURNING job_id, queue, job_type, payload, priority, attempts, abandons, enqueued_at,
              process_at, meta
)
INSERT INTO {archived_job} (job_id, queue, job_type, payload, priority, attempts, abandons,
                            enqueued_at, process_at, meta, status, started_at, finished_at,
                            error_type, error_message, error_traceback)
SELECT job_id, queue, job_type, payload, priority, attempts + 1, abandons, enqueued_at,
       process_at, meta, %(status)s, %(started_at)s, %(finished_at)s,
       %(error_type)s, %(error_message)s, %(error_traceback)s
FROM moved
"""

_RETRY = """
UPDATE {job}
SET attempts = attempts + 1, locked_by = NULL, locked_until = NULL, process_at = %(process_at)s,
    error_type = %(error_type)s, error_message = %(error_message)s,
    error_traceback = %(error_traceback)s
WHERE job_id = %(job_id)s{held}
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

_GET_JOB = """
SELECT {columns}, NULL::text, NULL::timestamptz, NULL::timestamptz, {running}
FROM {job} WHERE job_id = %(job_id)s
UNION ALL
SELECT {columns}, status, started_at, finished_at, false
FROM {archived_job} WHERE job_id = %(job_id)s
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
SELECT coalesce(live.queue, done.queue), coalesce(ready, 0), coalesce(scheduled, 0),
       coalesce(running, 0), coalesce(succeeded, 0), coalesce(failed, 0), oldest_ready
FROM live FULL JOIN done ON done.queue = live.queue
ORDER BY 1
"""

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

# The strict claim and its outcomes as server-side prepared statements (see prepared.py): the
# claim runs with BEGIN and each outcome with COMMIT, in one round trip each. An outcome whose
# job is gone divides by zero, so the COMMIT sent with it never commits that transaction (nor
# the handler's writes): the error becomes ClaimLost.
_SERVER_ARCHIVE = """
WITH moved AS (
    DELETE FROM {job} WHERE job_id = $1
    RETURNING job_id, queue, job_type, payload, priority, attempts, abandons, enqueued_at,
              process_at, meta
), archived AS (
    INSERT INTO {archived_job} (job_id, queue, job_type, payload, priority, attempts, abandons,
                                enqueued_at, process_at, meta, status, started_at, finished_at,
                                error_type, error_message, error_traceback)
    SELECT job_id, queue, job_type, payload, priority, attempts + 1, abandons, enqueued_at,
           process_at, meta, $2, $3, $4, $5, $6, $7
    FROM moved
    RETURNING 1
)
SELECT 1 / count(*) FROM archived
"""

# Success, the common case, with only what it needs: 3 parameters instead of 7 (each is
# quoted by the client, at a measurable cost per job).
_SERVER_SUCCEED = """
WITH moved AS (
    DELETE FROM {job} WHERE job_id = $1
    RETURNING job_id, queue, job_type, payload, priority, attempts, abandons, enqueued_at,
              process_at, meta
), archived AS (
    INSERT INTO {archived_job} (job_id, queue, job_type, payload, priority, attempts, abandons,
                                enqueued_at, process_at, meta, status, started_at, finished_at)
    SELECT job_id, queue, job_type, payload, priority, attempts + 1, abandons, enqueued_at,
           process_at, meta, 'succeeded', $2, $3
    FROM moved
    RETURNING 1
)
SELECT 1 / count(*) FROM archived
"""

_SERVER_RETRY = """
WITH updated AS (
    UPDATE {job}
    SET attempts = attempts + 1, locked_by = NULL, locked_until = NULL, process_at = $2,
        error_type = $3, error_message = $4, error_traceback = $5
    WHERE job_id = $1
    RETURNING 1
)
SELECT 1 / count(*) FROM updated
"""


_NAMED = re.compile(r"%\((\w+)\)s")


def server_definitions(names: Names, *, bigint_ids: bool) -> dict[str, tuple[str, bytes]]:
    """The statements prepared on the server: key -> (parameter types, body)."""
    id_type = "bigint" if bigint_ids else "uuid"
    parts = {
        "job": sql.Identifier(*names.job),
        "archived_job": sql.Identifier(*names.archived_job),
        "columns": sql.SQL(CLAIM_COLUMNS),
        "candidates": sql.Literal(CANDIDATES_PER_QUEUE),
        "priorities": sql.SQL(PRIORITIES),
        "due": sql.SQL(DUE),
        "limit": sql.SQL("1"),
    }

    def render(template: str) -> bytes:
        """Named parameters become $1, $2, ... in the order they first appear."""
        numbered = sql.SQL(template.strip()).format(**parts).as_string()
        for number, name in enumerate(dict.fromkeys(_NAMED.findall(numbered)), 1):
            numbered = numbered.replace(f"%({name})s", f"${number}")
        return numbered.encode()

    return {
        "claim_one": ("text, timestamptz", render(_CLAIM_ONE)),
        "claim_any": ("text[], timestamptz", render(_CLAIM_ANY)),
        "succeed": (f"{id_type}, timestamptz, timestamptz", render(_SERVER_SUCCEED)),
        "archive": (
            f"{id_type}, text, timestamptz, timestamptz, text, text, text",
            render(_SERVER_ARCHIVE),
        ),
        "retry": (f"{id_type}, timestamptz, text, text, text", render(_SERVER_RETRY)),
    }


SAVEPOINT = b"SAVEPOINT proletarian_handler"
RELEASE = b"RELEASE SAVEPOINT proletarian_handler"
# Sent before an outcome's EXECUTE, in its round trip: undo the handler's writes (clearing an
# aborted state too) or keep them, and drop the savepoint before the job row is touched.
ROLLBACK_AND_RELEASE = (
    b"ROLLBACK TO SAVEPOINT proletarian_handler; RELEASE SAVEPOINT proletarian_handler"
)


@attrs.frozen(kw_only=True)
class Statements:
    enqueue: bytes
    enqueue_many: bytes
    copy_jobs: bytes
    notify_queues: bytes
    claim_one: bytes
    claim_any: bytes
    claim_batch_one: bytes
    claim_batch_any: bytes
    write_outcomes: bytes
    archive: bytes
    retry: bytes
    lease_one: bytes
    lease_any: bytes
    leased_archive: bytes
    leased_retry: bytes
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
        parts = {
            "job": sql.Identifier(*names.job),
            "archived_job": sql.Identifier(*names.archived_job),
            "columns": sql.SQL(JOB_COLUMNS),
            "running": sql.SQL(RUNNING),
            "id_column": sql.SQL("" if bigint_ids else "job_id, "),
            "id_value": sql.SQL("" if bigint_ids else "%s, "),
            "id_array": sql.SQL("" if bigint_ids else "%s::uuid[], "),
            "candidates": sql.Literal(CANDIDATES_PER_QUEUE),
            "priorities": sql.SQL(PRIORITIES),
            "due": sql.SQL(DUE),
            "lease_live": sql.SQL(LEASE_LIVE),
            "held": sql.SQL(""),
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
                returned=sql.SQL(", ".join(f"j.{name}" for name in JOB_COLUMNS.split(", "))),
            )

        held = sql.SQL(" AND locked_by = %(token)s")
        claimed = sql.SQL(CLAIM_COLUMNS)

        return cls(
            enqueue=render(_ENQUEUE),
            enqueue_many=render(
                _ENQUEUE_MANY,
                id_value=sql.SQL(enqueue_many_values),
                returned=sql.SQL("array_agg(job_id)" if bigint_ids else "count(*)"),
            ),
            copy_jobs=render(_COPY_JOBS),
            notify_queues=render(_NOTIFY_QUEUES),
            claim_one=render(_CLAIM_ONE, columns=claimed, limit=sql.SQL("1")),
            claim_any=render(_CLAIM_ANY, columns=claimed, limit=sql.SQL("1")),
            # Batch mode: the same claims, up to a limit of jobs at once, in claim order.
            claim_batch_one=render(_CLAIM_ONE, columns=claimed, limit=sql.SQL("%(limit)s")),
            claim_batch_any=render(_CLAIM_ANY, columns=claimed, limit=sql.SQL("%(limit)s")),
            write_outcomes=render(
                _WRITE_OUTCOMES, id_type=sql.SQL("bigint" if bigint_ids else "uuid")
            ),
            archive=render(_ARCHIVE),
            retry=render(_RETRY),
            lease_one=lease(_CLAIM_ONE),
            lease_any=lease(_CLAIM_ANY),
            leased_archive=render(_ARCHIVE, held=held),
            leased_retry=render(_RETRY, held=held),
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
            stats=render(_STATS),
            retry_failed=render(_RETRY_FAILED),
            cancel=render(_CANCEL),
            prune=render(_PRUNE),
            install_lock=render(_INSTALL_LOCK),
            listen=sql.SQL("LISTEN {}").format(sql.Identifier(names.channel)).as_bytes(),
        )
