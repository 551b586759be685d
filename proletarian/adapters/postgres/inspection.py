"""PostgresStore's operators' reads, bulk actions and worker registry, kept apart from the claim
path. Every statement runs in autocommit on a pool connection: a listing is one snapshot per
table, and each bulk batch commits on its own."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from psycopg_pool import ConnectionPool

from proletarian.adapters.postgres import rows
from proletarian.adapters.postgres.connections import autocommitted
from proletarian.adapters.postgres.inspect_statements import InspectStatements
from proletarian.adapters.postgres.network import Watchdog
from proletarian.adapters.registry_rows import names_text, worker_from_values, worker_values
from proletarian.core import inspection
from proletarian.core.inspection import BULK_BATCH, JobFilter, JobPage, MinuteCounts, WorkerInfo
from proletarian.ports.serializer import Serializer


class Inspector:
    """What PostgresStore delegates its operators' methods to."""

    def __init__(
        self,
        pool: ConnectionPool[Any],
        sql: InspectStatements,
        *,
        serializer: Serializer,
        watchdog: Watchdog,
        channel: str,
    ) -> None:
        self._pool = pool
        self._sql = sql
        self._serializer = serializer
        self._watchdog = watchdog
        self._channel = channel

    def list_jobs(self, wanted: JobFilter, *, limit: int, before: Any, now: datetime) -> JobPage:
        """Each wanted table gives its newest `limit + 1` candidates; ids are compared as
        the column holds them (uuid or bigint), as the cursor `before` is given."""
        params: dict[str, Any] = {
            "now": now,
            "limit": limit + 1,
            "queue": wanted.queue,
            "job_type": wanted.job_type,
            "status": None if wanted.status is None else wanted.status.value,
            "before": before,
        }
        paged = before is not None
        statements = []
        if wanted.wants_queued:
            statements.append(self._sql.queued_page(wanted, paged=paged))
        if wanted.wants_archived:
            statements.append(self._sql.archived_page(wanted, paged=paged))
        found: list[rows.FoundRow] = []
        with autocommitted(self._pool, "list_jobs", self._watchdog) as conn:
            cursor = conn.cursor(row_factory=rows.found_rows)
            for statement in statements:
                found += cursor.execute(statement, params).fetchall()
        keys = {str(row.job.job_id): row.job.job_id for row in found}
        jobs = [
            rows.found_job(row, rows.decoded(self._serializer, row.job)[0], now) for row in found
        ]
        return inspection.newest_first(jobs, limit, key=lambda job: keys[job.id])

    def retry_failed_jobs(self, wanted: JobFilter, now: datetime) -> int:
        statement = self._sql.retry_batch(wanted)
        params = {
            "now": now,
            "limit": BULK_BATCH,
            "channel": self._channel,
            "queue": wanted.queue,
            "job_type": wanted.job_type,
        }
        total = 0
        while True:
            with autocommitted(self._pool, "retry_failed_jobs", self._watchdog) as conn:
                row = conn.execute(statement, params).fetchone()
            moved = int(row[0]) if row else 0
            total += moved
            if moved < BULK_BATCH:
                return total

    def cancel_queued_jobs(self, wanted: JobFilter, now: datetime) -> int:
        statement = self._sql.cancel_batch(wanted)
        params = {
            "now": now,
            "limit": BULK_BATCH,
            "queue": wanted.queue,
            "job_type": wanted.job_type,
        }
        total = 0
        while True:
            with autocommitted(self._pool, "cancel_queued_jobs", self._watchdog) as conn:
                deleted = conn.execute(statement, params).rowcount
            total += deleted
            if deleted < BULK_BATCH:
                return total

    def throughput(self, now: datetime, minutes: int) -> list[MinuteCounts]:
        since = inspection.throughput_since(now, minutes)
        with autocommitted(self._pool, "throughput", self._watchdog) as conn:
            found = conn.execute(self._sql.throughput, {"since": since}).fetchall()
        counts = ((minute.replace(tzinfo=UTC), status, n) for minute, status, n in found)
        return inspection.by_minute(counts, now, minutes)

    # -- worker registry -----------------------------------------------------------------------

    def register_worker(self, info: WorkerInfo) -> None:
        with autocommitted(self._pool, "register_worker", self._watchdog) as conn:
            conn.execute(self._sql.register, worker_values(info))

    def heartbeat_worker(self, worker_id: str, running: Sequence[str], now: datetime) -> bool:
        params = (now, names_text(running), worker_id)
        with autocommitted(self._pool, "heartbeat_worker", self._watchdog) as conn:
            return conn.execute(self._sql.heartbeat, params).rowcount == 1

    def unregister_worker(self, worker_ids: Sequence[str]) -> None:
        with autocommitted(self._pool, "unregister_worker", self._watchdog) as conn:
            conn.execute(self._sql.unregister, (list(worker_ids),))

    def workers(self) -> list[WorkerInfo]:
        with autocommitted(self._pool, "workers", self._watchdog) as conn:
            found = conn.execute(self._sql.workers).fetchall()
        return [worker_from_values(row, time=rows.utc) for row in found]

    def remove_dead_workers(self, now: datetime) -> int:
        dead = inspection.dead_workers(self.workers(), now)
        if dead:
            self.unregister_worker(dead)
        return len(dead)
