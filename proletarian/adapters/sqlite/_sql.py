"""The SQLite store's SQL in one place: the DDL of the packaged tables.sql, every statement (with
validated, double-quoted table names), and the mapping between rows and jobs.

Timestamps are stored as UTC text of fixed width, 'YYYY-MM-DD HH:MM:SS.ffffff': text comparison
orders them correctly, and SQLite's date functions read them.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib import resources
from typing import Any, NamedTuple

import attrs

from proletarian.adapters.common import decode_meta, queued_status, utc_naive
from proletarian.core import names
from proletarian.core.errors import ConfigurationError, SerializationError
from proletarian.core.job import Job, JobError, JobStatus, Priority
from proletarian.ports.serializer import Serializer

SCHEMA_RESOURCE = "schema/sqlite.sql"
DEFAULT_JOB_TABLE = "job"
DEFAULT_ARCHIVED_JOB_TABLE = "archived_job"


class JobRow(NamedTuple):
    """A job row as the store reads it back, by name. Every select list and every read of a
    column comes from this one tuple of names, so a column can't be read by the wrong number.
    A row of the job table has None for the archive's own columns; an archived row has None
    for `locked_until`. Times are text (see `to_text`)."""

    job_id: str
    queue: str
    job_type: str
    payload: str
    priority: int
    attempts: int
    abandons: int
    enqueued_at: str
    process_at: str
    meta: str
    error_type: str | None
    error_message: str | None
    error_traceback: str | None
    locked_until: str | None = None
    status: str | None = None
    started_at: str | None = None
    finished_at: str | None = None


# The columns only the job table has, and those only the archive has.
QUEUED_ONLY = ("locked_until",)
ARCHIVE_ONLY = ("status", "started_at", "finished_at")
# Every column a queued job and an archived job share.
COLUMNS = ", ".join(name for name in JobRow._fields if name not in (*QUEUED_ONLY, *ARCHIVE_ONLY))


class NewJobRow(NamedTuple):
    """The columns an enqueue writes."""

    job_id: str
    queue: str
    job_type: str
    payload: str
    priority: int
    enqueued_at: str
    process_at: str
    meta: str


def copied(columns: Sequence[str], **computed: str) -> str:
    """A select list of `columns`, except those in `computed`, whose SQL expressions (a
    parameter, NULL, or arithmetic on the column) take their place in the same order."""
    return ", ".join(computed.get(name, name) for name in columns)


# Added after the first release: install_schema adds it to tables made before.
UPGRADE_COLUMN = ("abandons", "INTEGER NOT NULL DEFAULT 0")

# The priorities, as the rows of a VALUES list: the pick enters the claim index once per queue
# and priority, so that no walk passes over the jobs of another priority.
PRIORITIES = ", ".join(f"({priority.value})" for priority in Priority)

# In tables.sql only table and index names are double-quoted, and each index name starts with
# its table's name, so renaming the tables is a substitution of quoted names.
_QUOTED_NAME = re.compile(r'"(archived_job|job)(_\w+)?"')


def micros_of(column: str) -> str:
    """SQL for a time column (text, see `to_text`) as integer microseconds since the epoch:
    exact, where julianday() arithmetic is not. The whole seconds are read without the
    fraction: strftime('%s') rounds a time with one (to milliseconds, so .9996 s counts as the
    next second)."""
    return (
        f"(CAST(strftime('%s', substr({column}, 1, 19)) AS INTEGER) * 1000000 "
        f"+ CAST(substr({column}, 21, 6) AS INTEGER))"
    )


def micros(value: datetime) -> int:
    """An aware datetime as integer microseconds since the epoch, as `micros_of` reads one."""
    delta = utc_naive(value) - datetime(1970, 1, 1)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def to_text(value: datetime) -> str:
    return utc_naive(value).isoformat(sep=" ", timespec="microseconds")


def from_text(value: str) -> datetime:
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def identifier(value: str, *, what: str) -> str:
    """A validated table name, double-quoted. SQLite has no schemas, so no qualified names."""
    parts = names.table_name(value, what=what)
    if len(parts) != 1:
        raise ConfigurationError(
            f"{what} {value!r} is schema-qualified; SQLiteStore keeps its tables in its own "
            "database file, so give a plain name"
        )
    return f'"{parts[0]}"'


def schema_text() -> str:
    """The packaged copy of database/sqlite/tables.sql."""
    return resources.files("proletarian").joinpath(SCHEMA_RESOURCE).read_text(encoding="utf-8")


def renamed_schema(job_table: str, archived_job_table: str) -> str:
    """tables.sql, comments kept, with the tables (and their indexes) renamed."""
    tables = {DEFAULT_JOB_TABLE: job_table, DEFAULT_ARCHIVED_JOB_TABLE: archived_job_table}

    def rename(match: re.Match[str]) -> str:
        return f'"{tables[match[1]]}{match[2] or ""}"'

    return _QUOTED_NAME.sub(rename, schema_text())


def ddl_statements(job_table: str, archived_job_table: str) -> tuple[str, ...]:
    """The statements of tables.sql, with the tables (and their indexes) renamed."""
    statements: list[str] = []
    pending = ""
    for line in renamed_schema(job_table, archived_job_table).splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            statements.append(pending.strip())
            pending = ""
    return tuple(statements)


@attrs.frozen
class Statements:
    """Every statement the store runs, for one pair of tables."""

    job_table: str
    archived_job_table: str
    ddl: tuple[str, ...]

    @property
    def key_table(self) -> str:
        """The unique keys' table: the job table's name with `_key`, as in tables.sql."""
        return f'"{self.job_table[1:-1]}_key"'

    @classmethod
    def for_tables(cls, job_table: str, archived_job_table: str) -> Statements:
        job = identifier(job_table, what="job_table")
        archived = identifier(archived_job_table, what="archived_job_table")
        if job.lower() == archived.lower():
            raise ConfigurationError(
                f"job_table and archived_job_table must differ, both are {job_table!r}"
            )
        return cls(job, archived, ddl_statements(job[1:-1], archived[1:-1]))

    @property
    def tables_current(self) -> str:
        """Parameters: the two table names. 3 when both tables exist with every column, and
        the key table exists."""
        name = UPGRADE_COLUMN[0]
        return (
            f"SELECT (SELECT count(*) FROM pragma_table_info(?) WHERE name = '{name}') "
            f"+ (SELECT count(*) FROM pragma_table_info(?) WHERE name = '{name}') "
            "+ (SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = "
            f"'{self.key_table[1:-1]}')"
        )

    @property
    def take_key(self) -> str:
        """Parameters: the key, the job id, its unique_for in microseconds, now in
        microseconds (`micros`). Changes one row when the job takes the key: the key is new,
        or its holder is neither queued nor archived less than its unique_for ago. The
        archive is looked up by its primary key only."""
        archived_recently = (
            f"SELECT 1 FROM {self.archived_job_table} AS a WHERE a.job_id = k.job_id "
            f"AND ?4 - {micros_of('a.finished_at')} < k.unique_for_microseconds"
        )
        return (
            f"INSERT INTO {self.key_table} AS k (unique_key, job_id, unique_for_microseconds) "
            "VALUES (?1, ?2, ?3) ON CONFLICT (unique_key) DO UPDATE SET "
            "job_id = excluded.job_id, unique_for_microseconds = excluded.unique_for_microseconds "
            f"WHERE NOT EXISTS (SELECT 1 FROM {self.job_table} AS j WHERE j.job_id = k.job_id) "
            f"AND NOT EXISTS ({archived_recently})"
        )

    @property
    def key_holder(self) -> str:
        return f"SELECT job_id FROM {self.key_table} WHERE unique_key = ?"

    @property
    def drop_key(self) -> str:
        """Parameter: a job id. Removes the key row naming a job that is gone for good."""
        return f"DELETE FROM {self.key_table} WHERE job_id = ?"

    @property
    def prune_keys(self) -> str:
        """Parameters as `prune`: the keys of the jobs `prune` deletes, run just before it."""
        return (
            f"DELETE FROM {self.key_table} WHERE job_id IN (SELECT job_id FROM "
            f"{self.archived_job_table} WHERE finished_at < ? ORDER BY finished_at LIMIT ?)"
        )

    def latest_key(self, bounded: bool) -> str:
        """Parameters: the prefix, then (when `bounded`) the least string above its range."""
        upper = " AND unique_key < ?" if bounded else ""
        return (
            f"SELECT unique_key FROM {self.key_table} WHERE unique_key >= ?{upper} "
            "ORDER BY unique_key DESC LIMIT 1"
        )

    @property
    def insert(self) -> str:
        """Parameters: a NewJobRow."""
        values = ", ".join("?" for _ in NewJobRow._fields)
        return f"INSERT INTO {self.job_table} ({', '.join(NewJobRow._fields)}) VALUES ({values})"

    def pick(self, queue_count: int) -> str:
        """Parameters: the queues, now, now. The JobRow of the most urgent due job that no
        lease holds. A job whose lease expired is due again, and its `locked_until` is then
        not NULL (`take`, `retry` and `abandon` set and clear it with `locked_by`): its last
        attempt ended without an outcome.

        Each queue's index is entered once per priority for its first free due job, and the
        best of those few is taken. One walk in (priority, process_at) order would pass over
        every job scheduled for later at a more urgent priority (100,000 of them made a claim
        take 19 ms instead of 0.4), and over several queues it would sort all their due jobs.
        """
        queues = ", ".join(["(?)"] * queue_count)
        picked = ", ".join(f"j.{name}" for name in JobRow._fields if name not in ARCHIVE_ONLY)
        return (
            f"SELECT {picked} "
            f"FROM (SELECT column1 AS queue FROM (VALUES {queues})) AS wanted "
            f"CROSS JOIN (SELECT column1 AS priority FROM (VALUES {PRIORITIES})) AS p "
            f"JOIN {self.job_table} AS j ON j.job_id = ("
            f"SELECT job_id FROM {self.job_table} "
            "WHERE queue = wanted.queue AND priority = p.priority AND process_at <= ? "
            "AND (locked_until IS NULL OR locked_until <= ?) "
            "ORDER BY process_at, job_id LIMIT 1) "
            "ORDER BY j.priority, j.process_at, j.job_id LIMIT 1"
        )

    @property
    def take(self) -> str:
        """Parameters: token, locked_until, abandoned (0 or 1), job id. Leases the picked job,
        counting an abandonment when an expired lease held it."""
        return (
            f"UPDATE {self.job_table} "
            "SET locked_by = ?, locked_until = ?, abandons = abandons + ? WHERE job_id = ?"
        )

    def add_column(self, table: str) -> str:
        """The ALTER TABLE that adds UPGRADE_COLUMN to `table` (one of the store's)."""
        name, definition = UPGRADE_COLUMN
        return f"ALTER TABLE {table} ADD COLUMN {name} {definition}"

    @property
    def has_column(self) -> str:
        """Parameter: a table name. 1 if it has UPGRADE_COLUMN."""
        return f"SELECT count(*) FROM pragma_table_info(?) WHERE name = '{UPGRADE_COLUMN[0]}'"

    @property
    def holds(self) -> str:
        return f"SELECT 1 FROM {self.job_table} WHERE job_id = ? AND locked_by = ?"

    @property
    def renew(self) -> str:
        return f"UPDATE {self.job_table} SET locked_until = ? WHERE job_id = ? AND locked_by = ?"

    @property
    def archive(self) -> str:
        """Parameters: the columns an outcome sets, in JobRow's order (error type, message,
        traceback, status, started_at, finished_at), then the job id and the token. Copies the
        row only while the token still holds it."""
        archived = tuple(name for name in JobRow._fields if name not in QUEUED_ONLY)
        outcome = ("error_type", "error_message", "error_traceback", *ARCHIVE_ONLY)
        copy = copied(archived, attempts="attempts + 1", **dict.fromkeys(outcome, "?"))
        return (
            f"INSERT INTO {self.archived_job_table} ({', '.join(archived)}) "
            f"SELECT {copy} FROM {self.job_table} WHERE job_id = ? AND locked_by = ?"
        )

    @property
    def delete(self) -> str:
        return f"DELETE FROM {self.job_table} WHERE job_id = ?"

    @property
    def retry(self) -> str:
        return (
            f"UPDATE {self.job_table} SET locked_by = NULL, locked_until = NULL, process_at = ?, "
            "attempts = attempts + 1, error_type = ?, error_message = ?, error_traceback = ? "
            "WHERE job_id = ? AND locked_by = ?"
        )

    @property
    def abandon(self) -> str:
        return (
            f"UPDATE {self.job_table} SET locked_by = NULL, locked_until = NULL "
            "WHERE job_id = ? AND locked_by = ?"
        )

    @property
    def get(self) -> str:
        """Parameters: job id twice. A JobRow, queued or archived. One statement, so a job
        being archived is seen once."""
        queued = copied(JobRow._fields, **dict.fromkeys(ARCHIVE_ONLY, "NULL"))
        archived = copied(JobRow._fields, **dict.fromkeys(QUEUED_ONLY, "NULL"))
        return (
            f"SELECT {queued} FROM {self.job_table} WHERE job_id = ? "
            f"UNION ALL SELECT {archived} FROM {self.archived_job_table} WHERE job_id = ?"
        )

    @property
    def queued_counts(self) -> str:
        """Parameter ?1 is now. Per queue: running, scheduled, ready, oldest ready due time."""
        free = "(locked_until IS NULL OR locked_until <= ?1)"
        return (
            "SELECT queue, count(CASE WHEN locked_until > ?1 THEN 1 END), "
            f"count(CASE WHEN {free} AND process_at > ?1 THEN 1 END), "
            f"count(CASE WHEN {free} AND process_at <= ?1 THEN 1 END), "
            f"min(CASE WHEN {free} AND process_at <= ?1 THEN process_at END) "
            f"FROM {self.job_table} GROUP BY queue"
        )

    @property
    def archived_counts(self) -> str:
        return f"SELECT queue, status, count(*) FROM {self.archived_job_table} GROUP BY 1, 2"

    @property
    def requeue_failed(self) -> str:
        """Parameters: now, job id. The job comes back due now, with no attempts or error."""
        return (
            f"INSERT INTO {self.job_table} ({', '.join(NewJobRow._fields)}) "
            f"SELECT {copied(NewJobRow._fields, process_at='?')} "
            f"FROM {self.archived_job_table} WHERE job_id = ? AND status = 'failed'"
        )

    @property
    def delete_archived(self) -> str:
        return f"DELETE FROM {self.archived_job_table} WHERE job_id = ?"

    @property
    def cancel(self) -> str:
        return (
            f"DELETE FROM {self.job_table} "
            "WHERE job_id = ? AND (locked_until IS NULL OR locked_until <= ?)"
        )

    @property
    def prune(self) -> str:
        # LIMIT -1 is no limit.
        return (
            f"DELETE FROM {self.archived_job_table} WHERE rowid IN (SELECT rowid FROM "
            f"{self.archived_job_table} WHERE finished_at < ? ORDER BY finished_at LIMIT ?)"
        )


def decode_payload(serializer: Serializer, text: str) -> tuple[Any, JobError | None]:
    """The payload, or None and the decode error for a payload the serializer refuses."""
    try:
        return serializer.loads(text), None
    except SerializationError as exc:
        return None, JobError(type="SerializationError", message=str(exc))


def job_from_row(row: JobRow, *, payload: Any, now: datetime) -> Job:
    """A job row as a Job with the decoded `payload`. A queued job is RUNNING while its lease
    holds; an archived job has its own status."""
    due = from_text(row.process_at)
    if row.status is None:
        status = queued_status(due, _maybe(row.locked_until), now)
    else:
        status = JobStatus(row.status)
    error = None
    if row.error_type is not None:
        error = JobError(
            type=row.error_type,
            message=row.error_message or "",
            traceback=row.error_traceback or "",
        )
    return Job(
        id=row.job_id,
        queue=row.queue,
        job_type=row.job_type,
        payload=payload,
        priority=Priority(row.priority),
        attempts=row.attempts,
        abandons=row.abandons,
        enqueued_at=from_text(row.enqueued_at),
        process_at=due,
        status=status,
        meta=decode_meta(row.meta),
        error=error,
        started_at=_maybe(row.started_at),
        finished_at=_maybe(row.finished_at),
    )


def _maybe(value: str | None) -> datetime | None:
    return None if value is None else from_text(value)
