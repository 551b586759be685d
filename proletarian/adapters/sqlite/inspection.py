"""SQLiteStore's operators' reads, bulk actions and worker registry, kept apart from the claim
path. Each bulk batch is one short write transaction, so claims get the write lock between
batches."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from proletarian.adapters.registry_rows import names_text, worker_from_values, worker_values
from proletarian.adapters.sqlite._connections import Connections, translate
from proletarian.adapters.sqlite._inspect_sql import InspectStatements
from proletarian.adapters.sqlite._sql import (
    JobRow,
    decode_payload,
    from_text,
    job_from_row,
    to_text,
)
from proletarian.core import inspection
from proletarian.core.inspection import BULK_BATCH, JobFilter, JobPage, MinuteCounts, WorkerInfo
from proletarian.ports.serializer import Serializer


class Inspector:
    """What SQLiteStore delegates its operators' methods to."""

    def __init__(
        self, connections: Connections, sql: InspectStatements, serializer: Serializer, path: str
    ) -> None:
        self._connections = connections
        self._sql = sql
        self._serializer = serializer
        self._path = path

    def list_jobs(
        self, wanted: JobFilter, *, limit: int, before: str | None, now: datetime
    ) -> JobPage:
        """One read transaction: each wanted table gives its newest `limit + 1` candidates by
        its primary key (the archive by (status, job_id) when a status is given)."""
        params: dict[str, Any] = {
            "now": to_text(now),
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
        with self._connections.read() as conn:
            found = [JobRow(*row) for s in statements for row in conn.execute(s, params)]
        jobs = [
            job_from_row(row, payload=decode_payload(self._serializer, row.payload)[0], now=now)
            for row in found
        ]
        return inspection.newest_first(jobs, limit)

    def retry_failed_jobs(self, wanted: JobFilter, now: datetime) -> int:
        total = 0
        params = {"limit": BULK_BATCH, "queue": wanted.queue, "job_type": wanted.job_type}
        while True:
            with self._connections.write() as conn:
                ids = [row[0] for row in conn.execute(self._sql.failed_ids(wanted), params)]
                conn.executemany(self._sql.sql.requeue_failed, [(to_text(now), i) for i in ids])
                conn.executemany(self._sql.sql.delete_archived, [(i,) for i in ids])
            total += len(ids)
            if len(ids) < BULK_BATCH:
                return total

    def cancel_queued_jobs(self, wanted: JobFilter, now: datetime) -> int:
        total = 0
        params = {
            "now": to_text(now),
            "limit": BULK_BATCH,
            "queue": wanted.queue,
            "job_type": wanted.job_type,
        }
        while True:
            with self._connections.write() as conn:
                deleted = int(conn.execute(self._sql.cancel_batch(wanted), params).rowcount)
            total += deleted
            if deleted < BULK_BATCH:
                return total

    def throughput(self, now: datetime, minutes: int) -> list[MinuteCounts]:
        since = inspection.throughput_since(now, minutes)
        with self._connections.read() as conn:
            rows = conn.execute(self._sql.throughput, (to_text(since),)).fetchall()
        counts = ((from_text(f"{minute}:00"), status, n) for minute, status, n in rows)
        return inspection.by_minute(counts, now, minutes)

    # -- worker registry -----------------------------------------------------------------------

    def has_registry(self) -> bool:
        with translate(self._path):
            conn = self._connections.current()
            row = conn.execute(self._sql.has_registry, (self._sql.worker_table[1:-1],)).fetchone()
        return bool(row[0])

    def register_worker(self, info: WorkerInfo) -> None:
        with self._connections.write() as conn:
            conn.execute(self._sql.register, worker_values(info, time=to_text))

    def heartbeat_worker(self, worker_id: str, running: Sequence[str], now: datetime) -> bool:
        with self._connections.write() as conn:
            params = (to_text(now), names_text(running), worker_id)
            return bool(conn.execute(self._sql.heartbeat, params).rowcount == 1)

    def unregister_worker(self, worker_id: str) -> None:
        with self._connections.write() as conn:
            conn.execute(self._sql.unregister, (worker_id,))

    def workers(self) -> list[WorkerInfo]:
        with self._connections.read() as conn:
            rows = conn.execute(self._sql.workers).fetchall()
        return [worker_from_values(row, time=from_text) for row in rows]

    def remove_dead_workers(self, now: datetime) -> int:
        dead = inspection.dead_workers(self.workers(), now)
        if dead:
            with self._connections.write() as conn:
                conn.executemany(self._sql.unregister, [(worker_id,) for worker_id in dead])
        return len(dead)
