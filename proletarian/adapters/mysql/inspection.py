"""MySQLStore's operators' reads, bulk actions and worker registry, kept apart from the claim
path. A running job is one whose row a claim has locked, as get_job tells it: listings read
rows without locking, then ask which of the page's rows are unlocked (SKIP LOCKED) and let go
at once. Each bulk batch is a transaction of its own."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

from pymysql.cursors import Cursor

from proletarian.adapters.common import utc_naive
from proletarian.adapters.mysql import _sql as sql
from proletarian.adapters.mysql._driver import Connection, run
from proletarian.adapters.mysql._inspect_sql import InspectStatements
from proletarian.adapters.registry_rows import names_text, worker_from_values, worker_values
from proletarian.core import inspection
from proletarian.core.inspection import BULK_BATCH, JobFilter, JobPage, MinuteCounts, WorkerInfo
from proletarian.core.job import Job, JobStatus
from proletarian.ports.serializer import Serializer

Connect = Callable[[str], AbstractContextManager[Connection]]
# Queued rows read per round when a status filter leaves some of them out.
_SCAN = 200


class Inspector:
    """What MySQLStore delegates its operators' methods to. `connection(action)` lends a
    pooled connection, its errors translated."""

    def __init__(
        self,
        connection: Connect,
        sql_: InspectStatements,
        *,
        keys: sql.Keys,
        serializer: Serializer,
    ) -> None:
        self._connection = connection
        self._sql = sql_
        self._keys = keys
        self._serializer = serializer

    def list_jobs(self, wanted: JobFilter, *, limit: int, before: Any, now: datetime) -> JobPage:
        jobs: list[tuple[Any, Job]] = []
        with self._connection("list_jobs") as conn:
            if wanted.wants_queued:
                jobs += self._queued(conn, wanted, limit + 1, before, now)
            if wanted.wants_archived:
                params = self._params(wanted, limit + 1, before, now)
                statement = self._sql.archived_page(wanted, paged=before is not None)
                for found in _query(conn, statement, params):
                    row = sql.JobRow(*found)
                    jobs.append((row.job_id, self._job(row, None)))
            conn.rollback()
        keys = {job.id: key for key, job in jobs}
        return inspection.newest_first([job for _, job in jobs], limit, key=lambda j: keys[j.id])

    def _queued(
        self, conn: Connection, wanted: JobFilter, count: int, before: Any, now: datetime
    ) -> Iterator[tuple[Any, Job]]:
        """Up to `count` queued jobs of the wanted status, newest first. The rows are read a
        round at a time until enough of them have the status, since running is known only
        once their locks are asked."""
        found = 0
        while found < count:
            scan = count if wanted.status is None else max(count, _SCAN)
            params = self._params(wanted, scan, before, now)
            statement = self._sql.queued_page(wanted, paged=before is not None)
            rows = [sql.JobRow(*row) for row in _query(conn, statement, params)]
            if not rows:
                return
            ids = [row.job_id for row in rows]
            unlocked = {r[0] for r in run(conn, [(self._sql.unlocked(len(ids)), ids)])[0]}
            conn.rollback()
            for row in rows:
                status = JobStatus.RUNNING
                if row.job_id in unlocked:
                    due = sql.to_utc(row.process_at)
                    status = JobStatus.SCHEDULED if due > now else JobStatus.READY
                if wanted.status in (None, status) and found < count:
                    found += 1
                    yield row.job_id, self._job(row, status)
            if len(rows) < scan:
                return
            before = rows[-1].job_id

    def _params(self, wanted: JobFilter, limit: int, before: Any, now: datetime) -> dict[str, Any]:
        return {
            "now": utc_naive(now),
            "limit": limit,
            "queue": wanted.queue,
            "job_type": wanted.job_type,
            "status": None if wanted.status is None else wanted.status.value,
            "before": before,
        }

    def _job(self, row: sql.JobRow, status: JobStatus | None) -> Job:
        return sql.to_job(row, keys=self._keys, serializer=self._serializer, status=status)[0]

    def retry_failed_jobs(self, wanted: JobFilter, now: datetime) -> int:
        params = {"limit": BULK_BATCH, "queue": wanted.queue, "job_type": wanted.job_type}
        total = 0
        while True:
            with self._connection("retry_failed_jobs") as conn:
                ids = [row[0] for row in _query(conn, self._sql.lock_failed(wanted), params)]
                if ids:
                    run(
                        conn,
                        [
                            (self._sql.requeue(len(ids)), (utc_naive(now), *ids)),
                            (self._sql.unarchive(len(ids)), ids),
                        ],
                    )
                conn.commit()
            total += len(ids)
            if len(ids) < BULK_BATCH:
                return total

    def cancel_queued_jobs(self, wanted: JobFilter) -> int:
        params = {"limit": BULK_BATCH, "queue": wanted.queue, "job_type": wanted.job_type}
        total = 0
        while True:
            with self._connection("cancel_queued_jobs") as conn:
                ids = [row[0] for row in _query(conn, self._sql.lock_queued(wanted), params)]
                if ids:
                    run(conn, [(self._sql.delete(len(ids)), ids)])
                conn.commit()
            total += len(ids)
            if len(ids) < BULK_BATCH:
                return total

    def throughput(self, now: datetime, minutes: int) -> list[MinuteCounts]:
        since = inspection.throughput_since(now, minutes)
        with self._connection("throughput") as conn:
            found = run(conn, [(self._sql.throughput, (utc_naive(since),))])[0]
            conn.rollback()
        counts = (
            (sql.to_utc(datetime.fromisoformat(f"{minute}:00")), status, n)
            for minute, status, n in found
        )
        return inspection.by_minute(counts, now, minutes)

    def upgrade(self, cursor: Cursor) -> None:
        """Add the archive's status index to a table made before it (install_schema)."""
        cursor.execute(*self._sql.has_status_index)
        found = cursor.fetchone()
        if found is None or not found[0]:
            cursor.execute(self._sql.add_status_index)

    # -- worker registry -----------------------------------------------------------------------

    def register_worker(self, info: WorkerInfo) -> None:
        with self._connection("register_worker") as conn:
            run(conn, [(self._sql.register, worker_values(info, time=utc_naive))])
            conn.commit()

    def heartbeat_worker(self, worker_id: str, running: Sequence[str], now: datetime) -> bool:
        """One round trip: the UPDATE, then whether the row exists (MySQL counts only rows an
        UPDATE changed), then COMMIT."""
        with self._connection("heartbeat_worker") as conn:
            _, (found,), _ = run(
                conn,
                [
                    (self._sql.heartbeat, (utc_naive(now), names_text(running), worker_id)),
                    (self._sql.is_registered, (worker_id,)),
                    (sql.COMMIT, ()),
                ],
            )
        return bool(found[0])

    def unregister_worker(self, worker_ids: Sequence[str]) -> None:
        with self._connection("unregister_worker") as conn:
            run(conn, [(self._sql.unregister(len(worker_ids)), list(worker_ids))])
            conn.commit()

    def workers(self) -> list[WorkerInfo]:
        with self._connection("workers") as conn:
            found = run(conn, [(self._sql.workers, ())])[0]
            conn.rollback()
        return [worker_from_values(row, time=sql.to_utc) for row in found]

    def remove_dead_workers(self, now: datetime) -> int:
        dead = inspection.dead_workers(self.workers(), now)
        if dead:
            self.unregister_worker(dead)
        return len(dead)


def _query(conn: Connection, statement: str, params: dict[str, Any]) -> tuple[Any, ...]:
    """A statement with named parameters (`run` takes them in order)."""
    with conn.cursor(Cursor) as cursor:
        cursor.execute(statement, params)
        return tuple(cursor.fetchall())
