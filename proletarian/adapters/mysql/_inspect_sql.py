"""The MySQL statements of the operators' reads and bulk actions and of the worker registry,
apart from the claim path's statements in `_sql`. Filters pick fixed clauses; values are always
parameters."""

from __future__ import annotations

from proletarian.adapters.mysql._sql import ARCHIVE_COLUMNS, COLUMNS, NEW_JOB_COLUMNS, copied
from proletarian.adapters.mysql._sql import worker_table as worker_table_of
from proletarian.core.inspection import JobFilter
from proletarian.core.job import JobStatus

WORKER_COLUMNS = (
    "worker_id, host, pid, queues, threads, version, started_at, last_seen, heartbeat_every, "
    "running"
)
# Added after the registry's first release: install_schema adds it to archives made before.
STATUS_INDEX = ("status_id", "(status, job_id)")


def _where(*clauses: str) -> str:
    given = [clause for clause in clauses if clause]
    return " WHERE " + " AND ".join(given) if given else ""


def _filters(wanted: JobFilter) -> list[str]:
    clauses = []
    if wanted.queue is not None:
        clauses.append("queue = %(queue)s")
    if wanted.job_type is not None:
        clauses.append("job_type = %(job_type)s")
    return clauses


def _in(count: int) -> str:
    return "(" + ", ".join(["%s"] * count) + ")"


class InspectStatements:
    """The statements for one store's tables (quoted, validated names)."""

    def __init__(self, job_table: str, archived_job_table: str) -> None:
        self.job_table = job_table
        self.archived_job_table = archived_job_table
        self.worker_table = worker_table_of(job_table)

    def queued_page(self, wanted: JobFilter, *, paged: bool) -> str:
        """Parameters by name: now, limit, and queue, job_type, before as filtered. A
        consistent (non-locking) read; which rows run is asked of their locks afterwards."""
        due = {
            JobStatus.READY: "process_at <= %(now)s",
            JobStatus.SCHEDULED: "process_at > %(now)s",
        }.get(wanted.status or JobStatus.RUNNING, "")
        before = "job_id < %(before)s" if paged else ""
        return (
            f"SELECT {COLUMNS} FROM {self.job_table}{_where(due, *_filters(wanted), before)} "
            "ORDER BY job_id DESC LIMIT %(limit)s"
        )

    def archived_page(self, wanted: JobFilter, *, paged: bool) -> str:
        """As `queued_page`, with status when filtered: the status_id index then."""
        status = "" if wanted.status is None else "status = %(status)s"
        before = "job_id < %(before)s" if paged else ""
        where = _where(status, *_filters(wanted), before)
        return (
            f"SELECT {ARCHIVE_COLUMNS} FROM {self.archived_job_table}{where} "
            "ORDER BY job_id DESC LIMIT %(limit)s"
        )

    def unlocked(self, count: int) -> str:
        """Which of `count` job ids no claim holds: SKIP LOCKED passes over the rows a claim
        locked. The caller rolls back at once, so the probe holds no lock for long."""
        return (
            f"SELECT job_id FROM {self.job_table} WHERE job_id IN {_in(count)} "
            "FOR UPDATE SKIP LOCKED"
        )

    def lock_failed(self, wanted: JobFilter) -> str:
        where = _where("status = 'failed'", *_filters(wanted))
        return (
            f"SELECT job_id FROM {self.archived_job_table}{where} LIMIT %(limit)s "
            "FOR UPDATE SKIP LOCKED"
        )

    def requeue(self, count: int) -> str:
        """Parameters: the new process_at, then `count` job ids."""
        requeued = copied(("job_id", *NEW_JOB_COLUMNS.split(", ")), process_at="%s")
        return (
            f"INSERT INTO {self.job_table} (job_id, {NEW_JOB_COLUMNS}) "
            f"SELECT {requeued} FROM {self.archived_job_table} WHERE job_id IN {_in(count)}"
        )

    def unarchive(self, count: int) -> str:
        return f"DELETE FROM {self.archived_job_table} WHERE job_id IN {_in(count)}"

    def lock_queued(self, wanted: JobFilter) -> str:
        """Up to %(limit)s queued jobs no claim holds, locked."""
        return (
            f"SELECT job_id FROM {self.job_table}{_where(*_filters(wanted))} LIMIT %(limit)s "
            "FOR UPDATE SKIP LOCKED"
        )

    def delete(self, count: int) -> str:
        return f"DELETE FROM {self.job_table} WHERE job_id IN {_in(count)}"

    @property
    def throughput(self) -> str:
        """Parameter: the first instant counted. ('YYYY-MM-DD HH:MM', status, count), by a range
        on the archive's finished index."""
        return (
            "SELECT SUBSTRING(CAST(finished_at AS CHAR), 1, 16), status, COUNT(*) "
            f"FROM {self.archived_job_table} WHERE finished_at >= %s GROUP BY 1, 2"
        )

    @property
    def has_status_index(self) -> tuple[str, tuple[str, ...]]:
        parts = [part.strip("`") for part in self.archived_job_table.split(".")]
        schema = "%s" if len(parts) == 2 else "DATABASE()"
        return (
            "SELECT COUNT(*) FROM information_schema.statistics "
            f"WHERE table_schema = {schema} AND table_name = %s AND index_name = %s",
            (*parts, STATUS_INDEX[0]),
        )

    @property
    def add_status_index(self) -> str:
        name, columns = STATUS_INDEX
        return f"ALTER TABLE {self.archived_job_table} ADD KEY {name} {columns}"

    @property
    def register(self) -> str:
        values = _in(len(WORKER_COLUMNS.split(", ")))
        return f"REPLACE INTO {self.worker_table} ({WORKER_COLUMNS}) VALUES {values}"

    @property
    def heartbeat(self) -> str:
        """Parameters: last_seen, running, worker id."""
        return f"UPDATE {self.worker_table} SET last_seen = %s, running = %s WHERE worker_id = %s"

    @property
    def is_registered(self) -> str:
        """Whether the worker has a row: an UPDATE that changed nothing counts no row here."""
        return f"SELECT COUNT(*) FROM {self.worker_table} WHERE worker_id = %s"

    def unregister(self, count: int) -> str:
        return f"DELETE FROM {self.worker_table} WHERE worker_id IN {_in(count)}"

    @property
    def workers(self) -> str:
        return f"SELECT {WORKER_COLUMNS} FROM {self.worker_table} ORDER BY worker_id"
