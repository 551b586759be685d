"""The worker registry's rows as every store writes them: lists of names as JSON text, the
heartbeat interval as seconds. Times are left to each store's own column type."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from proletarian.core.inspection import WorkerInfo


def names_text(values: Sequence[str]) -> str:
    return json.dumps(list(values), separators=(",", ":"))


def names_of(text: str | bytes | None) -> tuple[str, ...]:
    return tuple(str(value) for value in json.loads(text or "[]"))


def worker_values(info: WorkerInfo, *, time: Any = None) -> tuple[Any, ...]:
    """The columns of the registry's row for `info`, in the order every store's table has
    them; `time` converts the two times for the store's columns (as given when None)."""
    convert = time or (lambda value: value)
    return (
        info.id,
        info.host,
        info.pid,
        names_text(info.queues),
        info.threads,
        info.version,
        convert(info.started_at),
        convert(info.last_seen),
        info.heartbeat_interval.total_seconds(),
        names_text(info.running),
    )


def worker_from_values(row: Sequence[Any], *, time: Any) -> WorkerInfo:
    """A registry row, in `worker_values` order, with `time` reading its times back."""
    worker_id, host, pid, queues, threads, version, started, seen, every, running = row
    started_at: datetime = time(started)
    last_seen: datetime = time(seen)
    return WorkerInfo(
        id=str(worker_id),
        host=str(host),
        pid=int(pid),
        queues=names_of(queues),
        threads=int(threads),
        version=str(version),
        started_at=started_at,
        last_seen=last_seen,
        heartbeat_interval=timedelta(seconds=float(every)),
        running=names_of(running),
    )
