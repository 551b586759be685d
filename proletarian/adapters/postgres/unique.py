"""Unique jobs on PostgreSQL: the key table's statements, and enqueue of jobs with a key.

A key is taken in three steps at most, in the enqueue's transaction:

1. `INSERT ... ON CONFLICT DO NOTHING` into the key table, and the job's insert in the same
   statement when the key row was new. A concurrent enqueue of the same new key waits on the
   uncommitted key row, then finds the conflict: exactly one of them inserts.
2. If the key existed, `SELECT ... FOR UPDATE` its row: this waits for any transaction still
   writing it, and holds it.
3. An `UPDATE` of the key row to the new job, with the job's insert in the same statement, when
   its holder is neither queued nor archived less than its `unique_for` ago.

Step 3 is a statement of its own, after the lock: under READ COMMITTED its snapshot is taken
once the lock is held, so it sees the holder's job, committed by the transaction step 2 waited
for. One `ON CONFLICT DO UPDATE ... WHERE <holder free>` statement would check the holder in a
snapshot taken before that wait, see no job, and take the key from a job just committed: two
jobs. Under REPEATABLE READ or SERIALIZABLE, the lock of a row changed after the snapshot
raises a serialization failure instead (retry the transaction).

The archive is read only by its primary key, so it gets no new index and pruning no new cost.
The steps are one generator (`keyed_enqueue`) that yields statements and receives their
results, run by a sync and an async driver, so the two paths can't drift apart.
"""

from __future__ import annotations

import contextlib
from collections.abc import Generator, Sequence
from typing import Any

import attrs
import psycopg
from psycopg import sql
from psycopg.rows import tuple_row

from proletarian.adapters.common import Row
from proletarian.adapters.postgres.enqueueing import PreparedEnqueue, prepare
from proletarian.adapters.postgres.schema import Names
from proletarian.adapters.postgres.statements import Statements
from proletarian.core.errors import StoreError
from proletarian.core.job import JobId, NewJob
from proletarian.core.unique import first_of_each_key, microseconds

_JOB_VALUES = """
INSERT INTO {job} (job_id, queue, job_type, payload, priority, enqueued_at, process_at, meta)
SELECT %(job_id)s, %(queue)s, %(job_type)s, %(payload)s, %(priority)s, %(enqueued_at)s,
       %(process_at)s, %(meta)s
WHERE EXISTS (SELECT 1 FROM k)
RETURNING queue
"""

_TAKE_NEW = """
WITH k AS (
    INSERT INTO {key} (unique_key, job_id, unique_for_microseconds)
    VALUES (%(key)s, %(job_id)s, %(unique_for)s)
    ON CONFLICT (unique_key) DO NOTHING
    RETURNING job_id
), ins AS ({job_values})
SELECT count(*), count(pg_notify(%(channel)s, queue)) FROM ins
"""

_LOCK = "SELECT job_id FROM {key} WHERE unique_key = %(key)s FOR UPDATE"

_TAKE_OVER = """
WITH k AS (
    UPDATE {key} AS k SET job_id = %(job_id)s, unique_for_microseconds = %(unique_for)s
    WHERE k.unique_key = %(key)s
      AND NOT EXISTS (SELECT 1 FROM {job} AS j WHERE j.job_id = k.job_id)
      AND NOT EXISTS (
          SELECT 1 FROM {archived_job} AS a
          WHERE a.job_id = k.job_id
            AND a.finished_at > %(now)s - k.unique_for_microseconds * interval '1 microsecond')
    RETURNING k.job_id
), ins AS ({job_values})
SELECT count(*), count(pg_notify(%(channel)s, queue)) FROM ins
"""

_DROP_KEY = "DELETE FROM {key} WHERE job_id = %s"

# The keys of the jobs one prune batch deletes: run just before it, with the same parameters.
_PRUNE_KEYS = """
DELETE FROM {key} WHERE job_id IN (
    SELECT job_id FROM {archived_job} WHERE finished_at < %s ORDER BY finished_at LIMIT %s
)
"""

_LATEST = """
SELECT unique_key FROM {key} WHERE unique_key >= %s {upper}
ORDER BY unique_key DESC LIMIT 1
"""

# A concurrent cancel or prune can delete a key row between steps 1 and 2; then start again.
_ATTEMPTS = 5


@attrs.frozen(kw_only=True)
class KeyStatements:
    take_new: bytes
    lock: bytes
    take_over: bytes
    drop_key: bytes
    prune_keys: bytes
    latest: bytes
    latest_bounded: bytes

    @classmethod
    def build(cls, names: Names) -> KeyStatements:
        parts = {
            "job": sql.Identifier(*names.job),
            "archived_job": sql.Identifier(*names.archived_job),
            "key": sql.Identifier(*names.key),
        }
        values = sql.SQL(_JOB_VALUES.strip()).format(**parts)

        def render(template: str, **extra: sql.Composable) -> bytes:
            return sql.SQL(template.strip()).format(**parts, **extra).as_bytes()

        return cls(
            take_new=render(_TAKE_NEW, job_values=values),
            lock=render(_LOCK),
            take_over=render(_TAKE_OVER, job_values=values),
            drop_key=render(_DROP_KEY),
            prune_keys=render(_PRUNE_KEYS),
            latest=render(_LATEST, upper=sql.SQL("")),
            latest_bounded=render(_LATEST, upper=sql.SQL("AND unique_key < %s")),
        )


# What the generator yields: a statement and its parameters; it is sent back the first row of
# the result, or None.
Step = tuple[bytes, dict[str, Any]]


def keyed_enqueue(
    sql: KeyStatements, row: Row, *, key: str, unique_for: int, channel: str
) -> Generator[Step, tuple[Any, ...] | None, str | None]:
    """Take `key` for the job of `row` and insert it, or find the job holding the key. Returns
    None when the job was inserted, else the holder's id. Driver errors propagate."""
    params = {
        "key": key,
        "job_id": row.id,
        "unique_for": unique_for,
        "queue": row.queue,
        "job_type": row.job_type,
        "payload": row.payload,
        "priority": row.priority,
        "enqueued_at": row.enqueued_at,
        "process_at": row.process_at,
        "meta": row.meta,
        "now": row.enqueued_at,
        "channel": channel,
    }
    for _ in range(_ATTEMPTS):
        taken = yield sql.take_new, params
        if taken is not None and taken[0] == 1:
            return None
        holder = yield sql.lock, params
        if holder is None:
            continue  # the row went between the two statements: try a new key again
        taken = yield sql.take_over, params
        if taken is not None and taken[0] == 1:
            return None
        return str(holder[0])
    raise StoreError(f"unique key {key[:40]!r} kept changing hands")  # pragma: no cover


@attrs.frozen(kw_only=True)
class KeyedEnqueue:
    """A batch where some jobs have a unique key: the jobs without one in one statement
    (`keyless`, at `keyless_at` in the batch), then each key's first job (`keyed`), then the
    ids in the batch's order. Run it in one transaction: it opens one on an autocommit
    connection, and never commits or rolls back a transaction of the caller's."""

    sql: KeyStatements
    channel: str
    firsts: tuple[int, ...]
    keyless: PreparedEnqueue | None
    keyless_at: tuple[int, ...]
    keyed: tuple[tuple[int, Row, str, int], ...]

    def _ids(self, ids: dict[int, JobId]) -> list[JobId]:
        return [
            ids[index] if first == index else JobId(ids[first], created=False)
            for index, first in enumerate(self.firsts)
        ]

    def _steps(self, row: Row, key: str, unique_for: int) -> Generator[Step, Any, str | None]:
        return keyed_enqueue(self.sql, row, key=key, unique_for=unique_for, channel=self.channel)

    def run(self, conn: psycopg.Connection[Any]) -> list[JobId]:
        if conn.autocommit and self.keyless is None and len(self.keyed) == 1:
            return self._run_one(conn)
        ids: dict[int, JobId] = {}
        cursor = conn.cursor(row_factory=tuple_row)
        with conn.transaction() if conn.autocommit else contextlib.nullcontext():
            if self.keyless is not None:
                written = self.keyless.run(conn)
                ids.update(zip(self.keyless_at, map(JobId, written), strict=True))
            for index, row, key, unique_for in self.keyed:
                steps = self._steps(row, key, unique_for)
                try:
                    query, params = next(steps)
                    while True:
                        query, params = steps.send(cursor.execute(query, params).fetchone())
                except StopIteration as done:
                    ids[index] = _job_id(row, done.value)
        return self._ids(ids)

    def _run_one(self, conn: psycopg.Connection[Any]) -> list[JobId]:
        """One keyed job on an autocommit connection: the first statement runs on its own,
        committed in its round trip when it takes a new key (the common case: one round trip
        instead of three); it writes nothing otherwise, and the steps that lock and take over
        an existing key then run in a transaction."""
        ((index, row, key, unique_for),) = self.keyed
        cursor = conn.cursor(row_factory=tuple_row)
        steps = self._steps(row, key, unique_for)
        query, params = next(steps)
        try:
            query, params = steps.send(cursor.execute(query, params).fetchone())
        except StopIteration as done:
            return self._ids({index: _job_id(row, done.value)})
        # The end of the steps is caught inside the block: an exception leaving it rolls back.
        with conn.transaction():
            try:
                while True:
                    query, params = steps.send(cursor.execute(query, params).fetchone())
            except StopIteration as done:
                holder = done.value
        return self._ids({index: _job_id(row, holder)})

    async def run_async(self, conn: psycopg.AsyncConnection[Any]) -> list[JobId]:
        ids: dict[int, JobId] = {}
        cursor = conn.cursor(row_factory=tuple_row)
        async with conn.transaction() if conn.autocommit else contextlib.nullcontext():
            if self.keyless is not None:
                written = await self.keyless.run_async(conn)
                ids.update(zip(self.keyless_at, map(JobId, written), strict=True))
            for index, row, key, unique_for in self.keyed:
                steps = self._steps(row, key, unique_for)
                try:
                    query, params = next(steps)
                    while True:
                        await cursor.execute(query, params)
                        query, params = steps.send(await cursor.fetchone())
                except StopIteration as done:
                    ids[index] = _job_id(row, done.value)
        return self._ids(ids)


def _job_id(row: Row, holder: str | None) -> JobId:
    return JobId(str(row.id)) if holder is None else JobId(holder, created=False)


def prepare_keyed(
    sql: KeyStatements,
    statements: Statements,
    jobs: Sequence[NewJob],
    rows: Sequence[Row],
    *,
    channel: str,
) -> KeyedEnqueue:
    """The plan for a batch where some jobs have a unique key (ids made by the client)."""
    firsts = tuple(first_of_each_key(jobs))
    keyless_at = tuple(i for i, job in enumerate(jobs) if job.unique_key is None)
    # In key order: two batches taking the same keys lock them in the same order, so they
    # wait for each other instead of deadlocking.
    keyed = tuple(
        sorted(
            (
                (i, rows[i], job.unique_key, microseconds(job.unique_for))
                for i, job in enumerate(jobs)
                if job.unique_key is not None and firsts[i] == i
            ),
            key=lambda item: item[2],
        )
    )
    keyless = prepare(statements, [rows[i] for i in keyless_at], bigint_ids=False, channel=channel)
    return KeyedEnqueue(
        sql=sql,
        channel=channel,
        firsts=firsts,
        keyless=keyless,
        keyless_at=keyless_at,
        keyed=keyed,
    )
