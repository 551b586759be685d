"""The SQLite statements of the operators' reads and bulk actions and of the worker registry,
apart from the claim path's statements in `_sql`. Clauses are chosen from fixed text by which
filters are given, so each statement is one SQLite can plan on an index; values are always
parameters."""

from __future__ import annotations

import attrs

from proletarian.adapters.sqlite._sql import (
    ARCHIVE_ONLY,
    QUEUED_ONLY,
    JobRow,
    Statements,
    copied,
)
from proletarian.core.inspection import ARCHIVED, JobFilter
from proletarian.core.job import JobStatus

# A queued job's status as a condition on :now (see queued_status).
_FREE = "(locked_until IS NULL OR locked_until <= :now)"
_QUEUED_STATUS = {
    JobStatus.READY: f"process_at <= :now AND {_FREE}",
    JobStatus.SCHEDULED: f"process_at > :now AND {_FREE}",
    JobStatus.RUNNING: "locked_until > :now",
}
_FAILED = "status = 'failed'"
WORKER_COLUMNS = (
    "worker_id, host, pid, queues, threads, version, started_at, last_seen, heartbeat_every, "
    "running"
)


def _where(wanted: JobFilter, *, paged: bool, extra: str = "") -> str:
    clauses = [extra] if extra else []
    if wanted.queue is not None:
        clauses.append("queue = :queue")
    if wanted.job_type is not None:
        clauses.append("job_type = :job_type")
    if paged:
        clauses.append("job_id < :before")
    return " WHERE " + " AND ".join(clauses) if clauses else ""


@attrs.frozen
class InspectStatements:
    """The statements for one store's tables (its `Statements`)."""

    sql: Statements

    @property
    def worker_table(self) -> str:
        """The registry is named after the job table: "job" has "job_worker"."""
        return f'"{self.sql.job_table[1:-1]}_worker"'

    def queued_page(self, wanted: JobFilter, *, paged: bool) -> str:
        """Parameters by name: now, limit, and queue, job_type, before as filtered. JobRows."""
        columns = copied(JobRow._fields, **dict.fromkeys(ARCHIVE_ONLY, "NULL"))
        status = "" if wanted.status is None else _QUEUED_STATUS[wanted.status]
        return (
            f"SELECT {columns} FROM {self.sql.job_table}{_where(wanted, paged=paged, extra=status)}"
            " ORDER BY job_id DESC LIMIT :limit"
        )

    def archived_page(self, wanted: JobFilter, *, paged: bool) -> str:
        """As `queued_page`, plus :status when filtered: walks (status, job_id) then."""
        columns = copied(JobRow._fields, **dict.fromkeys(QUEUED_ONLY, "NULL"))
        status = "status = :status" if wanted.status in ARCHIVED else ""
        return (
            f"SELECT {columns} FROM {self.sql.archived_job_table}"
            f"{_where(wanted, paged=paged, extra=status)} ORDER BY job_id DESC LIMIT :limit"
        )

    def failed_ids(self, wanted: JobFilter) -> str:
        """Parameters by name: limit, and queue, job_type as filtered."""
        return (
            f"SELECT job_id FROM {self.sql.archived_job_table}"
            f"{_where(wanted, paged=False, extra=_FAILED)} LIMIT :limit"
        )

    def cancel_batch(self, wanted: JobFilter) -> str:
        """Parameters by name: now, limit, and queue, job_type as filtered. Deletes up to
        :limit queued jobs no lease holds."""
        table = self.sql.job_table
        return (
            f"DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM {table}"
            f"{_where(wanted, paged=False, extra=_FREE)} LIMIT :limit)"
        )

    @property
    def throughput(self) -> str:
        """Parameter: the first instant counted. (minute as 'YYYY-MM-DD HH:MM', status, count),
        by a range on the archive's finished_at index."""
        return (
            f"SELECT substr(finished_at, 1, 16), status, count(*) "
            f"FROM {self.sql.archived_job_table} WHERE finished_at >= ? GROUP BY 1, 2"
        )

    @property
    def has_registry(self) -> str:
        return "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?"

    @property
    def register(self) -> str:
        values = ", ".join("?" for _ in WORKER_COLUMNS.split(", "))
        return f"INSERT OR REPLACE INTO {self.worker_table} ({WORKER_COLUMNS}) VALUES ({values})"

    @property
    def heartbeat(self) -> str:
        """Parameters: last_seen, running, worker id."""
        return f"UPDATE {self.worker_table} SET last_seen = ?, running = ? WHERE worker_id = ?"

    @property
    def unregister(self) -> str:
        return f"DELETE FROM {self.worker_table} WHERE worker_id = ?"

    @property
    def workers(self) -> str:
        return f"SELECT {WORKER_COLUMNS} FROM {self.worker_table} ORDER BY worker_id"
