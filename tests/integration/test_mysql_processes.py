"""Several worker processes sharing one MySQL queue: SKIP LOCKED lets them cooperate with no
coordinator, and every job is archived, and its handler's write committed, exactly once."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import proletarian
from proletarian import NewJob
from proletarian.adapters.clocks import SystemClock
from proletarian.adapters.mysql import MySQLStore
from tests.fixtures.mysql import (
    ARCHIVED_JOB_TABLE,
    EFFECT_TABLE,
    JOB_TABLE,
    WorkerProcess,
    execute,
    open_store,
    reset_app_tables,
    wait_for,
)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[MySQLStore]:
    with open_store(SystemClock(), tmp_path) as store:
        reset_app_tables()
        yield store


def archived_count() -> int:
    return int(execute(f"SELECT COUNT(*) FROM `{ARCHIVED_JOB_TABLE}`")[0][0])


def test_two_processes_of_four_threads_archive_every_job_once(
    store: MySQLStore, request: pytest.FixtureRequest
) -> None:
    """Two worker processes of four threads each share the jobs: every job is archived as
    succeeded after one attempt, and its handler's write is committed exactly once."""
    jobs = request.config.getoption("--stress-jobs") or 5000
    with WorkerProcess("--threads", "4") as first, WorkerProcess("--threads", "4") as second:
        first.expect("ready")
        second.expect("ready")
        ids = proletarian.enqueue_many(
            store, [NewJob(job_type="t", payload={"action": "ok", "i": i}) for i in range(jobs)]
        )
        wait_for(lambda: archived_count() == jobs, timeout=300, what=f"{jobs} archived jobs")
        assert first.stop() == 0
        assert second.stop() == 0
    rows = execute(f"SELECT HEX(job_id), status, attempts FROM `{ARCHIVED_JOB_TABLE}`")
    assert sorted(str(uuid.UUID(hex=h)) for h, _, _ in rows) == sorted(ids)
    assert {(status, attempts) for _, status, attempts in rows} == {("succeeded", 1)}
    assert execute(f"SELECT COUNT(*) FROM `{JOB_TABLE}`") == [(0,)]
    runs = execute(f"SELECT job_id, COUNT(*), MIN(pid) FROM `{EFFECT_TABLE}` GROUP BY job_id")
    assert sorted(job_id for job_id, _, _ in runs) == sorted(ids)
    assert {count for _, count, _ in runs} == {1}
    # Both processes took part: neither was shut out by the other's locks.
    assert {pid for _, _, pid in runs} == {first.proc.pid, second.proc.pid}
