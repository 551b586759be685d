"""Jobs, workers and throughput as text for a terminal and as JSON for scripts.

Every text that comes from the store (job types, queues, errors, payloads, worker hosts) goes
through `printable` before it reaches a terminal: a job type or an error message holding an
escape sequence must not recolour or rewrite the operator's screen. JSON output escapes
control characters itself (ensure_ascii)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from proletarian.cli import table
from proletarian.core.inspection import MinuteCounts, WorkerInfo
from proletarian.core.job import Job, QueueStats
from proletarian.worker.log import printable

# A table cell of error text is cut to this many characters; `show` prints it whole.
ERROR_CELL = 60


def as_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=True, default=repr)


def when(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def job_data(job: Job) -> dict[str, Any]:
    """The whole job as JSON values."""
    error = job.error
    return {
        "id": job.id,
        "queue": job.queue,
        "job_type": job.job_type,
        "status": job.status.value,
        "priority": job.priority.name.lower(),
        "attempts": job.attempts,
        "abandons": job.abandons,
        "enqueued_at": when(job.enqueued_at),
        "process_at": when(job.process_at),
        "started_at": when(job.started_at),
        "finished_at": when(job.finished_at),
        "meta": dict(job.meta),
        "payload": job.payload,
        "error": None
        if error is None
        else {"type": error.type, "message": error.message, "traceback": error.traceback},
    }


def worker_data(worker: WorkerInfo, now: datetime) -> dict[str, Any]:
    return {
        "id": worker.id,
        "host": worker.host,
        "pid": worker.pid,
        "queues": list(worker.queues),
        "threads": worker.threads,
        "version": worker.version,
        "started_at": when(worker.started_at),
        "last_seen": when(worker.last_seen),
        "heartbeat_interval": worker.heartbeat_interval.total_seconds(),
        "running": list(worker.running),
        "dead": worker.is_dead(now),
    }


def stats_data(stats: Mapping[str, QueueStats]) -> dict[str, Any]:
    return {
        queue: {
            "ready": s.ready,
            "scheduled": s.scheduled,
            "running": s.running,
            "succeeded": s.succeeded,
            "failed": s.failed,
            "oldest_ready_age": None
            if s.oldest_ready_age is None
            else s.oldest_ready_age.total_seconds(),
        }
        for queue, s in sorted(stats.items())
    }


def throughput_data(counts: Sequence[MinuteCounts]) -> list[dict[str, Any]]:
    return [
        {"minute": when(c.minute), "succeeded": c.succeeded, "failed": c.failed} for c in counts
    ]


def cell(text: str, width: int | None = None) -> str:
    """One line of store text for a table: escaped, and cut to `width`."""
    safe = printable(text)
    if width is not None and len(safe) > width:
        return safe[: width - 1] + "…"
    return safe


def jobs_table(jobs: Sequence[Job], now: datetime) -> str:
    headers = ("id", "status", "queue", "type", "attempts", "enqueued", "error")
    rows = [
        (
            cell(job.id),
            job.status.value,
            cell(job.queue),
            cell(job.job_type),
            str(job.attempts),
            f"{table.age(now - job.enqueued_at)} ago",
            "" if job.error is None else cell(f"{job.error.type}: {job.error.message}", ERROR_CELL),
        )
        for job in jobs
    ]
    return table.render(headers, rows, left=4)


def job_text(job: Job) -> str:
    """One job whole, as `show` prints it: fields, then meta, payload and the error."""
    fields = [
        ("id", job.id),
        ("status", job.status.value),
        ("queue", job.queue),
        ("type", job.job_type),
        ("priority", job.priority.name.lower()),
        ("attempts", str(job.attempts)),
        ("abandons", str(job.abandons)),
        ("enqueued at", when(job.enqueued_at)),
        ("due at", when(job.process_at)),
        ("started at", when(job.started_at)),
        ("finished at", when(job.finished_at)),
    ]
    if job.started_at is not None and job.finished_at is not None:
        fields.append(("ran for", f"{(job.finished_at - job.started_at).total_seconds():.3f}s"))
    width = max(len(name) for name, _ in fields)
    lines = [f"{name.ljust(width)}  {cell(value or '-')}" for name, value in fields]
    lines.append("meta:")
    lines += [f"  {cell(key)}: {cell(value)}" for key, value in sorted(job.meta.items())] or [
        "  (none)"
    ]
    lines.append("payload:")
    payload = json.dumps(job.payload, indent=2, ensure_ascii=False, default=repr)
    lines += ["  " + line for line in printable(payload, newlines=True).splitlines()]
    if job.error is not None:
        lines.append(f"error: {cell(job.error.type)}: {cell(job.error.message)}")
        if job.error.traceback:
            lines += [
                "  " + line for line in printable(job.error.traceback, newlines=True).splitlines()
            ]
    return "\n".join(lines)


def workers_table(workers: Sequence[WorkerInfo], now: datetime) -> str:
    headers = (
        "id",
        "state",
        "host",
        "pid",
        "queues",
        "threads",
        "version",
        "up",
        "seen",
        "running",
    )
    rows = [
        (
            cell(w.id),
            "dead" if w.is_dead(now) else "alive",
            cell(w.host),
            str(w.pid),
            cell(",".join(w.queues)),
            str(w.threads),
            cell(w.version),
            table.age(now - w.started_at),
            f"{table.age(now - w.last_seen)} ago",
            cell(" ".join(w.running)) or "-",
        )
        for w in workers
    ]
    return table.render(headers, rows, left=5)


def throughput_table(counts: Sequence[MinuteCounts]) -> str:
    headers = ("minute (UTC)", "succeeded", "failed")
    rows = [(c.minute.strftime("%H:%M"), str(c.succeeded), str(c.failed)) for c in counts]
    return table.render(headers, rows)
