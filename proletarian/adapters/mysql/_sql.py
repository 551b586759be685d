"""The MySQL store's SQL in one place: the DDL of the packaged tables.sql, every statement (with
validated, backtick-quoted table names), job ids in and out of their columns, and rows as jobs.

Timestamps are DATETIME(6) holding UTC without a zone; they are converted at this boundary.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib import resources
from typing import Any, NamedTuple

from proletarian.adapters.common import decode_meta
from proletarian.core import names
from proletarian.core.errors import ConfigurationError, SerializationError
from proletarian.core.job import Job, JobError, JobStatus, Priority
from proletarian.ports.serializer import Serializer

SCHEMA_RESOURCE = "schema/mysql.sql"
SCHEMA_RESOURCE_DATABASE_IDS = "schema/mysql_database_ids.sql"
DEFAULT_JOB_TABLE = "proletarian_job"
DEFAULT_ARCHIVED_JOB_TABLE = "proletarian_archived_job"


class JobRow(NamedTuple):
    """A job row as the store reads it back, by name: the columns of the job table, then the
    archive's own (None in a row of the job table). Every select list and every read of a
    column comes from this one tuple of names, so a column can't be read by the wrong number."""

    job_id: Any  # BINARY(16) bytes or a BIGINT, as Keys says
    queue: str
    job_type: str
    payload: str
    priority: int
    attempts: int
    abandons: int
    enqueued_at: datetime
    process_at: datetime
    meta: str
    error_type: str | None
    error_message: str | None
    error_traceback: str | None
    status: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None


# The archive's own columns; the job table has the others.
ARCHIVE_ONLY = ("status", "started_at", "finished_at")
# The select lists of a job row and of an archived job row.
COLUMNS = ", ".join(name for name in JobRow._fields if name not in ARCHIVE_ONLY)
ARCHIVE_COLUMNS = ", ".join(JobRow._fields)


class NewJobRow(NamedTuple):
    """The columns an enqueue writes (with job_id first unless the database makes it)."""

    queue: str
    job_type: str
    payload: str
    priority: int
    enqueued_at: datetime
    process_at: datetime
    meta: str


NEW_JOB_COLUMNS = ", ".join(NewJobRow._fields)


def copied(columns: Sequence[str], **computed: str) -> str:
    """A select list that copies `columns` from a row of the other table, except those in
    `computed`, whose SQL expressions (a parameter, or arithmetic on the column) take their
    place in the same order."""
    return ", ".join(computed.get(name, name) for name in columns)


# Added after the first release: install_schema adds it to tables made before.
UPGRADE_COLUMN = ("abandons", "INT NOT NULL DEFAULT 0")
CLAIM_ORDER = "ORDER BY priority, process_at, job_id"
PRIORITIES = ", ".join(str(priority.value) for priority in sorted(Priority, key=lambda p: p.value))

SAVEPOINT = "SAVEPOINT proletarian_handler"
RELEASE_SAVEPOINT = "RELEASE SAVEPOINT proletarian_handler"
ROLLBACK_TO_SAVEPOINT = "ROLLBACK TO SAVEPOINT proletarian_handler"
COMMIT = "COMMIT"
ROLLBACK = "ROLLBACK"
KILL = "KILL %s"

# In tables.sql only the table names are backtick-quoted, so renaming the tables is a
# substitution of quoted names (index names are per table in MySQL and need no change).
# The worker registry's table is the job table's name with "_worker" after it, the unique
# keys' table with "_key".
_QUOTED_TABLE = re.compile(r"`(proletarian_job(?:_worker|_key)?|proletarian_archived_job)`")
KEY_SUFFIX = "_key"
MAX_IDENTIFIER = 64
_STATEMENT_END = re.compile(r";[ \t]*(?:\n|$)")


def identifier(value: str, *, what: str) -> str:
    """A validated, optionally database-qualified table name, backtick-quoted. PyMySQL has no
    identifier quoting, and none is needed: validated names hold no backtick."""
    return ".".join(f"`{part}`" for part in names.table_name(value, what=what))


def schema_text(*, database_ids: bool) -> str:
    """The packaged copy of database/mysql/tables.sql (or tables_database_ids.sql)."""
    resource = SCHEMA_RESOURCE_DATABASE_IDS if database_ids else SCHEMA_RESOURCE
    return resources.files("proletarian").joinpath(resource).read_text(encoding="utf-8")


def key_table(job_table: str) -> str:
    """The unique keys' table of a (quoted) job table: its name with `_key`."""
    return job_table[:-1] + KEY_SUFFIX + "`"


def renamed_schema(text: str, *, job_table: str, archived_job_table: str) -> str:
    tables = {
        DEFAULT_JOB_TABLE: job_table,
        DEFAULT_ARCHIVED_JOB_TABLE: archived_job_table,
        f"{DEFAULT_JOB_TABLE}_worker": worker_table(job_table),
        DEFAULT_JOB_TABLE + KEY_SUFFIX: key_table(job_table),
    }
    return _QUOTED_TABLE.sub(lambda match: tables[match[1]], text)


def worker_table(job_table: str) -> str:
    """The worker registry's table, quoted: the job table's, `_worker` after its name."""
    return f"{job_table[:-1]}_worker`"


def ddl_statements(text: str) -> list[str]:
    """The statements of a schema text, comment-only lines dropped (no statement in it has a
    semicolon before its end)."""
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
    return [part.strip() for part in _STATEMENT_END.split(code) if part.strip()]


class Statements:
    """The store's statements for its two tables."""

    def __init__(self, job_table: str, archived_job_table: str) -> None:
        job = self.job_table = identifier(job_table, what="job_table")
        archive = self.archived_job_table = identifier(
            archived_job_table, what="archived_job_table"
        )
        # SKIP LOCKED so one worker's running job never blocks another's claim. InnoDB locks
        # every row a locking read reads, so the read must stop at the first free due row:
        # the claim_order index yields rows in claim order within one queue, and it is forced
        # because the optimizer may prefer a table scan and a sort when one queue holds most
        # rows, which would lock every due job. Listing the priorities makes one index range
        # of due jobs per priority; without it the scan walks past every scheduled job of a
        # higher priority (50,000 scheduled jobs made an empty poll 35 ms instead of 0.6 ms).
        self.claim = (
            f"SELECT {COLUMNS} FROM {job} FORCE INDEX (claim_order) "
            f"WHERE queue = %s AND priority IN ({PRIORITIES}) AND process_at <= %s "
            f"{CLAIM_ORDER} LIMIT 1 FOR UPDATE SKIP LOCKED"
        )
        self.candidate = f"({self.claim})"
        self.claim_candidate = (
            f"SELECT {COLUMNS} FROM {job} WHERE job_id = %s AND process_at <= %s "
            "FOR UPDATE SKIP LOCKED"
        )
        # Parameters: the columns an outcome sets, in JobRow's order (error type, message and
        # traceback, status, started_at, finished_at), then the job id.
        outcome = ("error_type", "error_message", "error_traceback", *ARCHIVE_ONLY)
        archived = copied(JobRow._fields, attempts="attempts + 1", **dict.fromkeys(outcome, "%s"))
        self.archive = (
            f"INSERT INTO {archive} ({ARCHIVE_COLUMNS}) "
            f"SELECT {archived} FROM {job} WHERE job_id = %s"
        )
        self.delete = f"DELETE FROM {job} WHERE job_id = %s"
        self.retry = (
            f"UPDATE {job} SET attempts = attempts + 1, process_at = %s, error_type = %s, "
            "error_message = %s, error_traceback = %s WHERE job_id = %s"
        )
        # A careful claim (see MySQLStore.claim) counts the abandonment it fears and hides the
        # job until `process_at`, commits, then locks it again and undoes both in the
        # transaction that runs it: an outcome commits the undoing, a crash leaves the count.
        self.count_abandon = (
            f"UPDATE {job} SET abandons = abandons + 1, process_at = %s WHERE job_id = %s"
        )
        # Only while the job has the attempts it had: after a claim of another worker took
        # it and ended its attempt, it is no longer this claim's to end.
        self.lock_again = f"SELECT job_id FROM {job} WHERE job_id = %s AND attempts = %s FOR UPDATE"
        self.uncount_abandon = (
            f"UPDATE {job} SET abandons = abandons - 1, process_at = %s "
            "WHERE job_id = %s AND process_at = %s AND attempts = %s"
        )
        self.get_unlocked = f"SELECT {COLUMNS} FROM {job} WHERE job_id = %s FOR UPDATE SKIP LOCKED"
        self.get_queued = f"SELECT {COLUMNS} FROM {job} WHERE job_id = %s"
        self.get_archived = f"SELECT {ARCHIVE_COLUMNS} FROM {archive} WHERE job_id = %s"
        self.lock_unlocked = f"SELECT job_id FROM {job} WHERE job_id = %s FOR UPDATE SKIP LOCKED"
        self.count_queued = (
            "SELECT queue, COUNT(CASE WHEN process_at <= %s THEN 1 END), "
            f"COUNT(CASE WHEN process_at > %s THEN 1 END) FROM {job} GROUP BY queue"
        )
        self.count_ready = (
            f"SELECT queue, COUNT(*), MIN(process_at) FROM {job} WHERE process_at <= %s "
            "GROUP BY queue FOR UPDATE SKIP LOCKED"
        )
        self.count_archived = (
            f"SELECT queue, status, COUNT(*) FROM {archive} GROUP BY queue, status"
        )
        self.lock_failed = (
            f"SELECT job_id FROM {archive} WHERE job_id = %s AND status = 'failed' FOR UPDATE"
        )
        # Parameters: the new process_at, the job id.
        requeued = copied(("job_id", *NewJobRow._fields), process_at="%s")
        self.requeue = (
            f"INSERT INTO {job} (job_id, {NEW_JOB_COLUMNS}) "
            f"SELECT {requeued} FROM {archive} WHERE job_id = %s"
        )
        self.unarchive = f"DELETE FROM {archive} WHERE job_id = %s"
        key = self.key_table = key_table(job)
        if len(key.rsplit(".", 1)[-1].strip("`")) > MAX_IDENTIFIER:
            raise ConfigurationError(
                f"job_table {job_table!r} is too long: the unique keys' table is named after it "
                f"with {KEY_SUFFIX!r}, and must fit in {MAX_IDENTIFIER} characters"
            )
        # Unique keys (see MySQLStore.enqueue_many): insert the key if new, else leave it, then
        # lock its row (waiting for a transaction still writing it) and read its holder.
        self.add_key = (
            f"INSERT INTO {key} (unique_key, job_id, unique_for_microseconds) "
            "VALUES (%s, %s, %s) ON DUPLICATE KEY UPDATE unique_key = unique_key"
        )
        self.lock_key = (
            f"SELECT job_id, unique_for_microseconds FROM {key} WHERE unique_key = %s FOR UPDATE"
        )
        # Parameters: key, holder, holder, holder, now, holder's unique_for. A consistent
        # (unlocking) read, so a holder running under a claim's row lock is not waited for. 1
        # when the holder is free: the snapshot shows the key row as locked (else the holder
        # was written after the snapshot: a transaction's first read fixes it under REPEATABLE
        # READ), and shows the holder neither queued nor archived within its unique_for. The
        # archive is read by its primary key only.
        self.key_free = (
            f"SELECT (SELECT job_id FROM {key} WHERE unique_key = %s) <=> %s "
            f"AND NOT EXISTS (SELECT 1 FROM {job} WHERE job_id = %s) "
            f"AND NOT EXISTS (SELECT 1 FROM {archive} WHERE job_id = %s "
            "AND finished_at > %s - INTERVAL %s MICROSECOND)"
        )
        self.move_key = (
            f"UPDATE {key} SET job_id = %s, unique_for_microseconds = %s WHERE unique_key = %s"
        )
        self.drop_key = f"DELETE FROM {key} WHERE job_id = %s"
        # The keys of the jobs one prune batch deletes, just before it; a key left by a tie in
        # finished_at is harmless (its job is gone, so it is free) and goes with the next batch.
        self.prune_keys = (
            f"DELETE k FROM {key} AS k JOIN (SELECT job_id FROM {archive} "
            "WHERE finished_at < %s ORDER BY finished_at LIMIT %s) AS p ON p.job_id = k.job_id"
        )
        self.prune = f"DELETE FROM {archive} WHERE finished_at < %s ORDER BY finished_at LIMIT %s"
        self.latest_key = (
            f"SELECT unique_key FROM {key} WHERE unique_key >= %s ORDER BY unique_key DESC LIMIT 1"
        )
        self.latest_key_bounded = (
            f"SELECT unique_key FROM {key} WHERE unique_key >= %s AND unique_key < %s "
            "ORDER BY unique_key DESC LIMIT 1"
        )

    def has_column(self, table: str) -> tuple[str, tuple[str, ...]]:
        """A query counting UPGRADE_COLUMN in `table` (one of the store's), and its parameters."""
        parts = [part.strip("`") for part in table.split(".")]
        schema = "%s" if len(parts) == 2 else "DATABASE()"
        return (
            "SELECT COUNT(*) FROM information_schema.columns "
            f"WHERE table_schema = {schema} AND table_name = %s AND column_name = %s",
            (*parts, UPGRADE_COLUMN[0]),
        )

    def add_column(self, table: str) -> str:
        name, definition = UPGRADE_COLUMN
        return f"ALTER TABLE {table} ADD COLUMN {name} {definition} AFTER attempts"

    def insert(self, rows: int, *, with_ids: bool, returning: bool) -> str:
        """A multi-row INSERT of new jobs; RETURNING job_id (MariaDB only) for generated ids."""
        columns = f"job_id, {NEW_JOB_COLUMNS}" if with_ids else NEW_JOB_COLUMNS
        group = "(" + ", ".join(["%s"] * len(columns.split(", "))) + ")"
        sql = f"INSERT INTO {self.job_table} ({columns}) VALUES " + ", ".join([group] * rows)
        return f"{sql} RETURNING job_id" if returning else sql

    def candidates(self, queues: int) -> str:
        """The best unlocked due job of each of `queues` queues, locked. One locking read over
        several queues would need a sort, and InnoDB locks every row it reads before sorting."""
        return " UNION ALL ".join([self.candidate] * queues)


class UuidKeys:
    """Job ids chosen by the application: UUID text outside, 16 bytes in BINARY(16) columns."""

    generated = False

    def param(self, job_id: str) -> bytes | None:
        """The column value for an id, or None if it is not a UUID (so no job has it)."""
        try:
            return uuid.UUID(job_id).bytes
        except (ValueError, TypeError, AttributeError):
            return None

    def text(self, value: Any) -> str:
        return str(uuid.UUID(bytes=bytes(value)))


class SerialKeys:
    """Job ids generated by AUTO_INCREMENT: decimal text outside, BIGINT inside."""

    generated = True

    def param(self, job_id: str) -> int | None:
        if isinstance(job_id, str) and job_id.isascii() and job_id.isdigit():
            return int(job_id)
        return None

    def text(self, value: Any) -> str:
        return str(int(value))


Keys = UuidKeys | SerialKeys


def to_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC)


def to_job(
    row: JobRow, *, keys: Keys, serializer: Serializer, status: JobStatus | None = None
) -> tuple[Job, JobError | None]:
    """A job row as a Job (an archived row's status is its own, a queued row's is `status`),
    and the error decoding its payload, if any (the payload is then None)."""
    decode_error: JobError | None = None
    payload: Any = None
    try:
        payload = serializer.loads(row.payload)
    except SerializationError as exc:
        decode_error = JobError(type="SerializationError", message=str(exc))
    error = None
    if row.error_type is not None:
        error = JobError(
            type=row.error_type,
            message=row.error_message or "",
            traceback=row.error_traceback or "",
        )
    job = Job(
        id=keys.text(row.job_id),
        queue=row.queue,
        job_type=row.job_type,
        payload=payload,
        priority=Priority(row.priority),
        attempts=row.attempts,
        abandons=row.abandons,
        enqueued_at=to_utc(row.enqueued_at),
        process_at=to_utc(row.process_at),
        status=JobStatus(row.status) if row.status is not None else status or JobStatus.READY,
        meta=decode_meta(row.meta),
        error=error,
        started_at=_maybe_utc(row.started_at),
        finished_at=_maybe_utc(row.finished_at),
    )
    return job, decode_error


def _maybe_utc(value: datetime | None) -> datetime | None:
    return None if value is None else to_utc(value)
