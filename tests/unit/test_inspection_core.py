"""The operators' values and rules in core: filters, pages, dead workers, minutes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from proletarian import ConfigurationError, JobStatus
from proletarian.core.inspection import (
    DEAD_AFTER_BEATS,
    JobFilter,
    WorkerInfo,
    by_minute,
    throughput_since,
)

NOW = datetime(2030, 1, 1, 9, 30, 42, tzinfo=UTC)


def test_a_filter_checks_its_fields() -> None:
    """A status must be a JobStatus and names must be valid labels."""
    with pytest.raises(ConfigurationError):
        JobFilter(status="failed")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        JobFilter(queue="")
    wanted = JobFilter(status=JobStatus.RUNNING)
    assert (wanted.wants_queued, wanted.wants_archived) == (True, False)


def test_throughput_minutes_end_with_the_current_one() -> None:
    """The window is the last N minutes, the current (partial) minute last; missing minutes
    count zero."""
    assert throughput_since(NOW, 3) == datetime(2030, 1, 1, 9, 28, tzinfo=UTC)
    counts = by_minute([(NOW.replace(second=0), "failed", 2)], NOW, 2)
    assert [(c.minute.minute, c.succeeded, c.failed) for c in counts] == [(29, 0, 0), (30, 0, 2)]


def test_a_worker_is_dead_after_missing_its_heartbeats() -> None:
    """Dead from DEAD_AFTER_BEATS intervals after the last heartbeat, not before."""
    info = WorkerInfo(
        id="w",
        host="h",
        pid=1,
        queues=["default"],
        threads=1,
        version="1",
        started_at=NOW,
        last_seen=NOW,
        heartbeat_interval=timedelta(seconds=10),
    )
    assert info.queues == ("default",)
    limit = NOW + DEAD_AFTER_BEATS * timedelta(seconds=10)
    assert not info.is_dead(limit - timedelta(microseconds=1))
    assert info.is_dead(limit)


@pytest.mark.parametrize(
    "bad",
    [
        {"queues": "default"},
        {"id": ""},
        {"heartbeat_interval": timedelta(0)},
        {"last_seen": datetime(2030, 1, 1)},
    ],
)
def test_a_worker_info_refuses_bad_values(bad: dict[str, object]) -> None:
    """A lone string for queues, an empty id, a zero interval or a naive time is refused."""
    values: dict[str, object] = {
        "id": "w",
        "host": "h",
        "pid": 1,
        "queues": ("default",),
        "threads": 1,
        "version": "1",
        "started_at": NOW,
        "last_seen": NOW,
        "heartbeat_interval": timedelta(seconds=10),
    }
    with pytest.raises(ConfigurationError):
        WorkerInfo(**{**values, **bad})  # type: ignore[arg-type]
