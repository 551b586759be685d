"""RedisStore's operators' reads, bulk actions and worker registry, kept apart from the claim
path. Redis has no index by job id, so a listing reads every id of the sets it needs (the
archive is bounded by archive_retention) in one script; bulk actions go one job at a time, each
an atomic script of its own, so none blocks Redis for long."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from proletarian.adapters.redis.codec import fields, from_micros, load_payload, micros, to_job
from proletarian.core import inspection
from proletarian.core.inspection import BULK_BATCH, JobFilter, JobPage, MinuteCounts, WorkerInfo
from proletarian.core.job import JobStatus
from proletarian.ports.serializer import Serializer

Call = Callable[..., Any]
_MINUTE = 60_000_000  # microseconds


class Inspector:
    """What RedisStore delegates its operators' methods to; `call(script, *args)` runs one
    of the store's scripts, its errors translated."""

    def __init__(self, call: Call, serializer: Serializer) -> None:
        self._call = call
        self._serializer = serializer

    def list_jobs(
        self, wanted: JobFilter, *, limit: int, before: str | None, now: datetime
    ) -> JobPage:
        status = "" if wanted.status is None else wanted.status.value
        found = self._list(wanted, status, limit + 1, before, now)
        jobs = []
        for flat in found:
            job = fields(flat)
            jobs.append(to_job(job, load_payload(self._serializer, job["payload"])[0], now))
        return inspection.newest_first(jobs, limit)

    def _list(
        self, wanted: JobFilter, status: str, limit: int, before: str | None, now: datetime
    ) -> list[Any]:
        return list(
            self._call(
                "list",
                micros(now),
                limit,
                before or "",
                status,
                wanted.queue or "",
                wanted.job_type or "",
            )
        )

    def _ids(self, wanted: JobFilter, status: str, now: datetime) -> list[str]:
        """Every id matching, newest first, read a page at a time."""
        ids: list[str] = []
        before = None
        while True:
            page = [
                fields(flat)["id"] for flat in self._list(wanted, status, BULK_BATCH, before, now)
            ]
            ids += page
            if len(page) < BULK_BATCH:
                return ids
            before = page[-1]

    def retry_failed_jobs(self, wanted: JobFilter, now: datetime) -> int:
        ids = self._ids(wanted, JobStatus.FAILED.value, now)
        return sum(int(self._call("retry_failed", job_id, micros(now))) for job_id in ids)

    def cancel_queued_jobs(self, wanted: JobFilter, now: datetime) -> int:
        ids = self._ids(wanted, "queued", now)
        return sum(int(self._call("cancel", job_id, micros(now))) for job_id in ids)

    def throughput(self, now: datetime, minutes: int) -> list[MinuteCounts]:
        since = inspection.throughput_since(now, minutes)
        counts = []
        for minute, succeeded, failed in self._call("throughput", micros(since)):
            start = from_micros(int(minute) * _MINUTE)
            counts += [(start, "succeeded", int(succeeded)), (start, "failed", int(failed))]
        return inspection.by_minute(counts, now, minutes)

    # -- worker registry -----------------------------------------------------------------------

    def register_worker(self, info: WorkerInfo) -> None:
        registration = {
            "id": info.id,
            "host": info.host,
            "pid": info.pid,
            "queues": list(info.queues),
            "threads": info.threads,
            "version": info.version,
            "started_at": micros(info.started_at),
            "heartbeat_every": info.heartbeat_interval.total_seconds(),
        }
        self._call("register", info.id, _json(registration), _beat(info.last_seen, info.running))

    def heartbeat_worker(self, worker_id: str, running: Sequence[str], now: datetime) -> bool:
        return bool(int(self._call("heartbeat", worker_id, _beat(now, running))))

    def unregister_worker(self, worker_ids: Sequence[str]) -> None:
        if worker_ids:
            self._call("unregister", *worker_ids)

    def workers(self) -> list[WorkerInfo]:
        workers = []
        for registration, beat in self._call("workers"):
            info = json.loads(registration)
            seen = json.loads(beat) if beat else {"last_seen": info["started_at"], "running": []}
            workers.append(
                WorkerInfo(
                    id=str(info["id"]),
                    host=str(info["host"]),
                    pid=int(info["pid"]),
                    queues=tuple(info["queues"]),
                    threads=int(info["threads"]),
                    version=str(info["version"]),
                    started_at=from_micros(info["started_at"]),
                    last_seen=from_micros(seen["last_seen"]),
                    heartbeat_interval=timedelta(seconds=float(info["heartbeat_every"])),
                    running=tuple(seen["running"]),
                )
            )
        return sorted(workers, key=lambda worker: worker.id)

    def remove_dead_workers(self, now: datetime) -> int:
        dead = inspection.dead_workers(self.workers(), now)
        self.unregister_worker(dead)
        return len(dead)


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _beat(seen: datetime, running: Sequence[str]) -> str:
    return _json({"last_seen": micros(seen), "running": list(running)})
