"""Enqueue as one prepared statement, built once and run by either a sync or an async connection.

Everything that can fail before the database is reached (validation, serialization, ids) and
everything about the SQL (which statement, which parameters, how to read ids back) happens in
`prepare`. The sync and async paths only execute the result, so they can't drift apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs
import psycopg
from psycopg.rows import tuple_row

from proletarian.adapters.common import Row
from proletarian.adapters.postgres.statements import Statements
from proletarian.core.errors import StoreError


@attrs.frozen(kw_only=True)
class PreparedEnqueue:
    """One statement inserting a batch of jobs and notifying their queues in the same
    transaction. Run it on a connection inside the caller's transaction (the outbox) or on an
    autocommit one; it never commits or rolls back itself."""

    query: bytes
    params: tuple[Any, ...]
    count: int
    # The single-job statement returns one id; the batch statement an array of ids, or (with
    # `known` ids, made by the client) the number of rows written.
    batch: bool
    known: tuple[str, ...] = ()

    def ids(self, result: tuple[Any, ...] | None) -> list[str]:
        """The job ids from the statement's one result row, in the order of the jobs."""
        if result is None:
            raise StoreError("PostgreSQL enqueue returned no row")
        if self.batch and self.known:
            if result[0] != self.count:
                raise StoreError(f"PostgreSQL enqueue wrote {result[0]} of {self.count} jobs")
            return list(self.known)
        ids = [str(job_id) for job_id in result[0] or ()] if self.batch else [str(result[0])]
        if len(ids) != self.count:
            raise StoreError(f"PostgreSQL enqueue returned {len(ids)} ids for {self.count} jobs")
        return ids

    def run(self, conn: psycopg.Connection[Any]) -> list[str]:
        """Execute on `conn`. Driver errors propagate untranslated (the caller translates)."""
        cursor = conn.cursor(row_factory=tuple_row)
        return self.ids(cursor.execute(self.query, self.params).fetchone())

    async def run_async(self, conn: psycopg.AsyncConnection[Any]) -> list[str]:
        """Execute on an asyncio connection; the same statement and parameters as `run`."""
        cursor = conn.cursor(row_factory=tuple_row)
        await cursor.execute(self.query, self.params)
        return self.ids(await cursor.fetchone())


def prepare(
    sql: Statements, rows: Sequence[Row], *, bigint_ids: bool, channel: str
) -> PreparedEnqueue | None:
    """The statement for `rows` (already encoded), or None when there are none. With
    `bigint_ids` the database assigns the ids and the statements leave job_id out."""
    if not rows:
        return None
    if len(rows) == 1:
        (row,) = rows
        ids: tuple[Any, ...] = () if bigint_ids else (row.id,)
        params: tuple[Any, ...] = (
            *ids,
            row.queue,
            row.job_type,
            row.payload,
            row.priority,
            row.enqueued_at,
            row.process_at,
            row.meta,
            channel,
        )
        return PreparedEnqueue(query=sql.enqueue, params=params, count=1, batch=False)
    id_column: list[list[Any]] = [] if bigint_ids else [[row.id for row in rows]]
    params = (
        rows[0].enqueued_at,
        *id_column,
        [row.queue for row in rows],
        [row.job_type for row in rows],
        [row.payload for row in rows],
        [row.priority for row in rows],
        [row.process_at for row in rows],
        [row.meta for row in rows],
        channel,
    )
    known = () if bigint_ids else tuple(str(row.id) for row in rows)
    return PreparedEnqueue(
        query=sql.enqueue_many, params=params, count=len(rows), batch=True, known=known
    )
