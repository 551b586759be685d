"""The PostgreSQL statements of the operators' reads and bulk actions and of the worker
registry, apart from the claim path's statements (statements.py). Filters pick fixed clauses,
so each statement is one the planner serves from an index; values are always parameters."""

from __future__ import annotations

import attrs
from psycopg import sql

from proletarian.adapters.postgres.rows import JOB_COLUMNS
from proletarian.adapters.postgres.schema import Names
from proletarian.adapters.postgres.statements import LEASE_LIVE, RUNNING
from proletarian.core.inspection import ARCHIVED, JobFilter
from proletarian.core.job import JobStatus

# A queued job's status as a condition (see rows.found_job).
_QUEUED_STATUS = {
    JobStatus.READY: f"NOT {RUNNING} AND process_at <= %(now)s",
    JobStatus.SCHEDULED: f"NOT {RUNNING} AND process_at > %(now)s",
    JobStatus.RUNNING: RUNNING,
}

# Rows shaped as get_job's (rows.FoundRow): the job, then the archive's columns and
# whether it runs. Newest first by id, from the primary key (or the archive's
# (status, job_id) index when a status is given).
_QUEUED_PAGE = """
SELECT {columns}, NULL::text, NULL::timestamptz, NULL::timestamptz, {running}
FROM {job}{where} ORDER BY job_id DESC LIMIT %(limit)s
"""
_ARCHIVED_PAGE = """
SELECT {columns}, status, started_at, finished_at, false
FROM {archived_job}{where} ORDER BY job_id DESC LIMIT %(limit)s
"""

# One batch of bulk retry: as retry_failed, for up to %(limit)s failed jobs, and one wake-up
# per queue. SKIP LOCKED, so two operators retrying at once never wait on each other.
_RETRY_BATCH = """
WITH picked AS (
    SELECT job_id FROM {archived_job}{where} LIMIT %(limit)s FOR UPDATE SKIP LOCKED
), moved AS (
    DELETE FROM {archived_job} AS a USING picked WHERE a.job_id = picked.job_id
    RETURNING a.job_id, a.queue, a.job_type, a.payload, a.priority, a.enqueued_at, a.meta
), requeued AS (
    INSERT INTO {job} (job_id, queue, job_type, payload, priority, attempts, enqueued_at,
                       process_at, meta)
    SELECT job_id, queue, job_type, payload, priority, 0, enqueued_at, %(now)s, meta FROM moved
    RETURNING queue
), woken AS (
    SELECT pg_notify(%(channel)s, queue) FROM (SELECT DISTINCT queue FROM requeued) AS q
)
SELECT (SELECT count(*) FROM requeued), (SELECT count(*) FROM woken)
"""

# One batch of bulk cancel, as cancel: a running job's row is locked by its claim or held by
# a live lease, so it is never picked.
_CANCEL_BATCH = """
DELETE FROM {job} WHERE job_id IN (
    SELECT job_id FROM {job}{where} LIMIT %(limit)s FOR UPDATE SKIP LOCKED
)
"""

# Minutes in UTC whatever the session's time zone; a range on the finished_at index.
_THROUGHPUT = """
SELECT date_trunc('minute', finished_at AT TIME ZONE 'UTC'), status, count(*)
FROM {archived_job} WHERE finished_at >= %(since)s GROUP BY 1, 2
"""

_WORKER_COLUMNS = (
    "worker_id, host, pid, queues, threads, version, started_at, last_seen, heartbeat_every, "
    "running"
)
_REGISTER = f"""
INSERT INTO {{worker}} ({_WORKER_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (worker_id) DO UPDATE SET
    host = excluded.host, pid = excluded.pid, queues = excluded.queues,
    threads = excluded.threads, version = excluded.version, started_at = excluded.started_at,
    last_seen = excluded.last_seen, heartbeat_every = excluded.heartbeat_every,
    running = excluded.running
"""
_HEARTBEAT = "UPDATE {worker} SET last_seen = %s, running = %s WHERE worker_id = %s"
_UNREGISTER = "DELETE FROM {worker} WHERE worker_id = ANY(%s)"
_WORKERS = f"SELECT {_WORKER_COLUMNS} FROM {{worker}} ORDER BY worker_id"


def _where(*clauses: str) -> sql.SQL:
    given = [clause for clause in clauses if clause]
    return sql.SQL(" WHERE " + " AND ".join(given) if given else "")


def _filters(wanted: JobFilter) -> tuple[str, str]:
    return (
        "" if wanted.queue is None else "queue = %(queue)s",
        "" if wanted.job_type is None else "job_type = %(job_type)s",
    )


@attrs.frozen
class InspectStatements:
    """The statements for one store's names."""

    names: Names

    def _render(self, template: str, **extra: sql.Composable) -> bytes:
        parts = {
            "job": sql.Identifier(*self.names.job),
            "archived_job": sql.Identifier(*self.names.archived_job),
            "worker": sql.Identifier(*self.names.worker),
            "columns": sql.SQL(", ".join(JOB_COLUMNS)),
            "running": sql.SQL(RUNNING),
        }
        return sql.SQL(template.strip()).format(**{**parts, **extra}).as_bytes()

    def queued_page(self, wanted: JobFilter, *, paged: bool) -> bytes:
        """Parameters: now, limit, and queue, job_type, before as filtered."""
        status = "" if wanted.status is None else _QUEUED_STATUS[wanted.status]
        before = "job_id < %(before)s" if paged else ""
        return self._render(_QUEUED_PAGE, where=_where(status, *_filters(wanted), before))

    def archived_page(self, wanted: JobFilter, *, paged: bool) -> bytes:
        """As `queued_page`, with status when filtered."""
        status = "status = %(status)s" if wanted.status in ARCHIVED else ""
        before = "job_id < %(before)s" if paged else ""
        return self._render(_ARCHIVED_PAGE, where=_where(status, *_filters(wanted), before))

    def retry_batch(self, wanted: JobFilter) -> bytes:
        """Parameters: now, limit, channel, and queue, job_type as filtered."""
        where = _where("status = 'failed'", *_filters(wanted))
        return self._render(_RETRY_BATCH, where=where)

    def cancel_batch(self, wanted: JobFilter) -> bytes:
        """Parameters: now, limit, and queue, job_type as filtered."""
        return self._render(_CANCEL_BATCH, where=_where(f"NOT {LEASE_LIVE}", *_filters(wanted)))

    @property
    def throughput(self) -> bytes:
        return self._render(_THROUGHPUT)

    @property
    def register(self) -> bytes:
        return self._render(_REGISTER)

    @property
    def heartbeat(self) -> bytes:
        return self._render(_HEARTBEAT)

    @property
    def unregister(self) -> bytes:
        return self._render(_UNREGISTER)

    @property
    def workers(self) -> bytes:
        return self._render(_WORKERS)
